#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# The checks behind test_install.c, one function per test, run from the top
# of the tree after `make`: `selftests/install/install.sh NAME`. Exit 0 passed,
# 77 skipped (the last line says why), anything else failed (the output says
# what). Everything goes into a temporary directory that is removed at exit;
# nothing is installed on the host.
set -u
TOP=$(pwd)
T=$(mktemp -d /tmp/kpilot-install.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
MAKE="make --no-print-directory"

fail() { echo "FAIL: $*"; exit 1; }
skip() { echo "SKIP: $*"; exit 77; }
need() { command -v "$1" >/dev/null 2>&1 || skip "$1 is not installed ($2)"; }

# What `make install` puts under PREFIX (and /etc), relative to DESTDIR.
expected_files() { # PREFIX
	p=${1#/}
	for f in "$TOP"/tools/profiles/*.json; do echo "$p/share/kpilot/profiles/${f##*/}"; done
	for f in "$TOP"/Documentation/man/*.8; do echo "$p/share/man/man8/${f##*/}"; done
	for f in "$TOP"/Documentation/man/*.5; do echo "$p/share/man/man5/${f##*/}"; done
	printf '%s\n' "$p/sbin/kpilot" "$p/libexec/kpilot/wordcount" \
		"$p/share/kpilot/kpilot.json.example" "$p/lib/systemd/system/kpilot.service" \
		etc/kpilot/kpilot.json
}

files_under() { (cd "$1" && find . ! -type d | sed 's,^\./,,' | sort); }

mode_is() { # FILE MODE
	m=$(stat -c %a "$1") || fail "$1: missing"
	[ "$m" = "$2" ] || fail "$1: mode $m, not $2"
}

# `make install DESTDIR=` with the default PREFIX, then `make uninstall`.
t_install_uninstall() {
	# make install takes ./kpilot as built for the prefix; the sanitized suite's is another build
	[ -z "${KPILOT_SANITIZED:-}" ] || skip "a sanitized build cannot be relinked for another prefix here"
	R=$T/root
	$MAKE install DESTDIR="$R" >"$T/out" 2>&1 || { cat "$T/out"; fail "make install failed"; }
	expected_files /usr/local | sort >"$T/want"
	files_under "$R" >"$T/got"
	diff -u "$T/want" "$T/got" || fail "make install put other files than expected"
	mode_is "$R/usr/local/sbin/kpilot" 755
	mode_is "$R/usr/local/libexec/kpilot/wordcount" 755
	mode_is "$R/etc/kpilot/kpilot.json" 600
	mode_is "$R/etc/kpilot" 700
	mode_is "$R/usr/local/lib/systemd/system/kpilot.service" 644
	cmp -s "$R/usr/local/sbin/kpilot" kpilot || fail "the installed binary is not ./kpilot"
	grep -qx 'ExecStart=/usr/local/sbin/kpilot run --config /etc/kpilot/kpilot.json' \
		"$R/usr/local/lib/systemd/system/kpilot.service" || fail "ExecStart is not the installed binary"
	! grep -q @ "$R/usr/local/lib/systemd/system/kpilot.service" || fail "an @VAR@ is left in the unit"
	grep -q '"command": \["/usr/local/libexec/kpilot/wordcount", "run"' \
		"$R/usr/local/share/kpilot/profiles/wordcount.pipeline.json" ||
		fail "the installed pipeline description does not launch the installed wordcount"
	cmp -s "$R/etc/kpilot/kpilot.json" tools/packaging/kpilot.json || fail "/etc/kpilot/kpilot.json is not the example"
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d == {"http": {"listen": "127.0.0.1:9876"}}, d' \
		"$R/etc/kpilot/kpilot.json" || fail "the example config is not the observe-only contract"
	$MAKE uninstall DESTDIR="$R" >"$T/out" 2>&1 || { cat "$T/out"; fail "make uninstall failed"; }
	files_under "$R" >"$T/got"
	[ ! -s "$T/got" ] || { cat "$T/got"; fail "make uninstall left files"; }
	for d in usr/local/share/kpilot usr/local/libexec/kpilot etc/kpilot; do
		[ ! -e "$R/$d" ] || fail "make uninstall left $d"
	done
	echo "installed $(wc -l <"$T/want") files, uninstalled them"
}

