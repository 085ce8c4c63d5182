#!/bin/sh
# Run each libFuzzer target for a time over its committed seed corpus.
#   selftests/fuzz/run.sh BINDIR SECONDS [TARGET...]
# New inputs go to build/fuzz/corpus/<target>/ (the committed corpus stays
# as it is); a crash, leak, hang or broken invariant is saved as
# build/fuzz/crash-<target>-* and fails the run. Reproduce one with
# `BINDIR/fuzz_<target> FILE`; keep it as a regression input by copying it
# into selftests/fuzz/corpus/<target>/ with the fix.
set -u
bindir=$1 secs=$2
shift 2
out=$(dirname "$bindir")
jobs=${FUZZ_JOBS:-$(nproc)}
pass=0 fail=0

# one TARGET: run it; its report line goes to $out/fuzz_TARGET.result
one() {
	t=$1 bin=$bindir/fuzz_$1 seeds=selftests/fuzz/corpus/$1 work=$out/corpus/$1 log=$out/fuzz_$1.log
	mkdir -p "$work" "$seeds"
	# -timeout: an input taking 10 s is a hang; -rss_limit_mb: a leak or a blow-up.
	"$bin" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$out/crash-$t-" "$work" "$seeds" >"$log" 2>&1
	rc=$?
	stats=$(grep -E '^#[0-9]+.*(DONE|pulse|NEW|REDUCE)' "$log" | tail -1 | sed 's/^#\([0-9]*\)\t*[A-Z]* */execs=\1 /')
	eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
	if [ "$rc" = 0 ]; then
		echo "ok   fuzz_$t ${secs}s: $stats exec/s=$eps"
	else
		echo "FAIL fuzz_$t (exit $rc): see $log"
		grep -E 'ERROR|invariant|SUMMARY|Test unit written' "$log" | head -5 | sed 's/^/     /'
	fi >"$out/fuzz_$t.result"
}

# FUZZ_JOBS targets at a time (the CPUs by default), in batches: each is
# one process, and all run for the same time.
running=0
for t in "$@"; do
	one "$t" &
	running=$((running + 1))
	[ "$running" -ge "$jobs" ] && { wait; running=0; }
done
wait
for t in "$@"; do
	cat "$out/fuzz_$t.result"
	if grep -q '^ok' "$out/fuzz_$t.result"; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
done
echo "fuzz: $pass passed, $fail failed"
[ "$fail" = 0 ]
