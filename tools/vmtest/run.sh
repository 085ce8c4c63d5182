#!/bin/sh
# Boot a kernel in a throwaway VM over a read-only view of this machine and
# run one command there as root; exit with that command's status.
#   tools/vmtest/run.sh                 # `make check` on Debian's 6.1 kernel
#   KERNEL=5.10 tools/vmtest/run.sh     # on Debian bullseye's 5.10 (or 6.12: trixie's)
#   KERNEL=/boot/vmlinuz-6.12 VMTEST_CMD='make check TESTS=netem' tools/vmtest/run.sh
#   VMTEST_CMD=sh tools/vmtest/run.sh   # an interactive root shell in the VM
# The guest sees the host's / read-only under a tmpfs overlay (writes vanish
# at power-off) and the project directory read-write at the same path.
# virtme-ng's vng runs it when installed; otherwise qemu + busybox do,
# with -M microvm, KVM when it works and TCG otherwise.
#
# Environment:
#   KERNEL          5.10 | 6.1 | 6.12: Debian's kernel of that series (bullseye-
#                   security, bookworm, trixie), fetched once into
#                   build/vmtest/kernels (default 6.1); or a vmlinuz to boot, its
#                   modules from VMTEST_MODDIR or the tree it sits in
#                   (X/boot/vmlinuz-V -> X/lib/modules/V, or /lib/modules/V)
#   VMTEST_CMD      shell command run in the project directory (make check)
#   VMTEST_TIMEOUT  seconds before the VM is killed (1800)
#   VMTEST_MEM      guest memory (2G)
#   VMTEST_CPUS     vCPUs (the host's online CPUs, not the affinity mask; >= 2)
#   VMTEST_APPEND   extra kernel command-line words
#   VMTEST_SILENCE  seconds without console output or guest heartbeat that
#                   count as a hang (120 under TCG, 60 under KVM; 0: never)
#   VMTEST_LOGLEVEL console log level while the command runs (7)
#   VMTEST_ACCEL    auto | kvm | tcg (auto)  VMTEST_RUNNER auto | vng | qemu
#   VMTEST_MODULES  extra modules to preload, by name
#   VMTEST_HOLD     1 | 0: under multi-threaded TCG, hold every tracepoint
#                   kpilot attaches to open with two resident probes, and the
#                   static keys cgroups flip on with a cgroup of the guest's
#                   own, so no test patches kernel text (1; testing.md,
#                   "Fixed: an emulator hang while tracepoints flip"); a patch
#                   that still happens is reported with the test it came in
#   VMTEST_TCG_THREAD  multi | single (qemu's default, multi with >1 vCPU)
#   VMTEST_VERBOSE=1  show the kernel's boot messages
#   VMTEST_STACK_WORDS  stack words dumped per vCPU on a hang (64)
# The command sees KPILOT_VMTEST=1, KPILOT_EMULATED=1 under TCG (0 under
# KVM), KPILOT_VMTEST_KERNEL=<release>, plus PATH, HOME, TERM, LANG, CI and
# every KPILOT_* variable of the caller.
# Exit status: the command's; 123 if a hang was detected (a lockup report on
# the console, or VMTEST_SILENCE): every vCPU's registers and stack are then
# in the log and build/vmtest/hang.log; 124 if the timeout hit; 125 if the
# guest stopped without one (kernel panic, failed boot); 2 if the VM could
# not start.
set -eu

proj=$(cd "$(dirname "$0")/../.." && pwd)
out=${VMTEST_OUT:-$proj/build/vmtest}
cmd=${VMTEST_CMD:-make check}
tmo=${VMTEST_TIMEOUT:-1800}
mem=${VMTEST_MEM:-2G}
# nproc follows the affinity mask: under taskset the guest would get one vCPU
# and could not show an SMP bug.
cpus=${VMTEST_CPUS:-$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)}
[ -n "${VMTEST_CPUS:-}" ] || [ "$cpus" -ge 2 ] || cpus=2
accel=${VMTEST_ACCEL:-auto}
runner=${VMTEST_RUNNER:-auto}

die() { echo "vmtest: $*" >&2; exit 2; }
# qemu's console reads stdin: CI may give none at all.
tty=1
[ -t 0 ] || { tty=0; exec </dev/null; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
t0=$(now)

case "$proj" in *[!A-Za-z0-9_./+-]*) die "project path '$proj' has characters the kernel command line can't carry" ;; esac
[ "$(id -u)" = 0 ] || die "run as root (the guest's root is the host's, and the project share writes as root)"
mkdir -p "$out"

