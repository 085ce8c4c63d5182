#!/bin/sh
# kpilot under valgrind (memcheck, --leak-check=full): the observer, set and
# rollback in a private network namespace, a short tcp-churn tuning run,
# the config parsers (--dry-run on the seed corpus) and the daemon. Root only. Run from the
# top of the tree after `make`; prints one line per case and a closing
# `valgrind: N passed, N failed`. valgrind's error exit status is 99 so it
# is told apart from kpilot's own (a refused config exits 2 on purpose).
set -u
cd "$(dirname "$0")/.."
KP=./kpilot
[ "$(id -u)" = 0 ] || { echo "valgrind-check: root needed"; exit 2; }
command -v valgrind >/dev/null || { echo "valgrind-check: no valgrind (tools/deps.sh --extras)"; exit 2; }
tmp=$(mktemp -d /tmp/kpilot-vg-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
VG="valgrind -q --suppressions=tools/valgrind.supp --leak-check=full --errors-for-leak-kinds=definite,indirect --error-exitcode=99 --trace-children=no"
pass=0 fail=0

# run NAME WANT-STATUS COMMAND...: the command's status must be WANT (or any
# if WANT is '*'), and valgrind must have reported nothing.
run() {
	name=$1 want=$2
	shift 2
	"$@" >"$tmp/out" 2>"$tmp/err"
	rc=$?
	if [ "$rc" = 99 ] || grep -q '^==[0-9]*== [A-Z]' "$tmp/err" ||
	   { [ "$want" != '*' ] && [ "$rc" != "$want" ]; }; then
		fail=$((fail + 1))
		echo "FAIL $name (exit $rc)"
		grep '^==' "$tmp/err" | head -20
		[ "$rc" = 99 ] || tail -3 "$tmp/err"
	else
		pass=$((pass + 1))
		echo "ok   $name"
	fi
}

state=$tmp/state
run "observe --duration 3" 0 $VG $KP observe --duration 3 --interval 1000
# set and rollback inside one private netns: the host's knobs are never touched.
run "set + rollback (private netns)" 0 unshare --net sh -c "
	$VG $KP set --state-dir $state net.core.somaxconn=8192 &&
	[ \$(cat /proc/sys/net/core/somaxconn) = 8192 ] &&
	$VG $KP rollback --state-dir $state &&
	[ \$(cat /proc/sys/net/core/somaxconn) = 4096 ]"
run "rollback --list" 0 $VG $KP rollback --list --state-dir $state
run "tune tcp-churn --trials 2" 0 $VG $KP tune --profile tcp-churn --algo random --trials 2 \
	--seed 1 --state-dir $state --out $tmp/out-tune
for f in selftests/data/tune-corpus/*.json tools/profiles/*.json; do
	case "$f" in *pipeline*) continue ;; esac
	run "tune --config $(basename "$f") --dry-run" '*' $VG $KP tune --config "$f" --dry-run \
		--state-dir "$state" --out "$tmp/out-dry"
done
run "tune --pipeline (parse only: --dry-run)" '*' $VG $KP tune --pipeline \
	tools/profiles/wordcount.pipeline.json --dry-run --state-dir "$state" --out "$tmp/out-pipe"

# kpilot run in a private netns: asked, scraped, reloaded with a broken config
# (refused), asked again, stopped with SIGTERM (exit 0).
printf '{"http": {"listen": "127.0.0.1:9464"}, "interval_ms": 200,\n "operators": [{"name": "init", "pids": [1]}]}\n' >"$tmp/kpilot.json"
run "run + ctl status + /metrics + SIGHUP + SIGTERM" 0 unshare --net sh -c "
	ip link set lo up
	$VG $KP run --config $tmp/kpilot.json --socket $tmp/kp.sock & p=\$!
	trap 'kill -9 \$p 2>/dev/null' EXIT
	i=0
	until $KP ctl --socket $tmp/kp.sock status >/dev/null 2>&1; do
		i=\$((i + 1)); [ \$i -lt 120 ] || exit 98; sleep 0.5
	done
	! command -v curl >/dev/null || curl -sf http://127.0.0.1:9464/metrics >/dev/null || exit 95
	echo '{' >$tmp/kpilot.json
	kill -HUP \$p; sleep 1
	$KP ctl --socket $tmp/kp.sock status --json | grep -q 'reloads_refused.:1' || exit 96
	kill -TERM \$p; wait \$p; rc=\$?; trap - EXIT; exit \$rc"

# The control commands and the HTTP API: every ctl command, POSTs refused
# (no token, wrong token) and taken, a flood, a reload, SIGTERM.
printf 'tok3n\n' >"$tmp/token"
chmod 600 "$tmp/token"
printf '{"http": {"listen": "127.0.0.1:9464"}, "interval_ms": 200, "token_file": "%s"}\n' \
	"$tmp/token" >"$tmp/api.json"
chmod 600 "$tmp/api.json"
run "run + every ctl command + POST /train, /save_model + 429" 0 unshare --net sh -c "
	ip link set lo up
	$VG $KP run --config $tmp/api.json --socket $tmp/api.sock & p=\$!
	trap 'kill -9 \$p 2>/dev/null' EXIT
	i=0
	until $KP ctl --socket $tmp/api.sock status >/dev/null 2>&1; do
		i=\$((i + 1)); [ \$i -lt 120 ] || exit 98; sleep 0.5
	done
	for c in policies save rollback reload 'pause web' 'resume web' 'explore web on' 'train web'; do
		$KP ctl --socket $tmp/api.sock --json \$c >/dev/null 2>&1
	done
	if command -v curl >/dev/null; then
		u=http://127.0.0.1:9464
		curl -s -X POST \$u/train?policy=web | grep -q 'no \"Authorization' || exit 94
		curl -s -X POST -H 'Authorization: Bearer x' \$u/save_model | grep -q 'wrong token' || exit 93
		curl -s -X POST -H 'Authorization: Bearer tok3n' \$u/save_model | grep -q 'nothing to save' || exit 92
		for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25; do
			curl -s -o /dev/null \$u/stats
		done
	fi
	kill -TERM \$p; wait \$p; rc=\$?; trap - EXIT; exit \$rc"

echo "valgrind: $pass passed, $fail failed"
[ "$fail" = 0 ]
