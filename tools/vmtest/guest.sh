#!/bin/sh
# vmtest stage 2: PID 1 on the guest's root, started by tools/vmtest/init
# once everything is mounted.
#   guest.sh PROJDIR RUNDIR
# Runs RUNDIR/cmd as root in PROJDIR with the environment from RUNDIR/env,
# writes its exit status to RUNDIR/status and reboots, which ends qemu
# (-no-reboot).
proj=$1 run=$2
# The kernel hands unknown command-line words to init as variables.
unset vmtest_proj vmtest_run
# shellcheck disable=SC1091
. "$run/env"
bb=$VMTEST_BUSYBOX tty=${VMTEST_TTY:-0} verbose=${VMTEST_VERBOSE:-0}
level=${VMTEST_LOGLEVEL:-7}
hold=${VMTEST_HOLD_TPS:-} holdkeys=${VMTEST_HOLD_KEYS:-0} poke=${VMTEST_TEXTPOKE:-}
unset VMTEST_BUSYBOX VMTEST_MODDIR VMTEST_TTY VMTEST_VERBOSE VMTEST_LOGLEVEL VMTEST_HOLD_TPS \
	VMTEST_HOLD_KEYS VMTEST_TEXTPOKE

# run.sh's VMTEST_HOLD: each tracepoint named gets two resident probes (its
# trace event on in the top buffer and in one instance, recording off), so a
# kpilot attach or detach adds or drops a third probe and patches no text.
hold_tracepoints() {
	T=/sys/kernel/tracing n=0
	mkdir -p $T/instances/vmtest-hold 2>/dev/null || return 0
	# nothing is recorded: the smallest buffers leave the memory to the tests
	echo 4 >$T/buffer_size_kb; echo 4 >$T/instances/vmtest-hold/buffer_size_kb
	for tp in $hold; do
		for e in $T/events/*/"$tp"/enable; do
			[ -w "$e" ] || continue
			echo 1 >"$e" && echo 1 >"$T/instances/vmtest-hold/${e#"$T"/}" && n=$((n + 1))
		done
	done
	echo 0 >$T/tracing_on; echo 0 >$T/instances/vmtest-hold/tracing_on
	echo "vmtest: held $n tracepoints open (multi-threaded TCG; VMTEST_HOLD=0 turns it off)"
}

# The static keys a test's cgroups flip, held on by one empty cgroup: with
# the root's controllers on, any child counts for cpusets_enabled() and
# memcg socket accounting, and a finite cpu.max (no task to throttle) for
# cfs_bandwidth_used(), which dequeue_entity() tests on every sleep.
hold_static_keys() {
	cg=/sys/fs/cgroup/vmtest-hold
	mkdir -p $cg 2>/dev/null || { echo "vmtest: cannot hold the cgroup static keys: no $cg"; return 0; }
	[ -w $cg/cpu.max ] && echo "1000000 100000" >$cg/cpu.max
	# One-way keys flip at their first use, net_get_random_once() (the
	# TCP/IP hash and sequence secrets) at the first connect: do it now.
	"$bb" nc -w 1 127.0.0.1 9 </dev/null >/dev/null 2>&1
	"$bb" nc -w 1 ::1 9 </dev/null >/dev/null 2>&1
	# kpilot run turns the BPF run statistics on (BPF_ENABLE_STATS) for its
	# ns-per-run figures and off at exit: bpf_stats_enabled_key, tested in
	# every bpf_trace_run*() (a 6.1 guest hung in test_policy_sysctl on that
	# flip, 2026-12-02). The sysctl holds one reference for the whole run.
	[ -w /proc/sys/kernel/bpf_stats_enabled ] && echo 1 >/proc/sys/kernel/bpf_stats_enabled
	# bpf_user_rnd_init_once() flips a one-way key when the first program
	# calling bpf_get_prandom_u32() loads (kpilot's steering): load it now.
	if [ -f "$proj/build/bpf/steer.bpf.o" ] &&
	   bpftool prog loadall "$proj/build/bpf/steer.bpf.o" /sys/fs/bpf/vmtest-rnd 2>/dev/null; then
		rm -rf /sys/fs/bpf/vmtest-rnd
	fi
	# veth's own keys are patched when the module loads: load it now.
	ip link add vmtest-h0 type veth peer name vmtest-h1 2>/dev/null && ip link del vmtest-h0
	echo "vmtest: held the cgroup and BPF-statistics static keys on ($(cat $cg/cgroup.controllers 2>/dev/null | tr ' ' ,), cpu.max $(cut -d' ' -f1 $cg/cpu.max 2>/dev/null))"
}

# For the host's hang watch (watch.sh): the text symbols at their runtime
# (KASLR) addresses, to name the words of a stack dump (Debian's System.map
# is a stub; ~1 s of one vCPU at the lowest priority); and a heartbeat from
# user space, which stops when the guest can no longer schedule.
nice -n 19 "$bb" grep ' [tTwW] ' /proc/kallsyms >"$run/kallsyms" 2>/dev/null &
(while :; do "$bb" cat /proc/uptime >"$run/alive"; "$bb" sleep 5; done) &
# The boot was quiet (loglevel=4); the command's kernel messages are not:
# lockup and hung-task reports print their stacks at KERN_DEFAULT/KERN_INFO.
echo "$level" >/proc/sys/kernel/printk

[ -n "$hold" ] && hold_tracepoints
[ "$holdkeys" = 1 ] && hold_static_keys
# Started after the holds: what it reports, the tests did.
pokepid=
if [ -n "$poke" ]; then
	"$poke" vmtest "$run/poke-ready" & pokepid=$!
	i=0
	while [ ! -e "$run/poke-ready" ] && [ $i -lt 300 ] && kill -0 $pokepid 2>/dev/null; do
		"$bb" usleep 100000; i=$((i + 1))
	done
fi
# A log, not a terminal, reads the console: plain \n line ends.
[ "$tty" = 1 ] || "$bb" stty -onlcr 2>/dev/null
cd "$proj" || exit 1
# Its own session with the console as controlling terminal, for VMTEST_CMD=sh.
"$bb" setsid -c /bin/sh "$run/cmd"
rc=$?
# what is still in its rings, before the status ends the run
[ -n "$pokepid" ] && kill -TERM "$pokepid" 2>/dev/null && wait "$pokepid"
echo "$rc" >"$run/status.tmp" && mv "$run/status.tmp" "$run/status"
sync
# The kernel's "reboot: Restarting system" says nothing the host won't.
[ "$verbose" = 1 ] || echo 0 >/proc/sys/kernel/printk
"$bb" reboot -f
sleep 1000
