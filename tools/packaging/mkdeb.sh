#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# A binary .deb of kpilot for Debian and Ubuntu, from `make install`:
#   tools/packaging/mkdeb.sh OUTDIR [MAKE-VARIABLE=VALUE...]
# There is no debian/ source package: the top of the tree is fixed, and
# dpkg-deb over a staged install is all a binary package needs. The
# dependencies come from dpkg-shlibdeps, the scriptlets do what
# dh_installsystemd's do through deb-systemd-helper and deb-systemd-invoke,
# except that a first install does not enable the unit. Documentation/install.md, "Packages".
set -eu
out=$1; shift
top=$(cd "$(dirname "$0")/../.." && pwd)
V=$(sed -n 's/^Version: *//p' "$top/tools/packaging/kpilot.spec")
arch=$(dpkg --print-architecture)
stage=$(mktemp -d /tmp/kpilot-deb.XXXXXX)
trap 'rm -rf "$stage"' EXIT
root=$stage/kpilot_$V-1_$arch

make -C "$top" --no-print-directory PREFIX=/usr "$@" DESTDIR="$root" install >/dev/null
gzip -9n "$root"/usr/share/man/man*/*
mkdir -p "$root/DEBIAN" "$stage/debian"
# dpkg-shlibdeps wants a debian/control of the source to read.
printf 'Source: kpilot\n\nPackage: kpilot\nArchitecture: any\n' >"$stage/debian/control"
deps=$(cd "$stage" && dpkg-shlibdeps -O "$root/usr/sbin/kpilot" "$root/usr/libexec/kpilot/wordcount" |
	sed -n 's/^shlibs:Depends=//p')

cat >"$root/DEBIAN/control" <<EOF
Package: kpilot
Version: $V-1
Architecture: $arch
Maintainer: kpilot maintainers <maintainers@users.noreply.b-seed-2b911cab.example>
Depends: $deps, init-system-helpers
Section: admin
Priority: optional
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Description: Linux autopilot: eBPF metrics, a learning agent, safe reversible knobs
 kpilot loads eBPF programs on the scheduler, block and TCP tracepoints,
 turns what they stream into per-process and per-operator metrics, and lets
 an agent tune sysctls and cgroup CPU limits through a safety validator and
 a write-ahead journal, so that every change can be rolled back.
EOF
echo /etc/kpilot/kpilot.json >"$root/DEBIAN/conffiles"

cat >"$root/DEBIAN/postinst" <<'EOF'
#!/bin/sh
set -e
if [ "$1" = configure ] || [ "$1" = abort-upgrade ]; then
	# Not enabled on a first install (it writes kernel knobs: the admin
	# opts in, as Fedora's presets leave it disabled); an upgrade keeps the
	# admin's choice and restarts a running daemon.
	deb-systemd-helper unmask kpilot.service >/dev/null || true
	deb-systemd-helper update-state kpilot.service >/dev/null || true
	if [ -d /run/systemd/system ]; then
		systemctl --system daemon-reload >/dev/null || true
		deb-systemd-invoke try-restart kpilot.service >/dev/null || true
	fi
fi
EOF
cat >"$root/DEBIAN/prerm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
	deb-systemd-invoke stop kpilot.service >/dev/null || true
fi
EOF
cat >"$root/DEBIAN/postrm" <<'EOF'
#!/bin/sh
set -e
if [ -d /run/systemd/system ]; then
	systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = remove ] && [ -x /usr/bin/deb-systemd-helper ]; then
	deb-systemd-helper mask kpilot.service >/dev/null || true
fi
if [ "$1" = purge ] && [ -x /usr/bin/deb-systemd-helper ]; then
	deb-systemd-helper purge kpilot.service >/dev/null || true
	deb-systemd-helper unmask kpilot.service >/dev/null || true
fi
EOF
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/prerm" "$root/DEBIAN/postrm"
mkdir -p "$out"
dpkg-deb --root-owner-group --build "$root" "$out" >/dev/null
echo "$out/kpilot_$V-1_$arch.deb"
