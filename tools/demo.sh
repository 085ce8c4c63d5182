#!/bin/sh
# `make demo`: run the built-in workload (CPU, disk, TCP) and watch it with
# `kpilot observe` for 10 seconds. Nothing on the host is changed.
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
	echo "make demo: run as root (sudo make demo): kpilot loads eBPF programs" >&2
	exit 2
fi
secs=${DEMO_SECONDS:-10}
build/tools/workload/workload --seconds $((secs + 2)) &
wl=$!
trap 'kill $wl 2>/dev/null; wait $wl 2>/dev/null || true' EXIT INT TERM
echo "kpilot demo: observing the built-in workload (pid $wl) for ${secs} s"
./kpilot observe --duration "$secs" --operator "workload=pid:$wl" --interval 1000
echo
echo "kpilot demo: the same interval as JSON lines (Documentation/metrics.md):"
./kpilot observe --duration 1 --operator "workload=pid:$wl" --json | grep '"operator"' | head -n 3
