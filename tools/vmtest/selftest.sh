#!/bin/sh
# The vmtest runner's own tests: does it see a hang, dump the vCPUs, and
# keep a quiet but live guest alive, hold tracepoints and static keys, and
# report kernel text patching? Seven small guests (256 MiB), ~20 s each under
# TCG. Exit 0 when all pass.
#   tools/vmtest/selftest.sh            # on the default kernel (KERNEL= as for run.sh)
set -u
proj=$(cd "$(dirname "$0")/../.." && pwd)
out=${VMTEST_OUT:-$proj/build/vmtest}
log=$out/selftest.log
mkdir -p "$out"
fails=0
# run.sh's textpoke, which the unpatched checks below read
make -C "$proj" --no-print-directory -s build/tools/vmtest/textpoke >/dev/null || exit 1

# vm EXPECTED-STATUS NAME SILENCE CMD
vm() {
	want=$1 name=$2 sil=$3 cmd=$4
	t=$(date +%s)
	VMTEST_MEM=256M VMTEST_TIMEOUT=${VMTEST_TIMEOUT:-240} VMTEST_SILENCE=$sil \
		VMTEST_CMD=$cmd "$proj/tools/vmtest/run.sh" </dev/null >"$log" 2>&1
	got=$?
	t=$(($(date +%s) - t))
	if [ "$got" != "$want" ]; then
		echo "FAIL $name: exit $got, want $want (${t}s); its log:"
		sed 's/^/    /' "$log" | tail -n 40
		fails=$((fails + 1))
		return 1
	fi
	echo "ok   $name: exit $got in ${t}s"
}
# unpatched NAME: textpoke saw no kernel text patched while the command ran.
unpatched() {
	need "$1" '^vmtest: watching kernel text patching on [0-9]+ CPUs'
	! grep -q 'kernel text was patched' "$log" && return 0
	echo "FAIL $1: kernel text was patched:"; grep 'patched at' "$log" | head -5
	fails=$((fails + 1))
}
# need NAME PATTERN [MIN-COUNT]: the last run's log shows PATTERN.
need() {
	n=$(grep -c -E -- "$2" "$log")
	[ "$n" -ge "${3:-1}" ] && return 0
	echo "FAIL $1: '$2' seen $n times in the log, want ${3:-1}"
	fails=$((fails + 1))
}
dumped() { # dumped NAME: every vCPU's registers and stack are in the log
	need "$1" 'HANG DETECTED'
	need "$1" '^=== info registers -a'
	c=$(grep -c '^CPU#[0-9]' "$log")
	need "$1" '^--- vCPU [0-9]+: RIP=0x[0-9a-f]+ .*RSP=0x' "$c"
	need "$1" '^[0-9a-f]{16}: 0x[0-9a-f]{16} 0x[0-9a-f]{16}$' $((c * 8))
	[ "$c" -ge 2 ] || { echo "FAIL $1: $c vCPUs in the dump, want >= 2"; fails=$((fails + 1)); }
}

# A lockup report: the kernel's own line, as the soft-lockup detector
# writes it; the guest then idles, so the stacks are kernel ones and the
# dump names their functions (the guest's kallsyms).
vm 123 lockup-line 0 \
	'echo "<0>watchdog: BUG: soft lockup - CPU#0 stuck for 99s! [selftest:1]" >/dev/kmsg; sleep 600' &&
	{ dumped lockup-line; need lockup-line 'HANG: lockup report on the console: .*soft lockup'
	  need lockup-line '^  \[[0-9a-f]{16}\] [a-z_]' ; }

# A silent freeze: a SCHED_FIFO spinner on every CPU with RT throttling
# (and 6.12's fair server) off starves the heartbeat and everything else.
# The kernel's soft-lockup and RCU-stall reports (~20 s) would race the 20 s
# of silence this case is about: they are off for it.
export VMTEST_APPEND="${VMTEST_APPEND:-} nosoftlockup rcupdate.rcu_cpu_stall_suppress=1"
vm 123 silent-freeze 20 \
	'echo -1 >/proc/sys/kernel/sched_rt_runtime_us
	 for f in /sys/kernel/debug/sched/fair_server/cpu*/runtime; do echo 0 >"$f"; done 2>/dev/null
	 for c in $(seq 0 $(($(nproc) - 1))); do taskset -c "$c" chrt -f 99 sh -c "while :; do :; done" & done
	 wait' &&
	{ dumped silent-freeze; need silent-freeze 'HANG: no console output and no guest heartbeat for 20s'; }
export VMTEST_APPEND="${VMTEST_APPEND% nosoftlockup rcupdate.rcu_cpu_stall_suppress=1}"

# Quiet is not hung: 35 s without a byte on the console, heartbeat alive.
vm 3 quiet-alive 20 'sleep 35; exit 3' &&
	{ ! grep -q HANG "$log" || { echo "FAIL quiet-alive: a hang was reported"; fails=$((fails + 1)); }; }

# A panic ends the VM at once: no status, 125.
vm 125 panic 0 'echo c >/proc/sysrq-trigger; sleep 600' && need panic 'KERNEL PANIC'

# The hold (run.sh's VMTEST_HOLD) keeps tracepoints from patching text under
# multi-threaded TCG: flipping sched_switch 300 times must not hang (without
# it, qemu 7.2 hangs within ~50 flips: testing.md). It applies under TCG.
saved=${VMTEST_ACCEL-auto}
export VMTEST_ACCEL=tcg
[ "${VMTEST_TCG_THREAD:-}" = single ] ||
	{ vm 0 tracepoint-hold 60 'sh tools/vmtest/toggle-tracepoint.sh 300' &&
	  need tracepoint-hold '^vmtest: held [1-9][0-9]* tracepoints open' &&
	  need tracepoint-hold 'toggle-tracepoint: 300 toggles, no hang' && unpatched tracepoint-hold; }
# The same for a static key a cgroup flips (CFS bandwidth: the 6.12 panic of
# testing.md): the guest's own cgroup holds it on.
[ "${VMTEST_TCG_THREAD:-}" = single ] ||
	{ vm 0 key-hold 60 'sh tools/vmtest/toggle-key.sh 300' &&
	  need key-hold '^vmtest: held the cgroup and BPF-statistics static keys on' &&
	  need key-hold 'toggle-key: 300 toggles, no hang' && unpatched key-hold; }
# Without the holds (and without the hang: single-threaded TCG) textpoke
# names what a flip patches: CFS bandwidth's sites in the scheduler.
# One retry when no patch at all was reported: a CI run on 2026-12-01 saw
# none of the ~270 (the same case passed at once after; cause not found).
# 20 toggles, not 3: with 3, two runs in three reported nothing on
# 2026-12-02 (twice in a row once), with 20 three of three did; a late
# start of the watch would explain it, not proven.
tp='sh tools/vmtest/toggle-key.sh 20'
VMTEST_HOLD=0 VMTEST_TCG_THREAD=single vm 0 textpoke-report 60 "$tp" &&
	{ grep -q 'kernel text patched at' "$log" || { echo "textpoke-report: nothing reported; once more";
		VMTEST_HOLD=0 VMTEST_TCG_THREAD=single vm 0 textpoke-report 60 "$tp"; }; } &&
	need textpoke-report '^vmtest: kernel text patched at (enqueue|dequeue)_entit' &&
	need textpoke-report '^vmtest: kernel text was patched [0-9]+ times while the command ran'
export VMTEST_ACCEL="$saved"

[ "$fails" = 0 ] && echo "vmtest selftest: all passed" && exit 0
echo "vmtest selftest: $fails failed (last log: $log)"
exit 1