# ---- a kernel series names a Debian kernel, fetched once.
case "${KERNEL:-}" in
''|5.10|6.1|6.12)
	kv=$(BUSYBOX=$(command -v busybox || echo busybox) \
		"$proj/tools/vmtest/kernel.sh" "$out/kernels" "${KERNEL:-6.1}") || exit 2
	KERNEL=${kv% *} VMTEST_MODDIR=${VMTEST_MODDIR:-${kv#* }}
	;;
esac

# ---- vng (virtme-ng) when present: it does all of the below itself.
if [ "$runner" = auto ]; then
	if command -v vng >/dev/null 2>&1; then runner=vng; else runner=qemu; fi
fi
if [ "$runner" = vng ]; then
	command -v vng >/dev/null 2>&1 || die "VMTEST_RUNNER=vng but vng is not installed"
	# vng mounts the host root read-only with its own overlays and returns
	# the command's status; it picks KVM or TCG itself, so unless told TCG
	# the emulation is unknown: say "maybe" (2).
	# --rwdir HOST=GUEST: vng 1.35 checks a bare path relative to the cwd.
	set -- --run "$KERNEL" --force-initramfs --rwdir "$proj=$proj" --cwd "$proj" \
		--memory "$mem" --cpus "$cpus" --append "softlockup_all_cpu_backtrace=1 ${VMTEST_APPEND:-}"
	emulated=2
	[ "$accel" = tcg ] && { set -- "$@" --disable-kvm; emulated=1; }
	rc=0
	timeout --foreground -k 10 "$tmo" vng "$@" --exec \
		"export KPILOT_VMTEST=1 KPILOT_EMULATED=$emulated; $cmd" || rc=$?
	[ $rc -eq 124 ] && echo "vmtest: timed out after ${tmo}s" >&2
	echo "vmtest: exit $rc after $(since "$t0")s (vng)" >&2
	exit $rc
fi

# ---- our own runner: qemu + a busybox initramfs.
command -v qemu-system-x86_64 >/dev/null 2>&1 || die "qemu-system-x86_64 missing: run tools/deps.sh --vm"
[ "$(uname -m)" = x86_64 ] || die "only x86_64 hosts are supported"
busybox=$(command -v busybox 2>/dev/null || true)
for b in "$busybox" /bin/busybox /usr/sbin/busybox /usr/bin/busybox; do
	# The initramfs has no libc: the busybox must be static.
	if [ -x "$b" ] && ! grep -q '/lib64/ld-linux-x86-64' "$b"; then busybox=$b; break; fi
	busybox=
done
[ -n "$busybox" ] || die "no static busybox: run tools/deps.sh --vm (busybox-static)"

[ -r "$KERNEL" ] || die "KERNEL=$KERNEL: no such file"
vmlinuz=$(readlink -f "$KERNEL")
moddir=${VMTEST_MODDIR:-}
if [ -z "$moddir" ]; then
	# Debian: X/boot/vmlinuz-V + X/lib/modules/V; Fedora: X/lib/modules/V/vmlinuz.
	v=$(basename "$vmlinuz"); v=${v#vmlinuz-}
	[ "$v" = vmlinuz ] && v=$(basename "$(dirname "$vmlinuz")")
	for d in "$(dirname "$vmlinuz")" "$(dirname "$vmlinuz")/../lib/modules/$v" "/lib/modules/$v"; do
		[ -e "$d/modules.dep" ] && { moddir=$(cd "$d" && pwd); break; }
	done
fi
[ -z "$moddir" ] && echo "vmtest: no modules for $vmlinuz: assuming 9p, virtio and overlay are built in" >&2

# Under TCG the bzImage's own decompressor takes ~2 s of a ~5 s boot: boot
# the uncompressed ELF through its PVH entry instead when the kernel has one
# (CONFIG_PVH, per the config file beside it), unpacked once into the cache.
pvh_image() { # pvh_image VMLINUZ -> path to boot
	v=$(basename "$1"); v=${v#vmlinuz-}
	grep -qs '^CONFIG_PVH=y' "$(dirname "$1")/config-$v" "$(dirname "$1")/config" ||
		{ echo "$1"; return; }
	elf=$out/pvh/$v-$(stat -c %s-%Y "$1")
	if [ ! -s "$elf" ]; then
		mkdir -p "$out/pvh"
		for fmt in '\xfd7zXZ\x00:xz -dcq --single-stream' '\x28\xb5\x2f\xfd:zstd -dcq' \
			'\x1f\x8b\x08:gzip -dcq'; do
			off=$(LC_ALL=C grep -obUaP "${fmt%%:*}" "$1" 2>/dev/null | head -n1 | cut -d: -f1)
			[ -n "$off" ] || continue
			# The decompressors complain about the bzImage's trailer
			# after the stream: the ELF magic says whether it worked.
			tail -c +$((off + 1)) "$1" | ${fmt#*:} >"$elf.tmp" 2>/dev/null || true
			[ "$(head -c 4 "$elf.tmp" | od -An -c | tr -d ' ')" = '177ELF' ] &&
				{ mv "$elf.tmp" "$elf"; break; }
		done
		rm -f "$elf.tmp"
	fi
	if [ -s "$elf" ]; then echo "$elf"; else echo "$1"; fi
}
boot=$(pvh_image "$vmlinuz")

run=$out/run.$$
rm -rf "$run"; mkdir -p "$run/initramfs/bin" "$run/initramfs/modules"
cleanup() {
	r=$?
	[ "$r" -ne 0 ] && [ ! -e "$run/console.log" ] && echo "vmtest: setup failed (exit $r) before the VM started" >&2
	cp -f "$run/console.log" "$out/console.log" 2>/dev/null
	# set -e holds in the trap too: no failing last command here.
	if [ -n "${watch:-}" ]; then kill "$watch" 2>/dev/null || true; fi
	if [ -n "${qdir:-}" ]; then rm -rf "$qdir"; fi
	rm -rf "$run"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- initramfs: busybox, stage-1 init, the modules the mounts need plus
# the ones the tests need, dependencies first (post-order over modules.dep).
ird=$run/initramfs
cp "$busybox" "$ird/bin/busybox"
cp "$proj/tools/vmtest/init" "$ird/init"
mkdir -p "$ird/proc" "$ird/sys" "$ird/dev"
mods="virtio_mmio virtio_pci 9pnet_virtio 9p overlay sch_netem veth sch_htb sch_tbf sch_fq tcp_bbr ${VMTEST_MODULES:-}"
if [ -n "$moddir" ]; then
	awk -v want="$mods" '
	function base(p) { sub(/.*\//, "", p); sub(/\.ko(\..*)?$/, "", p); gsub(/-/, "_", p); return p }
	function visit(p,   i, n, d) {
		if (p in seen) return
		seen[p] = 1
		n = split(deps[p], d, " ")
		for (i = 1; i <= n; i++) visit(d[i])
		print p
	}
	{ p = $1; sub(/:$/, "", p); deps[p] = ""; for (i = 2; i <= NF; i++) deps[p] = deps[p] " " $i
	  path[base(p)] = p }
	END { n = split(want, w, " ")
	      for (i = 1; i <= n; i++) { m = w[i]; gsub(/-/, "_", m); if (m in path) visit(path[m]) } }
	' "$moddir/modules.dep" >"$run/modlist"
	i=0
	while read -r rel; do
		i=$((i + 1)); name=$(printf '%02d-%s' $i "$(basename "$rel")")
		case "$rel" in
		*.ko.xz) name=${name%.xz}; xz -dc "$moddir/$rel" >"$ird/modules/$name" ;;
		*.ko.zst) name=${name%.zst}; zstd -qdc "$moddir/$rel" >"$ird/modules/$name" ;;
		*.ko.gz) name=${name%.gz}; gzip -dc "$moddir/$rel" >"$ird/modules/$name" ;;
		*) cp "$moddir/$rel" "$ird/modules/$name" ;;
		esac
		echo "$name" >>"$ird/modules/order"
	done <"$run/modlist"
fi
touch "$ird/modules/order"
(cd "$ird" && find . | "$busybox" cpio -o -H newc -R 0:0 2>/dev/null) >"$run/initramfs.cpio"

# ---- what the guest runs, in files on the project share: the kernel command
# line is short and mangles quotes.
q() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
printf '%s\n' "$cmd" >"$run/cmd"

# ---- accelerator: KVM only if a real boot works with it (cached per host
# boot): on some hosts /dev/kvm opens but guests hang.
kvm_works() {
	[ -w /dev/kvm ] || return 1
	stamp=$out/kvm-probe.$(cat /proc/sys/kernel/random/boot_id)
	[ -e "$stamp" ] && { [ "$(cat "$stamp")" = ok ]; return; }
	r=bad
	if timeout -k 2 10 qemu-system-x86_64 -accel kvm -cpu host -M microvm,rtc=on \
		-m 256M -nodefaults -no-reboot -display none -serial stdio \
		-kernel "$boot" -initrd "$run/initramfs.cpio" \
		-append "console=ttyS0 quiet panic=-1 reboot=t vmtest_probe=1" 2>/dev/null |
		grep -q 'vmtest: probe ok'; then r=ok; fi
	echo "$r" >"$stamp"
	[ "$r" = ok ]
}
case "$accel" in
auto) if kvm_works; then accel=kvm; else accel=tcg; fi ;;
kvm|tcg) ;;
*) die "VMTEST_ACCEL=$accel: auto, kvm or tcg" ;;
esac

# panic=-1 + reboot=t + -no-reboot: a panic ends qemu at once. tsc=reliable:
# otherwise the guest finds the emulated TSCs out of sync and falls back to
# jiffies (4 ms clock). tsc_early_khz: under TCG, calibrating the TSC against
# the emulated PIT hangs microvm boots about half the time.
append="console=ttyS0 panic=-1 reboot=t mitigations=off 8250.nr_uarts=1 tsc=reliable"
if [ "$accel" = tcg ]; then
	cpu=${VMTEST_CPU:-max} emulated=1 tcgthread=${VMTEST_TCG_THREAD:-}
	khz=$(awk -F: '/^cpu MHz/ { printf "%d", $2 * 1000; exit }' /proc/cpuinfo)
	[ -n "$khz" ] && append="$append tsc_early_khz=$khz"
else
	cpu=host emulated=0 tcgthread=
fi
# A hang must leave its evidence: every CPU's backtrace on a soft lockup,
# and no panic on a lockup or hung task (the hang watch dumps the vCPUs and
# ends the VM itself). loglevel=4 keeps the boot to its errors; guest.sh
# raises the level to VMTEST_LOGLEVEL (7) for the command, since lockup and
# hung-task stacks print at KERN_DEFAULT and KERN_INFO.
append="$append softlockup_all_cpu_backtrace=1 softlockup_panic=0 hung_task_panic=0"
[ "${VMTEST_VERBOSE:-0}" = 1 ] || append="$append loglevel=4"
append="$append ${VMTEST_APPEND:-} vmtest_proj=$proj vmtest_run=$run"
silence=${VMTEST_SILENCE:-$([ "$accel" = tcg ] && echo 120 || echo 60)}
# qemu 7.2's multi-threaded TCG can leave a vCPU looping on a stale int3
# after another vCPU patches kernel text (a tracepoint's static key or static
# call), with interrupts off: the patching CPU then waits for it forever. No
# text is patched if each tracepoint already has two probes, so the guest
# holds the ones kpilot uses (from bpf/ and tools/bench/) open before the command.
# The same goes for the static keys the tests' cgroups flip (CFS bandwidth,
# cpusets, memcg sockets): the guest keeps one cgroup that holds them on.
# textpoke reports any patch that still happens, and the test it came in.
hold= holdkeys=0 poke=
if [ "$accel" = tcg ] && [ "$cpus" -gt 1 ]; then
	if [ "$tcgthread" != single ] && [ "${VMTEST_HOLD:-1}" = 1 ]; then
		hold=$(sed -n 's/^TP_TWINS(\([a-z0-9_]*\),.*/\1/p; s/.*SEC("\(tp_btf\|raw_tp\)\/\([a-z0-9_]*\)").*/\2/p' \
			"$proj"/bpf/*.bpf.c "$proj"/tools/bench/*.bpf.c 2>/dev/null | sort -u | tr '\n' ' ')
		holdkeys=1
	fi
	poke=${VMTEST_TEXTPOKE:-$proj/build/tools/vmtest/textpoke}
	[ -x "$poke" ] ||
		{ echo "vmtest: no $poke (make tools): kernel text patches go unreported" >&2; poke=; }
fi
case "$silence" in ''|*[!0-9]*) die "VMTEST_SILENCE=$silence: seconds" ;; esac

{
	echo "export VMTEST_BUSYBOX=$(q "$busybox") VMTEST_MODDIR=$(q "$moddir")"
	echo "export VMTEST_TTY=$tty VMTEST_VERBOSE=${VMTEST_VERBOSE:-0} VMTEST_LOGLEVEL=${VMTEST_LOGLEVEL:-7}"
	echo "export KPILOT_VMTEST=1 KPILOT_EMULATED=$emulated VMTEST_HOLD_TPS=$(q "$hold")"
	echo "export VMTEST_HOLD_KEYS=$holdkeys VMTEST_TEXTPOKE=$(q "$poke")"
	echo 'export KPILOT_VMTEST_KERNEL=$(uname -r)'
	echo "export HOME=/root PATH=$(q "$PATH") TERM=$(q "${TERM:-dumb}")"
	for v in LANG CI $(env | sed -n 's/^\(KPILOT_[A-Za-z0-9_]*\)=.*/\1/p'); do
		case "$v" in KPILOT_VMTEST|KPILOT_EMULATED|KPILOT_VMTEST_KERNEL) continue ;; esac
		eval "val=\${$v-}"
		[ -n "$val" ] && echo "export $v=$(q "$val")"
	done
} >"$run/env"

