#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# make analyze: clang's static analyzer and cppcheck over kpilot's own C.
#   tools/analyze/run.sh OUTPUT "FLAGS" FILE.c...
# FLAGS are the build's -std, -D and -I flags. Every finding is printed
# (clang's with the path that leads to it); exit 1 if there is any, 2 if a
# file did not parse. ANALYZE_JOBS: files at a time (default: the CPUs).
# Not ours, so not checked: the skeletons bpftool generates into OUTPUT
# (clang reports a potential leak in every <name>__create_skeleton).
set -eu

out=$1 flags=$2
shift 2
here=$(dirname "$0")
clang=${CLANG:-clang}
jobs=${ANALYZE_JOBS:-$(nproc)}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# One clang run per file, jobs at a time; each writes its report and status.
export clang flags tmp
# shellcheck disable=SC2016 # expanded by the inner shell
printf '%s\n' "$@" | xargs -P "$jobs" -n 1 sh -c '
	f=$(printf %s "$1" | tr / _)
	rc=0
	$clang --analyze -Xanalyzer -analyzer-output=text $flags -o /dev/null "$1" \
		>"$tmp/$f.out" 2>&1 || rc=$?
	echo $rc >"$tmp/$f.rc"' sh

findings=0 broken=0
for src in "$@"; do
	f=$(printf %s "$src" | tr / _)
	if [ "$(cat "$tmp/$f.rc")" != 0 ]; then
		echo "analyze: clang could not analyze $src:" >&2
		cat "$tmp/$f.out" >&2
		broken=$((broken + 1))
		continue
	fi
	# A finding is a warning line and the notes after it; drop the skeletons'.
	awk -v skel="^$out/[^/]*[.]skel[.]h:" -v cnt="$tmp/$f.n" '
		/^[^ ].*: warning: / { keep = $0 !~ skel; if (keep) n++ }
		/^[0-9]+ warnings? generated[.]$/ { next }
		keep { print }
		END { print n + 0 > cnt }' "$tmp/$f.out"
	findings=$((findings + $(cat "$tmp/$f.n")))
done
clang_n=$findings

# cppcheck: its error, warning, portability and performance checks (style
# advice is not a finding), with the build's defines and the tree's headers.
cpp_flags=
for w in $flags; do
	case "$w" in -D*|-I*) cpp_flags="$cpp_flags $w" ;; esac
done
# shellcheck disable=SC2086
cppcheck -q -j "$jobs" --std=c11 $cpp_flags --library="$here/libbpf.cfg" \
	--enable=warning,portability,performance --inline-suppr \
	--suppress="*:$out/*" \
	--template='{file}:{line}:{column}: {severity}: {message} [{id}]\n{code}' \
	"$@" 2>"$tmp/cppcheck.out" || broken=$((broken + 1))
cat "$tmp/cppcheck.out"
cpp_n=$(grep -Ec '^[^ ]+:[0-9]+:[0-9]+: [a-z]+: ' "$tmp/cppcheck.out" || true)
findings=$((findings + cpp_n))

echo "analyze: $# files: clang $clang_n findings, cppcheck $cpp_n findings"
[ "$broken" = 0 ] || exit 2
[ "$findings" = 0 ] || exit 1