# An admin's /etc/kpilot/kpilot.json: never overwritten, never removed once changed.
t_admin_config() {
	R=$T/root
	mkdir -p "$R/etc/kpilot"
	echo '{"http": {"listen": "127.0.0.1:1"}}' >"$R/etc/kpilot/kpilot.json"
	cp "$R/etc/kpilot/kpilot.json" "$T/admin"
	$MAKE install DESTDIR="$R" >"$T/out" 2>&1 || { cat "$T/out"; fail "make install failed"; }
	cmp -s "$R/etc/kpilot/kpilot.json" "$T/admin" || fail "make install overwrote the admin's config"
	$MAKE uninstall DESTDIR="$R" >"$T/out" 2>&1 || { cat "$T/out"; fail "make uninstall failed"; }
	grep -qx "kpilot: $R/etc/kpilot/kpilot.json was changed: left in place" "$T/out" ||
		{ cat "$T/out"; fail "make uninstall did not say it kept the admin's config"; }
	cmp -s "$R/etc/kpilot/kpilot.json" "$T/admin" || fail "make uninstall removed the admin's config"
	[ "$(files_under "$R")" = etc/kpilot/kpilot.json ] || { files_under "$R"; fail "files left besides the config"; }
	echo "the admin's kpilot.json survived install and uninstall"
}

