#!/bin/sh
# Fetch the default vmtest kernel, Debian's linux-image-6.1 for amd64, into a
# cache directory and print "VMLINUZ MODDIR" (one line) on stdout.
#   tools/vmtest/kernel.sh CACHEDIR
# Uses only apt-get download + dpkg -x (no install, the host is untouched) and
# busybox depmod for modules.dep, which the package leaves to its postinst.
# VMTEST_KPKG=linux-image-6.1.0-NN-amd64 pins a package; the default is the
# newest 6.1 ABI the apt lists know. A cached kernel is reused as it is.
set -eu
cache=${1:?usage: kernel.sh CACHEDIR}
busybox=${BUSYBOX:-busybox}

die() { echo "vmtest: $*" >&2; exit 2; }

newest() {
	apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
		grep -E '^linux-image-6\.1\.0-[0-9]+-amd64$' | sort -V | tail -n1
}

pkg=${VMTEST_KPKG:-}
if [ -z "$pkg" ]; then
	command -v apt-get >/dev/null 2>&1 ||
		die "no apt-get here: give a kernel with KERNEL=path/to/vmlinuz"
	pkg=$(newest)
	if [ -z "$pkg" ] && [ "$(id -u)" = 0 ]; then
		apt-get update -qq >/dev/null 2>&1 || true
		pkg=$(newest)
	fi
	if [ -z "$pkg" ]; then
		# Offline or lists without bookworm: any kernel fetched before will do.
		pkg=$(for d in "$cache"/linux-image-6.1.0-*-amd64; do
			[ -e "$d/.done" ] && basename "$d"
		done | sort -V | tail -n1)
		[ -n "$pkg" ] || die "apt knows no linux-image-6.1.0-*-amd64 (Debian 12 lists); give KERNEL=path/to/vmlinuz"
	fi
fi

dir=$cache/$pkg
if [ ! -e "$dir/.done" ]; then
	echo "vmtest: fetching $pkg (once, cached in $dir)" >&2
	rm -rf "$dir" "$dir.tmp"
	mkdir -p "$dir.tmp"
	# apt's _apt user cannot write into root-only dirs; it then falls back
	# to an unsandboxed download and warns: keep the warning out of the log.
	(cd "$dir.tmp" && apt-get download -qq "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2) || true
	deb=$(ls "$dir.tmp"/*.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || { rm -rf "$dir.tmp"; die "apt-get download $pkg failed"; }
	dpkg -x "$deb" "$dir.tmp/root"
	rm -f "$deb"
	ver=$(ls "$dir.tmp/root/lib/modules")
	"$busybox" depmod -b "$dir.tmp/root" "$ver"
	mv "$dir.tmp" "$dir"
	touch "$dir/.done"
fi

ver=$(ls "$dir/root/lib/modules")
printf '%s %s\n' "$dir/root/boot/vmlinuz-$ver" "$dir/root/lib/modules/$ver"
