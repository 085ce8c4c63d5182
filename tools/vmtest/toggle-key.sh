#!/bin/sh
# The emulator hang of testing.md for a static key a cgroup flips: set and
# clear a CFS bandwidth quota on a cgroup of our own N times (the first quota
# in the system turns cfs_bandwidth_used() on, its removal off: text patched
# in dequeue_entity and its kin) while two pipes keep both vCPUs switching.
#   make vmtest KERNEL=6.12 VMTEST_HOLD=0 VMTEST_CMD="sh tools/vmtest/toggle-key.sh 1000"
# With the runner's hold (the default) the key stays on and nothing is
# patched. Prints "toggle I UPTIME" every 10; exits 0 after N.
n=${1:-1000}
cg=/sys/fs/cgroup/vmtest-flip
mkdir -p $cg || exit 1
trap 'rmdir $cg 2>/dev/null' EXIT
[ -w $cg/cpu.max ] || { echo "toggle-key: no $cg/cpu.max (cpu controller off?)"; exit 1; }
for j in 1 2; do (dd if=/dev/zero bs=1 count=100000000 2>/dev/null | cat >/dev/null) & done
i=0
while [ $i -lt "$n" ]; do
	echo "50000 100000" >$cg/cpu.max && echo max >$cg/cpu.max || exit 1
	i=$((i + 1))
	[ $((i % 10)) -eq 0 ] && echo "toggle $i $(cut -d' ' -f1 /proc/uptime)"
done
echo "toggle-key: $n toggles, no hang"
kill $(jobs -p) 2>/dev/null
exit 0
