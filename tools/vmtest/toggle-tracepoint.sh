#!/bin/sh
# The emulator hang of testing.md ("Fixed: an emulator hang while
# tracepoints flip"), with no BPF: turn the sched_switch trace event on and
# off N times (in a trace instance of its own) while two pipes keep both
# vCPUs switching. Run in a guest:
#   make vmtest KERNEL=6.1 VMTEST_HOLD=0 VMTEST_CMD="sh tools/vmtest/toggle-tracepoint.sh 1000"
# With VMTEST_HOLD=0 each toggle is the tracepoint's first probe and patches
# __schedule; with the runner's hold (the default) it is a third and patches
# nothing. Prints "toggle I UPTIME" every 10; exits 0 after N.
n=${1:-1000}
T=/sys/kernel/tracing
[ -d $T/events ] || mount -t tracefs tracefs $T || exit 1
mkdir -p $T/instances/vmtest-flip || exit 1
echo 0 >$T/instances/vmtest-flip/tracing_on
ev=$T/instances/vmtest-flip/events/sched/sched_switch/enable
[ -w $ev ] || { echo "toggle-tracepoint: no $ev"; exit 1; }
for j in 1 2; do (dd if=/dev/zero bs=1 count=100000000 2>/dev/null | cat >/dev/null) & done
i=0
while [ $i -lt "$n" ]; do
	echo 1 >$ev && echo 0 >$ev || exit 1
	i=$((i + 1))
	[ $((i % 10)) -eq 0 ] && echo "toggle $i $(cut -d' ' -f1 /proc/uptime)"
done
echo "toggle-tracepoint: $n toggles, no hang"
kill $(jobs -p) 2>/dev/null
exit 0