# A PREFIX=/usr install from a copy of build/ (so ./kpilot is not relinked
# for another prefix): only cli_profiles.o is recompiled.
prefix_usr_root() { # ROOT
	[ -z "${KPILOT_SANITIZED:-}" ] || skip "a sanitized build cannot be relinked for another prefix here"
	B=$T/build
	mkdir -p "$B/tools"
	cp -a build/user build/bpf build/libkpilot.a build/datadir.stamp "$B"/ &&
		cp -a build/*.skel.h "$B"/ && cp -a build/tools/wordcount "$B/tools/" || fail "copying build/"
	$MAKE install OUTPUT="$B" KPILOT_BIN="$T/kpilot" PREFIX=/usr DESTDIR="$1" >"$T/out" 2>&1 ||
		{ cat "$T/out"; fail "make install PREFIX=/usr failed"; }
	[ -x "$1/usr/sbin/kpilot" ] || fail "no usr/sbin/kpilot"
	[ -f "$1/usr/lib/systemd/system/kpilot.service" ] || fail "no usr/lib/systemd/system/kpilot.service"
	[ "$(cat "$B/datadir.stamp")" = /usr/share/kpilot ] || fail "the stamp does not say /usr/share/kpilot"
}

# What systemd-analyze verify needs besides the unit (Documentation/install.md).
unit_world() { # ROOT
	mkdir -p "$1/usr/lib/systemd/system" "$1/bin"
	cp /lib/systemd/system/*.target /lib/systemd/system/*.slice "$1/usr/lib/systemd/system/" 2>/dev/null
	cp /bin/kill "$1/bin/kill"
}

verify() { # ROOT UNIT-PATH-IN-ROOT
	MANPATH=$1/usr/share/man systemd-analyze verify --root="$1" "$2" 2>&1
}

t_unit_verifies() {
	need systemd-analyze "Debian: systemd"
	R=$T/root
	prefix_usr_root "$R"
	unit_world "$R"
	U=/usr/lib/systemd/system/kpilot.service
	out=$(verify "$R" "$U")
	[ -z "$out" ] || { echo "$out"; fail "systemd-analyze verify printed the above"; }
	# The control: a misspelled directive and a missing binary must be reported.
	sed 's/^NoNewPrivileges=/NoNewPrivilege=/' "$R$U" >"$R/usr/lib/systemd/system/kpilot-bad.service"
	out=$(verify "$R" /usr/lib/systemd/system/kpilot-bad.service)
	echo "$out" | grep -q NoNewPrivilege || { echo "$out"; fail "verify did not report a misspelled directive"; }
	rm "$R/usr/sbin/kpilot"
	out=$(verify "$R" "$U")
	echo "$out" | grep -q 'kpilot.*not executable' || { echo "$out"; fail "verify did not report a missing ExecStart binary"; }
	grep -qx 'Type=notify' "$R$U" || fail "the unit is not Type=notify"
	grep -qx 'CapabilityBoundingSet=CAP_BPF CAP_PERFMON CAP_SYS_ADMIN CAP_NET_ADMIN CAP_SYS_RESOURCE' "$R$U" ||
		fail "the capability bounding set is not the documented one"
	echo "systemd-analyze verify: the unit is clean; a misspelled one and a missing binary are reported"
}

# The installed binary finds its profiles under the installed share dir,
# not in the working directory (the tree's top, which has tools/profiles).
t_installed_profiles() {
	need unshare "util-linux"
	[ "$(id -u)" = 0 ] || skip "needs root: a private mount namespace and the journal"
	R=$T/root
	prefix_usr_root "$R"
	K=$R/usr/sbin/kpilot
	# No /usr/share/kpilot at all (a tmpfs over /usr/share, in case the host
	# has kpilot installed), the tree's tools/profiles in the working directory.
	out=$(unshare -m sh -c 'mount -t tmpfs none /usr/share && exec "$1" tune --profile fio --dry-run --state-dir "$2"' \
		sh "$K" "$T/state" 2>&1); rc=$?
	[ $rc = 2 ] || { echo "$out"; fail "exit $rc without /usr/share/kpilot, not 2"; }
	echo "$out" | grep -qxF "kpilot tune: no profile 'fio' (built in: tcp-churn; others in /usr/share/kpilot/profiles/)" ||
		{ echo "$out"; fail "the message does not name the installed directory"; }
	# /usr/share and /usr/libexec of the install root, in a private mount namespace.
	out=$(unshare -m sh -c 'mount --bind "$1/usr/share" /usr/share && mount --bind "$1/usr/libexec" /usr/libexec &&
		exec "$2" tune --profile fio --dry-run --state-dir "$3"' sh "$R" "$K" "$T/state" 2>&1) ||
		{ echo "$out"; fail "the installed binary did not find the installed fio profile"; }
	# (not a would-set line: the host's values, which other runs change, decide those)
	echo "$out" | grep -qx 'kpilot tune: dry run: the config is valid and its first proposal passes the validator' ||
		{ echo "$out"; fail "no dry run of the fio profile"; }
	echo "$out" | grep -q ' vm\.dirty_ratio: ' || { echo "$out"; fail "the dry run is not fio's knobs"; }
	out=$("$K" tune --profile fio --profile-dir "$R/usr/share/kpilot/profiles" --dry-run --state-dir "$T/state" 2>&1) ||
		{ echo "$out"; fail "--profile-dir did not find fio"; }
	mkdir "$T/mine" && cp tools/profiles/sysbench-cpu.json "$T/mine/mine.json"
	out=$("$K" tune --profile mine --profile-dir "$T/mine" --dry-run --state-dir "$T/state" 2>&1) ||
		{ echo "$out"; fail "--profile-dir did not find a profile of its own"; }
	out=$("$K" tune --profile fio --profile-dir "$T/mine" --dry-run --state-dir "$T/state" 2>&1); rc=$?
	[ $rc = 2 ] && echo "$out" | grep -qF "others in $T/mine/)" ||
		{ echo "$out"; fail "--profile-dir did not replace the other directories (exit $rc)"; }
	echo "profiles: /usr/share/kpilot/profiles (compiled in), never the working directory; --profile-dir overrides"
}

# The installed wordcount.pipeline.json launches the installed wordcount.
t_installed_pipeline() {
	need unshare "util-linux"
	[ "$(id -u)" = 0 ] || skip "needs root: cgroups and BPF"
	R=$T/root
	prefix_usr_root "$R"
	cgroups() { find /sys/fs/cgroup/*/kpilot /sys/fs/cgroup/kpilot -type d 2>/dev/null | sort; }
	cgroups >"$T/cg.before"
	out=$(unshare -m sh -c 'mount --bind "$1/usr/share" /usr/share && mount --bind "$1/usr/libexec" /usr/libexec &&
		cd / && exec "$2" tune --profile wordcount --algo static --trials 2 --state-dir "$3" --out "$4" -q --json' \
		sh "$R" "$R/usr/sbin/kpilot" "$T/state" "$T/out.d" 2>&1) || { echo "$out"; fail "the installed pipeline run failed"; }
	# Its relative build/tools/... path would not resolve from /usr/sbin: the
	# rewritten absolute one did, and the pipeline moved sentences.
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))
assert d["workload_name"] == "wordcount" and d["trials"] == 2 and d["failures"] == 0, d
assert all(h["ok"] and h["state"]["throughput"] > 0 for h in d["history"]), d["history"]' "$T/out.d/results.json" ||
		{ ls -R "$T/out.d"; fail "no results.json of 2 good intervals"; }
	cgroups | diff -u "$T/cg.before" - || fail "the pipeline run left cgroups"
	echo "the installed wordcount pipeline ran 2 intervals from /"
}

