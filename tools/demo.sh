#!/bin/sh
# `make demo`: a real tuning session on the built-in tcp-churn benchmark, in
# private network namespaces (the host's knobs are never touched), about
# 4 minutes: baseline, 30 trials of the PPO agent, the best configuration,
# then 5 alternating runs each of the baseline and the best: the confirmed
# improvement with its 95% confidence interval.
# Then a 5-second look at the built-in workload with `kpilot observe`.
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "make demo: run as root (sudo make demo): kpilot loads eBPF programs and writes knobs" >&2
	exit 2
fi
trials=${DEMO_TRIALS:-30}
echo "kpilot demo: tuning tcp-churn (${trials} trials and 10 confirmation runs, about 4 minutes;"
echo "            Ctrl-C stops and restores)"
./kpilot tune --profile tcp-churn --trials "$trials"
echo
echo "kpilot demo: what kpilot observe sees of the built-in workload (CPU, disk, TCP), 5 s"
build/tools/workload/workload --seconds 7 &
wl=$!
trap 'kill $wl 2>/dev/null; wait $wl 2>/dev/null || true' EXIT INT TERM
./kpilot observe --duration 5 --operator "workload=pid:$wl" | grep -E '^(operator|summary)' || true
