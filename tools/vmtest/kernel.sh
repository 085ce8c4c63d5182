#!/bin/sh
# Fetch a Debian kernel for amd64 into a cache directory and print
# "VMLINUZ MODDIR" (one line) on stdout.
#   tools/vmtest/kernel.sh CACHEDIR [5.10|6.1|6.12]
#     5.10  bullseye-security's linux-image-5.10.0-NN-amd64 (openEuler 22.03's series)
#     6.1   bookworm's linux-image-6.1.0-NN-amd64 (the default)
#     6.12  trixie's linux-image-6.12.NN+deb13-amd64
# Uses only apt-get download + dpkg -x (no install) with apt lists of its own
# in CACHEDIR/apt (Dir::Etc::sourcelist=..., Dir::State::Lists=...), so the
# host's apt configuration and lists are untouched; the suites are signed by
# the keys debian-archive-keyring already has. depmod (kmod's, else
# busybox's) writes modules.dep, which the package leaves to its postinst.
# VMTEST_KPKG=<package> pins a package of any of those suites; the default is
# the newest ABI of the series. A cached kernel is reused as it is; offline,
# the newest cached one of the series.
set -eu
cache=${1:?usage: kernel.sh CACHEDIR [5.10|6.1|6.12]}
mkdir -p "$cache" && cache=$(cd "$cache" && pwd)
series=${2:-6.1}
busybox=${BUSYBOX:-busybox}

die() { echo "vmtest: $*" >&2; exit 2; }

case "$series" in
5.10) re='linux-image-5\.10\.0-[0-9]+-amd64' ;;
6.1) re='linux-image-6\.1\.0-[0-9]+-amd64' ;;
6.12) re='linux-image-6\.12\.[0-9]+\+deb13-amd64' ;;
*) die "kernel series '$series': 5.10, 6.1 or 6.12 (or KERNEL=path/to/vmlinuz)" ;;
esac

apt=$cache/apt
key=/usr/share/keyrings/debian-archive-keyring.gpg
set -- -o "Dir::Etc::sourcelist=$apt/sources.list" -o "Dir::Etc::sourceparts=$apt/parts" \
	-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" \
	-o APT::Get::List-Cleanup=0 -o Debug::NoLocking=1
apt_update() {
	# Not sources.list.d: the Makefile includes every *.d under build/.
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/parts"
	{
		echo "deb [signed-by=$key] http://deb.debian.org/debian bookworm main"
		echo "deb [signed-by=$key] http://deb.debian.org/debian-security bookworm-security main"
		echo "deb [signed-by=$key] http://deb.debian.org/debian-security bullseye-security main"
		echo "deb [signed-by=$key] http://deb.debian.org/debian trixie main"
	} >"$apt/sources.list"
	echo "vmtest: apt-get update (own lists in $apt)" >&2
	# apt-get update exits 0 on unreachable mirrors: the lists say.
	apt-get "$@" update -qq >/dev/null 2>&1 &&
		ls "$apt/lists/"*_Packages* >/dev/null 2>&1 && touch "$apt/.updated"
}
newest() {
	apt-cache "$@" pkgnames linux-image- 2>/dev/null | grep -E "^$re\$" | sort -V | tail -n1
}
cached() {
	for d in "$cache"/linux-image-*-amd64; do
		[ -e "$d/.done" ] && basename "$d"
	done | grep -E "^$re\$" | sort -V | tail -n1
}

pkg=${VMTEST_KPKG:-}
if [ -z "$pkg" ]; then
	pkg=$(cached)
	# Lists a day old are refreshed, so CI follows the security archive.
	if [ ! -e "$apt/.updated" ] || [ -n "$(find "$apt/.updated" -mmin +1440)" ]; then
		command -v apt-get >/dev/null 2>&1 ||
			die "no apt-get here: give a kernel with KERNEL=path/to/vmlinuz"
		apt_update "$@" || echo "vmtest: apt-get update failed (offline?)" >&2
	fi
	p=$(newest "$@")
	[ -n "$p" ] && pkg=$p
	[ -n "$pkg" ] || die "apt knows no $re and none is cached; give KERNEL=path/to/vmlinuz"
fi

dir=$cache/$pkg
if [ ! -e "$dir/.done" ]; then
	[ -e "$apt/.updated" ] || apt_update "$@" || true
	echo "vmtest: fetching $pkg (once, cached in $dir)" >&2
	rm -rf "$dir" "$dir.tmp"
	mkdir -p "$dir.tmp"
	# apt's _apt user cannot write into root-only dirs; it then falls back
	# to an unsandboxed download and warns: keep the warning out of the log.
	(cd "$dir.tmp" && apt-get "$@" download -qq "$pkg" 2>&1 |
		grep -v '^W: Download is performed unsandboxed' >&2) || true
	deb=$(ls "$dir.tmp"/*.deb 2>/dev/null | head -n1)
	[ -n "$deb" ] || { rm -rf "$dir.tmp"; die "apt-get download $pkg failed"; }
	dpkg -x "$deb" "$dir.tmp/root"
	rm -f "$deb"
	# trixie's packages are merged-/usr: usr/lib/modules.
	base=$dir.tmp/root
	[ -d "$base/lib/modules" ] || base=$base/usr
	ver=$(ls "$base/lib/modules")
	# kmod's depmod also writes the binary indexes that kmod's modprobe
	# (virtme-ng's module resolver) needs; busybox's writes the text only.
	if [ -x /usr/sbin/depmod ] || [ -x /sbin/depmod ]; then
		PATH=$PATH:/usr/sbin:/sbin depmod -b "$base" "$ver"
	else
		"$busybox" depmod -b "$base" "$ver"
	fi
	mv "$dir.tmp" "$dir"
	touch "$dir/.done"
fi

mods=$dir/root/lib/modules
[ -d "$mods" ] || mods=$dir/root/usr/lib/modules
ver=$(ls "$mods")
printf '%s %s\n' "$dir/root/boot/vmlinuz-$ver" "$mods/$ver"