MAN=Documentation/man
PAGES="kpilot.8 kpilot-observe.8 kpilot-tune.8 kpilot-run.8 kpilot-ctl.8 kpilot-set.8
	kpilot-rollback.8 kpilot-probe.8 kpilot-persist.8 kpilot-report.8 kpilot.json.5"

# Every page the issue names exists and renders without a warning.
t_man_render() {
	need groff "Debian: groff-base"
	for p in $PAGES; do
		[ -f "$MAN/$p" ] || fail "no $MAN/$p"
		out=$(groff -ww -z -man "$MAN/$p" 2>&1)
		[ -z "$out" ] || { echo "$out"; fail "groff -ww -z -man $p printed the above"; }
	done
	# The control: a page with a bad request must be reported.
	printf '.TH X 8\n.SH NAME\nx \\- y\n.BOGUS\n.SH X\n\\fBunclosed\n' >"$T/bad.8"
	[ -n "$(groff -ww -z -man "$T/bad.8" 2>&1)" ] || fail "groff -ww did not complain about a bad page"
	[ "$(ls $MAN | wc -l)" = 11 ] || { ls $MAN; fail "pages besides the eleven"; }
	# One version everywhere: the binary's, the pages', the packages'.
	v=$(./kpilot --version | sed 's/^kpilot //')
	for p in $PAGES; do
		grep -q "^\.TH [^ ]* [58] [0-9-]* \"kpilot $v\"" "$MAN/$p" || fail "$p: .TH does not say kpilot $v"
	done
	grep -qx "Version: *$v" tools/packaging/kpilot.spec || fail "kpilot.spec: Version is not $v"
	echo "11 pages render without warnings"
}