# The QMP socket for the hang watch lives in a short private directory: a
# unix socket path may not exceed 107 bytes, and a CI clone's path can.
qdir=$(mktemp -d /tmp/vmtest.XXXXXX)
v=$(basename "$vmlinuz"); v=${v#vmlinuz-}
map=
for m in "$(dirname "$vmlinuz")/System.map-$v" "$(dirname "$vmlinuz")/System.map"; do
	[ -r "$m" ] && { map=$m; break; }
done
rm -f "$out/hang.log"
"$proj/tools/vmtest/watch.sh" "$run" "$qdir/qmp" "$silence" "$map" &
watch=$!

echo "vmtest: $(basename "$vmlinuz"), $accel, $cpus vCPUs, $mem, timeout ${tmo}s, hang after ${silence}s of silence" >&2
fs="security_model=none,multidevs=remap"
rc=0
timeout --foreground -k 10 "$tmo" qemu-system-x86_64 \
	-qmp "unix:$qdir/qmp,server=on,wait=off" -pidfile "$run/qemu.pid" \
	-accel "$accel${tcgthread:+,thread=$tcgthread}" -cpu "$cpu" -M microvm,rtc=on -smp "$cpus" -m "$mem" \
	-nodefaults -no-user-config -no-reboot -display none \
	-chardev "stdio,id=con,signal=on,logfile=$run/console.log" -serial chardev:con \
	-fsdev "local,id=root,path=/,readonly=on,$fs" \
	-device virtio-9p-device,fsdev=root,mount_tag=hostroot \
	-fsdev "local,id=proj,path=$proj,$fs" \
	-device virtio-9p-device,fsdev=proj,mount_tag=kpilot \
	-kernel "$boot" -initrd "$run/initramfs.cpio" -append "$append" || rc=$?
touch "$run/done"
wait "$watch" 2>/dev/null || true
rm -rf "$qdir"

# CI keeps only the tail of the output: name the test that was running.
last_test() {
	t=$(grep -a '^== ' "$run/console.log" 2>/dev/null | tail -1)
	echo "${t:-(no test had started)}"
}
if [ -e "$run/hang" ]; then
	cp -f "$run/hang.log" "$out/hang.log" 2>/dev/null
	echo "vmtest: HANG DETECTED: $(cat "$run/hang") (dump: $out/hang.log, console: $out/console.log)" >&2
	echo "vmtest: the hang came during: $(last_test)" >&2
	rc=123
elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
	echo "vmtest: TIMEOUT: the VM was killed after ${tmo}s (VMTEST_TIMEOUT)" >&2
	rc=124
elif [ $rc -ne 0 ]; then
	echo "vmtest: qemu failed (exit $rc)" >&2
	rc=2
elif [ -r "$run/status" ]; then
	rc=$(cat "$run/status")
else
	if grep -q 'Kernel panic' "$run/console.log" 2>/dev/null; then
		echo "vmtest: KERNEL PANIC (console: $out/console.log)" >&2
		echo "vmtest: the panic came during: $(last_test)" >&2
	else
		echo "vmtest: the guest stopped without an exit status (console: $out/console.log)" >&2
	fi
	rc=125
fi
# Each live patch of kernel text risks the emulator hang: name where and in
# which test, so that a missing hold shows in every run, not one in ten.
if [ -n "$poke" ] && [ -r "$run/console.log" ]; then
	awk '/^== / { t = substr($0, 4) }
	     /^vmtest: kernel text patched/ { sub(/^vmtest: kernel text patched /, ""); sub(/\r$/, "")
		print "vmtest:   " $0 " during " (t == "" ? "the set-up" : t) }' \
		"$run/console.log" >"$run/pokes"
	n=$(wc -l <"$run/pokes")
	if [ "$n" -gt 0 ] && [ "$tcgthread" = single ]; then
		echo "vmtest: kernel text was patched $n times while the command ran (harmless under single-threaded TCG)" >&2
	elif [ "$n" -gt 0 ]; then
		echo "vmtest: kernel text was patched $n times while the command ran (multi-threaded TCG can hang there):" >&2
		head -n 20 "$run/pokes" >&2
	fi
fi
echo "vmtest: exit $rc after $(since "$t0")s" >&2
exit "$rc"
