#!/bin/sh
# Run every Criterion selftest binary in DIR (or only test_<name> for each
# NAME given), print each binary's synthesis and one closing line with totals
# and the failed binaries' names, also kept in DIR/.summary so `make check`
# repeats it after doc-commands (CI shows only the end of a log).
# Tests that measure the machine (BPF ground truth, timing) must not share the
# CPUs with each other, so binaries run one test at a time unless their name
# says they are pure computation (test_agent_*), which may use every CPU.
set -u
dir=$1; shift
bins=""
if [ $# -gt 0 ]; then
	for n in "$@"; do bins="$bins $dir/test_$n"; done
else
	bins=$(ls "$dir"/test_* 2>/dev/null | grep -v '\.' )
fi
[ -n "$bins" ] || { echo "no selftests in $dir" >&2; exit 2; }

pass=0 fail=0 skip=0 rc=0 broken= failed=
log=$(mktemp); times=$(mktemp); trap 'rm -f "$log" "$times"' EXIT
for b in $bins; do
	name=$(basename "$b")
	case "$name" in
	test_agent*) jobs=$(nproc) ;;
	*) jobs=1 ;;
	esac
	printf '== %s\n' "$name"
	t0=$(date +%s%N)
	"$b" --jobs="$jobs" --color=never --short-filename --verbose >"$log" 2>&1
	r=$?
	echo "$(( ($(date +%s%N) - t0) / 1000000 )) ${name#test_}" >>"$times"
	# Criterion prints one line per failing/skipped test and a synthesis line.
	grep -v '^\[----\] *$' "$log" | grep -E '^\[(FAIL|SKIP|----|====)\]' | grep -v 'Running\|Criterion v'
	t=$(sed -n 's/.*Tested: \([0-9]*\).*/\1/p' "$log" | tail -n1)
	p=$(sed -n 's/.*Passing: \([0-9]*\).*/\1/p' "$log" | tail -n1)
	s=$(grep -c '\[SKIP\]' "$log")
	[ -n "$t" ] || { t=1; p=0; echo "$name: no synthesis (crashed?)"; cat "$log"; }
	pass=$((pass + p)); fail=$((fail + t - p)); skip=$((skip + s))
	[ $r -eq 0 ] || { rc=1; failed="$failed $name"; }
	# Every test passed yet the binary failed: a test's process died after
	# its body (a LeakSanitizer report under SANITIZE=, say). Say where.
	if [ $r -ne 0 ] && [ "$t" = "$p" ]; then
		broken=$((broken + 1))
		echo "$name: exit $r although every test passed; from its log:"
		grep -E 'crashed during|LeakSanitizer|^SUMMARY|^    #[0-9] .* in [a-z_]*_impl ' "$log" | head -n 12
		# Criterion 2.4 exits 1 after any cr_log_warn(): use cr_log_info().
		grep -E '^\[WARN\]' "$log" | head -n 3
	fi
done
# Where the time went: CI keeps only a log's end (and has a budget).
echo "selftests: slowest (ms):$(sort -rn "$times" | head -n 8 | awk '{printf " %s %d", $2, $1}')"
{
	echo "selftests: $pass passed, $fail failed, $skip skipped${broken:+, $broken binaries failed after passing}"
	[ -z "$failed" ] || echo "selftests failed:$failed"
} | tee "$dir/.summary"
[ $fail -eq 0 ] || rc=1
exit $rc