# Each command's page: its options are those of its --help, its examples are
# --help examples (which tools/doc-commands runs).
t_man_options() {
	rc=0
	./kpilot --help >"$T/help.main" || fail "kpilot --help failed"
	python3 selftests/install/man_check.py commands $MAN/kpilot.8 "$T/help.main" || rc=1
	for c in observe tune set rollback probe persist report; do
		./kpilot $c --help >"$T/help.$c" || fail "kpilot $c --help failed"
		python3 selftests/install/man_check.py options $MAN/kpilot-$c.8 "$T/help.$c" || rc=1
		python3 selftests/install/man_check.py examples $MAN/kpilot-$c.8 "$T/help.$c" || rc=1
	done
	python3 selftests/install/man_check.py examples $MAN/kpilot.8 "$T"/help.* || rc=1
	[ $rc = 0 ] || fail "the man pages and --help differ (above)"
	# The controls: a missing option, an option --help lacks, a made-up example.
	P=$MAN/kpilot-probe.8
	grep -v '^\\fB\\-j\\fR, \\fB\\-\\-json\\fR$' $P >"$T/p1.8"
	sed 's/^\\fB\\-v\\fR, \\fB\\-\\-verbose\\fR$/\\fB\\-\\-bogus\\fR/' $P >"$T/p2.8"
	sed 's/^kpilot probe \\-\\-json /kpilot probe \\-\\-jsn /' $P >"$T/p3.8"
	for k in 1 2; do
		! python3 selftests/install/man_check.py options "$T/p$k.8" "$T/help.probe" >/dev/null ||
			fail "man_check.py missed a changed option in control $k"
	done
	! python3 selftests/install/man_check.py examples "$T/p3.8" "$T/help.probe" >/dev/null ||
		fail "man_check.py missed a changed example"
	cmp -s $P "$T/p1.8" || cmp -s $P "$T/p2.8" || cmp -s $P "$T/p3.8" && fail "a control page is unchanged"
	echo "observe, tune, set, rollback, probe, persist, report: options and examples match --help"
}

# kpilot run and kpilot ctl: the same check once the daemon is in the binary.
t_man_daemon() {
	for c in run ctl; do
		./kpilot $c --help >"$T/help.$c" 2>&1 ||
			skip "kpilot $c is not in this build (issue 14's daemon, another change): its page documents the contract"
	done
	rc=0
	for c in run ctl; do
		python3 selftests/install/man_check.py options $MAN/kpilot-$c.8 "$T/help.$c" || rc=1
	done
	[ $rc = 0 ] || fail "kpilot-run(8) or kpilot-ctl(8) and --help differ (above)"
	echo "run, ctl: options match --help"
}

