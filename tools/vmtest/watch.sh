#!/bin/sh
# vmtest hang watch, started by tools/vmtest/run.sh beside qemu.
#   watch.sh RUNDIR QMPSOCKET SILENCE [SYSTEM.MAP]
# A hang is a lockup report on the guest's console (RUNDIR/console.log), or
# SILENCE seconds (0: never), once the guest's user space is up, with neither
# console output nor a guest heartbeat (guest.sh rewrites RUNDIR/alive every
# 5 s from user space, so a quiet test is not a hang but a guest that can no
# longer schedule is). On a
# hang: the reason goes to RUNDIR/hang, every vCPU's registers and stack come
# from qemu's QMP socket (qmp.py) onto stderr and RUNDIR/hang.log, and qemu
# quits. Ends when RUNDIR/done appears (qemu has exited).
run=$1 sock=$2 silence=$3 map=${4:-}
log=$run/console.log
dir=$(dirname "$0")
# softlockup, hardlockup (NMI watchdog), RCU CPU stalls (self-detected or
# seen from another CPU), the hung-task detector.
pat='soft lockup|hard LOCKUP|detected stall|blocked for more than [0-9]+ seconds'

size() { stat -c %s "$1" 2>/dev/null || echo 0; }
now() { cut -d. -f1 /proc/uptime; }

hang() { # hang REASON
	echo "$1" >"$run/hang"
	{
		echo "vmtest: HANG: $1"
		# The guest's own kallsyms, else a real System.map (no KASLR offset
		# known: right only with nokaslr in VMTEST_APPEND).
		set --
		if [ -s "$run/kallsyms" ]; then set -- --map "$run/kallsyms"
		elif grep -q ' T _text$' "$map" 2>/dev/null; then set -- --map "$map"; fi
		timeout 60 python3 "$dir/qmp.py" "$sock" "$@" --quit ||
			echo "vmtest: the QMP dump failed (exit $?)"
	} 2>&1 | tee "$run/hang.log" >&2
	# qemu normally quit through QMP; if not, it must still go.
	sleep 2
	[ -e "$run/done" ] || kill -KILL "$(cat "$run/qemu.pid" 2>/dev/null)" 2>/dev/null
	exit 0
}

off=0 last=$(now) seen='' beat=''
while [ ! -e "$run/done" ]; do
	sleep 2
	n=$(size "$log")
	if [ "$n" != "$seen" ]; then
		# Re-read 200 bytes before the last offset: a line written across
		# two polls is still seen whole.
		from=$((off > 200 ? off - 200 : 0))
		line=$(tail -c +$((from + 1)) "$log" 2>/dev/null | head -c $((n - from)) |
			grep -a -m1 -E "$pat")
		if [ -n "$line" ]; then
			# Give the kernel's own report (every CPU's backtrace with
			# softlockup_all_cpu_backtrace=1) time to reach the console.
			q=0 t=0
			while [ $q -lt 3 ] && [ $t -lt 30 ] && [ ! -e "$run/done" ]; do
				m=$(size "$log"); sleep 1; t=$((t + 1))
				if [ "$(size "$log")" = "$m" ]; then q=$((q + 1)); else q=0; fi
			done
			[ -e "$run/done" ] && break
			hang "lockup report on the console: $(printf '%s' "$line" | tr -d '\r')"
		fi
		seen=$n off=$n last=$(now)
	fi
	b=$(cat "$run/alive" 2>/dev/null)
	[ "$b" != "$beat" ] && { beat=$b; last=$(now); }
	# Silence counts from the first heartbeat: a loaded host's TCG boot
	# can be quiet for longer (loglevel=4), and a hung boot is the
	# timeout's (or, if the kernel says so, the lockup pattern's).
	if [ -n "$beat" ] && [ "$silence" -gt 0 ] && [ $(($(now) - last)) -ge "$silence" ]; then
		hang "no console output and no guest heartbeat for ${silence}s (VMTEST_SILENCE)"
	fi
done
