#!/bin/sh
# Install kpilot's build and test dependencies from the distro, only when
# something is missing: silent and fast (no package manager run) otherwise.
#   tools/deps.sh            build + test deps
#   tools/deps.sh --extras   also the benchmark tools the tuning profiles drive,
#                            and valgrind (tools/valgrind-check.sh)
#   tools/deps.sh --bench    also what tools/bench/ needs (PyTorch for bench/ppo)
#   tools/deps.sh --vm       also what `make vmtest` boots a kernel with
#   tools/deps.sh --analyze  also what `make analyze` runs besides clang
set -eu

extras=0 bench=0 vm=0 analyze=0
for arg in "$@"; do
	case "$arg" in
	--extras) extras=1 ;;
	--bench) bench=1 ;;
	--vm) vm=1 ;;
	--analyze) analyze=1 ;;
	*) echo "usage: tools/deps.sh [--extras] [--bench] [--vm] [--analyze]" >&2; exit 2 ;;
	esac
done

have_hdr() { printf '#include <%s>\n' "$1" | ${CC:-cc} -E -x c - >/dev/null 2>&1; }
have_cmd() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }

missing=""
need() { missing="$missing $1"; }

if [ -r /etc/os-release ]; then . /etc/os-release; fi
family=unknown
case " ${ID:-} ${ID_LIKE:-} " in
*" debian "*|*" ubuntu "*) family=debian ;;
*" fedora "*|*" rhel "*|*" centos "*|*" openEuler "*|*" openeuler "*) family=fedora ;;
esac
command -v apt-get >/dev/null 2>&1 && [ "$family" = unknown ] && family=debian
command -v dnf >/dev/null 2>&1 && [ "$family" = unknown ] && family=fedora

# pkg names: debian | fedora
check() { # check <kind> <what> <debian pkg> <fedora pkg>
	case "$1" in
	cmd) have_cmd "$2" && return 0 ;;
	hdr) have_hdr "$2" && return 0 ;;
	py) /usr/bin/python3 -c "import $2" >/dev/null 2>&1 && return 0 ;;
	esac
	if [ "$family" = fedora ]; then need "$4"; else need "$3"; fi
}

check cmd cc gcc gcc
check cmd make make make
check cmd clang clang clang
check cmd llvm-strip llvm llvm
check cmd bpftool bpftool bpftool
check cmd pkg-config pkg-config pkgconf-pkg-config
check cmd ip iproute2 iproute
# test_persist reads a persisted sysctl.d file back with sysctl --system
check cmd sysctl procps procps-ng
check cmd perf linux-perf perf
check hdr bpf/libbpf.h libbpf-dev libbpf-devel
check hdr gelf.h libelf-dev elfutils-libelf-devel
check hdr zlib.h zlib1g-dev zlib-devel
check hdr jansson.h libjansson-dev jansson-devel
# kpilot run's HTTP listener (/metrics, /stats)
check hdr microhttpd.h libmicrohttpd-dev libmicrohttpd-devel
# the LLM endpoint client of kpilot tune --intent --llm (Documentation/llm.md)
check hdr curl/curl.h libcurl4-openssl-dev libcurl-devel
# SHA-256 of the files kpilot persist keeps (journaled by content)
check hdr openssl/evp.h libssl-dev openssl-devel
check hdr criterion/criterion.h libcriterion-dev criterion-devel
check cmd python3 python3 python3
# test_install renders the man pages (groff -ww -z -man).
check cmd groff groff-base groff-base

if [ "$extras" = 1 ]; then
	check cmd pgbench postgresql-contrib postgresql-contrib
	check cmd postgres postgresql postgresql-server
	check cmd sysbench sysbench sysbench
	check cmd fio fio fio
	check cmd wrk wrk wrk
	check cmd nginx nginx nginx
	# tools/valgrind-check.sh (CI); make fuzz needs only clang's libFuzzer.
	check cmd valgrind valgrind valgrind
	# tools/optimizers/optuna.py, for kpilot tune --algo external
	check py optuna python3-optuna python3-optuna
	# test_install builds the RPM (Debian's rpm has rpmbuild and rpm2archive)
	check cmd rpmbuild rpm rpm-build
	# ... and the .deb (tools/packaging/mkdeb.sh), on Debian and Ubuntu
	if [ "$family" = debian ]; then check cmd dpkg-shlibdeps dpkg-dev dpkg-dev; fi
	# test_daemon: promtool check metrics, and a real Prometheus scraping kpilot run
	# (Fedora's package; openEuler's name was not checked here)
	check cmd promtool prometheus golang-github-prometheus
fi

# make vmtest: virtme-ng (vng) is used where the distro ships it (Fedora);
# otherwise tools/vmtest/run.sh needs qemu, a static busybox for the guest's
# insmod, and dpkg-deb/apt-get (Debian) to fetch the kernels (KERNEL=5.10,
# 6.1, 6.12). Its hang watch talks QMP with python3 (a default dependency:
# no socat); kmod's depmod is used when present, busybox's otherwise.
if [ "$vm" = 1 ] && ! have_cmd vng; then
	check cmd qemu-system-x86_64 qemu-system-x86 qemu-system-x86-core
	# Kernel images and modules come xz- or zstd-compressed.
	check cmd xz xz-utils xz
	check cmd zstd zstd zstd
	if [ "$family" = fedora ]; then
		[ -x /usr/sbin/busybox ] || [ -x /usr/bin/busybox ] || need busybox
	else
		[ -x /bin/busybox ] || need busybox-static
	fi
fi

if [ "$analyze" = 1 ]; then
	check cmd cppcheck cppcheck cppcheck
fi

if [ "$bench" = 1 ]; then
	# The distro's interpreter and its torch: tools/bench/ppo runs /usr/bin/python3.
	check py torch python3-torch python3-torch
	check cmd taskset util-linux util-linux
fi

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
	echo "kpilot: missing build dependencies:$missing" >&2
	echo "kpilot: run as root (sudo make ...) so tools/deps.sh can install them" >&2
	exit 2
fi

echo "kpilot: installing:$missing"
case "$family" in
debian)
	export DEBIAN_FRONTEND=noninteractive
	# Update the lists only when a plain install cannot find a package.
	# shellcheck disable=SC2086
	apt-get install -y -qq $missing >/dev/null 2>&1 || {
		apt-get update -qq >/dev/null
		apt-get install -y -qq $missing >/dev/null
	}
	;;
fedora)
	# shellcheck disable=SC2086
	dnf install -y -q $missing
	;;
*)
	echo "kpilot: unknown distribution; install by hand:$missing" >&2
	exit 2
	;;
esac