# The RPM: built with rpmbuild from the tree's tracked files, payload checked.
t_rpm() {
	need rpmbuild "Debian: rpm (tools/deps.sh --extras)"
	need rpm2archive "Debian: rpm"
	[ -z "${KPILOT_SANITIZED:-}" ] || skip "the sanitized suite runs in build/san: the RPM builds its own binary, unsanitized"
	top=$(git rev-parse --show-toplevel 2>/dev/null) && [ "$(cd "$top" && pwd -P)" = "$(pwd -P)" ] || skip "not the top of a git tree: the tarball is the tracked files"
	V=$(sed -n 's/^Version: *//p' tools/packaging/kpilot.spec)
	mkdir -p "$T/rpm/SOURCES"
	# As Documentation/install.md shows (git ls-files -z for odd names).
	git ls-files -z | xargs -0 tar czf "$T/rpm/SOURCES/kpilot-$V.tar.gz" --transform "s,^,kpilot-$V/," ||
		fail "making the tarball"
	nice -n 10 rpmbuild -bb --nodeps --define "_topdir $T/rpm" --define 'debug_package %{nil}' \
		--load selftests/data/install/systemd.macros tools/packaging/kpilot.spec >"$T/rpm.log" 2>&1 ||
		{ tail -n 40 "$T/rpm.log"; fail "rpmbuild failed"; }
	grep -q ' BPF .*sched.bpf.o\|clang .*-target bpf' "$T/rpm.log" || fail "the BPF programs were not compiled in the build"
	P=$(ls "$T"/rpm/RPMS/*/kpilot-"$V"-*.rpm) || fail "no kpilot rpm"
	rpm -qlp "$P" >"$T/list" 2>/dev/null || fail "rpm -qlp failed"
	sb=$(rpm --eval %_sbindir)
	for f in "$sb/kpilot" /usr/lib/systemd/system/kpilot.service /usr/libexec/kpilot/wordcount \
	    /etc/kpilot/kpilot.json /usr/share/kpilot/kpilot.json.example; do
		grep -qx "$f" "$T/list" || { cat "$T/list"; fail "$f is not in the package"; }
	done
	for f in Documentation/man/*.8 Documentation/man/*.5; do
		n=${f##*/}
		grep -q "^/usr/share/man/man${n##*.}/$n" "$T/list" || { cat "$T/list"; fail "man page $n is not in the package"; }
	done
	for f in tools/profiles/*.json; do
		grep -qx "/usr/share/kpilot/profiles/${f##*/}" "$T/list" || fail "profile ${f##*/} is not in the package"
	done
	rpm -qp --configfiles "$P" 2>/dev/null | grep -qx /etc/kpilot/kpilot.json || fail "kpilot.json is not %config"
	rpm -qp --scripts "$P" >"$T/scripts" 2>/dev/null
	for s in 'postinstall.*' 'preuninstall.*' 'postuninstall.*'; do
		sed -n "/^$s scriptlet/,/^[a-z]* scriptlet/p" "$T/scripts" | grep -q 'systemctl.*kpilot.service' ||
			{ cat "$T/scripts"; fail "no systemctl call in the $s scriptlet"; }
	done
	# The payload: its unit verifies, its binary runs and knows its prefix.
	R=$T/payload
	mkdir -p "$R" && rpm2archive - <"$P" | tar xzf - -C "$R" || fail "unpacking the payload"
	"$R$sb/kpilot" --version | grep -qx "kpilot $V" || fail "the packaged binary does not say kpilot $V"
	out=$("$R$sb/kpilot" tune --profile no-such-profile --dry-run --state-dir "$T/state" 2>&1)
	echo "$out" | grep -qF "others in /usr/share/kpilot/profiles/)" || { echo "$out"; fail "the packaged binary does not look in /usr/share/kpilot"; }
	if command -v systemd-analyze >/dev/null; then
		unit_world "$R"
		out=$(verify "$R" /usr/lib/systemd/system/kpilot.service)
		[ -z "$out" ] || { echo "$out"; fail "systemd-analyze verify of the packaged unit printed the above"; }
	fi
	echo "rpm: $(basename "$P"), $(wc -l <"$T/list") paths; unit verified; binary runs"
}

# The .deb: tools/packaging/mkdeb.sh over a PREFIX=/usr install, contents,
# control fields and scriptlets checked (it is not installed: dpkg would run
# its scriptlets against this host).
t_deb() {
	need dpkg-deb "Debian: dpkg"
	need dpkg-shlibdeps "Debian: dpkg-dev"
	[ -z "${KPILOT_SANITIZED:-}" ] || skip "a sanitized build cannot be relinked for another prefix here"
	B=$T/build
	mkdir -p "$B/tools"
	cp -a build/user build/bpf build/libkpilot.a build/datadir.stamp build/*.skel.h "$B"/ &&
		cp -a build/tools/wordcount "$B/tools/" || fail "copying build/"
	D=$(tools/packaging/mkdeb.sh "$T/deb" OUTPUT="$B" KPILOT_BIN="$T/kpilot" 2>"$T/err") ||
		{ cat "$T/err"; fail "mkdeb.sh failed"; }
	[ -f "$D" ] || fail "mkdeb.sh printed $D, which is not a file"
	dpkg-deb -f "$D" Package Version Depends >"$T/fields" || fail "dpkg-deb -f failed"
	grep -qx 'Package: kpilot' "$T/fields" && grep -q '^Version: [0-9.]*-1$' "$T/fields" ||
		{ cat "$T/fields"; fail "wrong package name or version"; }
	for lib in libbpf.so libjansson.so; do
		real=$(readlink -f "$(ldconfig -p | sed -n "s/.*$lib\.[0-9]* .*=> //p" | head -n1)")
		pkg=$(dpkg -S "*/${real##*/}" 2>/dev/null | sed 's/:.*//' | head -n1)
		[ -n "$pkg" ] || fail "no Debian package holds $lib ($real)"
		grep -q "^Depends:.*$pkg" "$T/fields" || { cat "$T/fields"; fail "Depends lacks $pkg (for $lib)"; }
	done
	dpkg-deb --ctrl-tarfile "$D" | tar xf - -C "$T" ./conffiles ./postinst ./prerm ./postrm || fail "no control files"
	grep -qx /etc/kpilot/kpilot.json "$T/conffiles" || fail "kpilot.json is not a conffile"
	for s in postinst prerm postrm; do sh -n "$T/$s" || fail "$s is not valid sh"; done
	! grep -q 'helper enable' "$T/postinst" || fail "postinst enables the unit on install"
	R=$T/payload
	dpkg-deb -x "$D" "$R" || fail "dpkg-deb -x failed"
	(cd "$R" && find . ! -type d | sed 's,^\./,,; s,\.gz$,,' | sort) >"$T/got"
	expected_files /usr | sort | diff -u - "$T/got" || fail "the .deb holds other files than make install"
	mode_is "$R/etc/kpilot/kpilot.json" 600
	"$R/usr/sbin/kpilot" --version | grep -q '^kpilot ' || fail "the packaged binary does not run"
	if command -v systemd-analyze >/dev/null; then
		unit_world "$R"
		out=$(verify "$R" /usr/lib/systemd/system/kpilot.service)
		[ -z "$out" ] || { echo "$out"; fail "systemd-analyze verify of the packaged unit printed the above"; }
	fi
	echo "deb: $(basename "$D"), $(wc -l <"$T/got") files; $(sed -n 's/^Depends: //p' "$T/fields")"
}

# The unit's CapabilityBoundingSet is enough for what kpilot does, and not
# an empty promise: setpriv gives a process exactly that bounding set (and
# no_new_privs, as the unit does); without those capabilities the same
# commands fail.
t_caps() {
	need setpriv "util-linux"
	need ip "iproute2"
	[ "$(id -u)" = 0 ] || skip "needs root: the capabilities are root's"
	caps=$(sed -n 's/^CapabilityBoundingSet=//p' tools/packaging/kpilot.service.in)
	[ -n "$caps" ] || fail "no CapabilityBoundingSet in the unit"
	bset=-all
	for c in $caps; do bset="$bset,+$(echo "${c#CAP_}" | tr A-Z a-z)"; done
	ns=kpilot-install-$$
	ip netns add $ns || fail "ip netns add $ns"
	trap 'ip netns delete '$ns' 2>/dev/null; rm -rf "$T"' EXIT
	orig=$(ip netns exec $ns cat /proc/sys/net/core/somaxconn)
	sp() { b=$1; shift; setpriv --inh-caps=-all --no-new-privs --bounding-set="$b" "$@"; }
	sp "$bset" grep -q "^CapBnd:.*[1-9a-f]" /proc/self/status || fail "setpriv did not keep a bounding set"
	out=$(sp "$bset" ./kpilot observe --duration 1 --json 2>&1 >"$T/obs") ||
		{ echo "$out"; fail "kpilot observe fails with $caps"; }
	grep -q '"pid"' "$T/obs" || fail "kpilot observe printed no process with $caps"
	./kpilot probe | sed 's/ (.*//' >"$T/probe.root"
	sp "$bset" ./kpilot probe | sed 's/ (.*//' | diff -u "$T/probe.root" - ||
		fail "kpilot probe answers differently with $caps than with every capability"
	sp "$bset" ./kpilot set --state-dir "$T/state" --netns $ns net.core.somaxconn=$((orig + 100)) >"$T/out" 2>&1 ||
		{ cat "$T/out"; fail "kpilot set --netns fails with $caps"; }
	[ "$(ip netns exec $ns cat /proc/sys/net/core/somaxconn)" = $((orig + 100)) ] || fail "set --netns did not write"
	sp "$bset" ./kpilot rollback --state-dir "$T/state" >"$T/out" 2>&1 || { cat "$T/out"; fail "rollback fails with $caps"; }
	[ "$(ip netns exec $ns cat /proc/sys/net/core/somaxconn)" = "$orig" ] || fail "rollback did not restore"
	sp "$bset" ip -n $ns link set lo up || fail "a private namespace's loopback (kpilot tune) fails with $caps"
	# A cgroup CPU limit, in a cgroup of the test's own (v1 cpu, or v2 with cpu delegated).
	cg=kpilot-install-$$
	if [ -d /sys/fs/cgroup/cpu ] && [ ! -f /sys/fs/cgroup/cgroup.controllers ]; then
		cgd=/sys/fs/cgroup/cpu/$cg quota=cpu.cfs_quota_us want=50000
	elif grep -qw cpu /sys/fs/cgroup/cgroup.subtree_control 2>/dev/null; then
		cgd=/sys/fs/cgroup/$cg quota=cpu.max want="50000 100000"
	else
		cgd=
	fi
	if [ -n "$cgd" ]; then
		mkdir "$cgd" || fail "mkdir $cgd"
		trap 'ip netns delete '$ns' 2>/dev/null; rmdir '$cgd' 2>/dev/null; rm -rf "$T"' EXIT
		before=$(cat "$cgd/$quota")
		sp "$bset" ./kpilot set --state-dir "$T/state" "cgroup:$cg:cpu.max=50000 100000" >"$T/out" 2>&1 ||
			{ cat "$T/out"; fail "kpilot set of a cgroup CPU limit fails with $caps"; }
		[ "$(cat "$cgd/$quota")" = "$want" ] || fail "$cgd/$quota is $(cat "$cgd/$quota"), not $want"
		sp "$bset" ./kpilot rollback --state-dir "$T/state" >"$T/out" 2>&1 || { cat "$T/out"; fail "rollback fails"; }
		[ "$(cat "$cgd/$quota")" = "$before" ] || fail "$cgd/$quota not restored"
		rmdir "$cgd"
	fi
	# The controls: none of the five, and the observer's pair alone.
	! sp -all ./kpilot observe --duration 1 >/dev/null 2>&1 || fail "kpilot observe works without capabilities"
	! sp -all ./kpilot set --state-dir "$T/state" --netns $ns net.core.somaxconn=$((orig + 100)) >/dev/null 2>&1 ||
		fail "kpilot set --netns works without capabilities"
	./kpilot rollback --state-dir "$T/state" >/dev/null 2>&1
	! sp -all,+bpf,+perfmon ./kpilot set --state-dir "$T/state" --netns $ns net.core.somaxconn=$((orig + 100)) \
		>/dev/null 2>&1 || fail "kpilot set --netns works without CAP_SYS_ADMIN"
	./kpilot rollback --state-dir "$T/state" >/dev/null 2>&1
	! sp -all,+bpf ./kpilot observe --duration 1 >/dev/null 2>&1 || fail "kpilot observe works with CAP_BPF alone"
	! sp -all,+sys_admin,+bpf,+perfmon ip -n $ns link set lo down 2>/dev/null || fail "ip link works without CAP_NET_ADMIN"
	[ "$(ip netns exec $ns cat /proc/sys/net/core/somaxconn)" = "$orig" ] || fail "somaxconn not restored"
	echo "with $caps and no_new_privs: observe, probe, set --netns${cgd:+, a cgroup CPU limit}, rollback, ip link work; without them they fail"
}

# KEEP=1: leave the temporary directory for a look (debugging).
[ -n "${KEEP:-}" ] && trap - EXIT
"t_$1"
