# SPDX-License-Identifier: GPL-2.0
# kpilot: eBPF observer + learning agent + safe actuators, one binary.
#
#   make            build ./kpilot (BPF objects, skeletons, agent)
#   make check      install missing deps, build, run every selftest
#   make demo       install missing deps, build, run the default demo
#   make analyze    clang --analyze and cppcheck over user/ and tools/: any finding fails
#   make install    [PREFIX=/usr/local] [DESTDIR=]; make uninstall (Documentation/install.md)
#   make vmlinux    regenerate vmlinux/<arch>/vmlinux.h from the running kernel
#   make vmtest     run the selftests on a second kernel in a throwaway VM
#                   [KERNEL=5.10|6.1|6.12|vmlinuz] [VMTEST_TESTS="a b"] [VMTEST_CMD=...]
#                   (Documentation/testing.md)
#   make V=1 ...    show the commands

# make check SANITIZE=address,undefined: the same build and suite with ASan
# and UBSan, in build/san/ (a tree of its own: build/san/kpilot, build/san/build/,
# links to the sources), since the tests run ./kpilot and build/... . Without
# TESTS= it leaves out SAN_LEAVE_OUT: benchmarks and packaging whose code the
# rest of the suite runs too (tune_profiles: pgbench, fio, sysbench, wrk;
# bench_tuning, replicas_bench, daemon_bench, pipeline_bench: timed benchmark runs; install: rpmbuild
# compiles the whole tree; observer_stress: minutes of thread and fork churn;
# tune_external, signals, wordcount_signals, pipeline_env: tune's, the signal
# handlers' and the pipeline's code again, dozens of runs: the slowest binaries
# natively, 80 s each, CI's budget of testing.md).
SAN_LEAVE_OUT := tune_profiles bench_tuning replicas_bench daemon_bench install observer_stress \
	tune_external signals wordcount_signals pipeline_env pipeline_bench
ifneq ($(SANITIZE),)
OUTPUT   ?= build/san/build
SAN_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
KPILOT_BIN := $(OUTPUT)/../kpilot
# clang: gcc's sanitizer builds warn falsely (-Wformat-truncation, -Wnonnull).
ifneq ($(origin CC),command line)
CC := clang
endif
SAN_ENV := ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
endif
OUTPUT   ?= build
KPILOT_BIN ?= kpilot
CLANG    ?= clang
CC       ?= cc
BPFTOOL  ?= $(shell command -v bpftool 2>/dev/null || echo /usr/sbin/bpftool)
PKG_CONFIG ?= pkg-config

# Same arch naming as libbpf-bootstrap: uname -m -> kernel arch directory.
ARCH ?= $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/' \
	-e 's/ppc64le/powerpc/' -e 's/mips.*/mips/' -e 's/riscv64/riscv/' \
	-e 's/loongarch64/loongarch/' -e 's/s390x/s390/')
VMLINUX := vmlinux/$(ARCH)/vmlinux.h

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

LIBS := $(shell $(PKG_CONFIG) --libs libbpf jansson libelf zlib libmicrohttpd libcurl libcrypto 2>/dev/null || echo -lbpf -ljansson -lelf -lz -lmicrohttpd -lcurl -lcrypto) -lm -lpthread
CFLAGS ?= -g -O2
CFLAGS += -std=gnu11 -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
	-Werror -D_GNU_SOURCE -I$(OUTPUT) -Iuser -Ibpf $(SAN_CFLAGS)
# Stricter for kpilot's own code and tools than for the tests (which build
# formats at run time on purpose): the tree is clean with these.
WARN_USER := -Wshadow -Wformat=2
# The rooms that write the host's knobs also refuse silent narrowing
# (sign changes stay allowed: sizes and counts mix size_t and int).
WARN_STRICT := -Wconversion -Wno-sign-conversion
BPF_CFLAGS := -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -Wall -Werror \
	-Wno-unused-function -I$(dir $(VMLINUX)) -Ibpf
# Clang's own system includes (for asm/types.h and friends), as libbpf-bootstrap does.
CLANG_BPF_SYS_INCLUDES ?= $(shell $(CLANG) -v -E - </dev/null 2>&1 \
	| sed -n '/<...> search starts here:/,/End of search list./{ s| \(/.*\)|-idirafter \1|p }')

# Sources are found by glob: a new file in a room (user/<room>/, one level
# below for environments) or a new test in selftests/<room>/ needs no edit
# here. Test binaries stay flat in $(OUTPUT)/selftests/ (their names are the
# TESTS= and VMTEST_TESTS= names). tools/bench/bench.bpf.c is the overhead
# benchmark's reference program, not part of kpilot.
BPF_SRCS  := $(wildcard bpf/*.bpf.c) tools/bench/bench.bpf.c
BPF_OBJS  := $(patsubst %.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(notdir $(BPF_SRCS)))
SKELS     := $(patsubst %.bpf.c,$(OUTPUT)/%.skel.h,$(notdir $(BPF_SRCS)))
USER_SRCS := $(wildcard user/*/*.c user/*/*/*.c)
USER_OBJS := $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(USER_SRCS))
TEST_SRCS := $(wildcard selftests/*/test_*.c)
TEST_BINS := $(patsubst %.c,$(OUTPUT)/selftests/%,$(notdir $(TEST_SRCS)))
TOOL_SRCS := $(filter-out %.bpf.c tools/wordcount/% tools/replicas/%,$(wildcard tools/*/*.c))
TOOL_BINS := $(patsubst %.c,$(OUTPUT)/%,$(TOOL_SRCS))
# A tool of several files: tools/wordcount/*.c linked into one binary.
WC_OBJS   := $(patsubst %.c,$(OUTPUT)/%.o,$(wildcard tools/wordcount/*.c))
TOOL_BINS += $(OUTPUT)/tools/wordcount/wordcount
# The replica service and its benchmark (tools/replicas/*.c): it steers
# through kpilot's own code, so it links libkpilot.a.
RP_OBJS   := $(patsubst %.c,$(OUTPUT)/%.o,$(wildcard tools/replicas/*.c))
TOOL_BINS += $(OUTPUT)/tools/replicas/replicas
# Header dependencies come from the compiler (-MMD); only the generated
# skeletons must be named, since no .d file exists before the first build.
DEPFLAGS   = -MMD -MP -MF $@.d

# Per-file flags: the agent's math may opt into faster code, e.g.
#   CFLAGS_mlp.o := -O3 -march=native
# (never fast-math where NaN/Inf guards live).
-include user/flags.mk

.PHONY: all clean check demo deps vmlinux selftests tools bench vmtest fuzz fuzz-bins analyze
.DELETE_ON_ERROR:
# Keep skeletons and BPF objects: they are inputs to several targets.
.SECONDARY:

all: $(KPILOT_BIN) tools

$(KPILOT_BIN): $(OUTPUT)/user/main.o $(OUTPUT)/libkpilot.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $^ $(LIBS) -o $@

$(OUTPUT)/libkpilot.a: $(USER_OBJS)
	$(call msg,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(OUTPUT)/user/%.o: user/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(WARN_USER) $(if $(filter user/safety/% user/actuate/%,$<),$(WARN_STRICT)) \
		$(CFLAGS_$(notdir $@)) $(DEPFLAGS) -c $< -o $@

# An object that includes a skeleton depends on that skeleton (read from its
# #include lines: no .d file exists before the first build to say so).
skels_of = $(patsubst %,$(OUTPUT)/%,$(shell sed -n 's/^\#include "\(.*\.skel\.h\)".*/\1/p' $(1)))
$(foreach src,$(USER_SRCS),$(eval $(patsubst user/%.c,$(OUTPUT)/user/%.o,$(src)): $(call skels_of,$(src))))

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c $(VMLINUX) | $(OUTPUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) $(CLANG_BPF_SYS_INCLUDES) -MMD -MP -MF $@.d -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(OUTPUT)/bpf/bench.bpf.o: tools/bench/bench.bpf.c $(VMLINUX) | $(OUTPUT)/bpf
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) $(CLANG_BPF_SYS_INCLUDES) -MMD -MP -MF $@.d -c $< -o $@.tmp
	$(Q)$(BPFTOOL) gen object $@ $@.tmp && rm -f $@.tmp

$(OUTPUT)/%.skel.h: $(OUTPUT)/bpf/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name $(subst -,_,$*)_bpf > $@

# One rule per test: the binary is flat, its source is in its room.
define test_rule
$(OUTPUT)/selftests/$(basename $(notdir $(1))): $(1) $(OUTPUT)/libkpilot.a | $(OUTPUT)/selftests
	$$(call msg,TEST-CC,$$@)
	$$(Q)$$(CC) $$(CFLAGS) $$(DEPFLAGS) $$< $(OUTPUT)/libkpilot.a $$(LIBS) -lcriterion -o $$@
endef
$(foreach t,$(TEST_SRCS),$(eval $(call test_rule,$(t))))

$(OUTPUT)/tools/%: tools/%.c $(OUTPUT)/libkpilot.a
	$(call msg,CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(WARN_USER) $(DEPFLAGS) $< $(OUTPUT)/libkpilot.a $(LIBS) -o $@

$(foreach src,$(TOOL_SRCS),$(eval $(patsubst %.c,$(OUTPUT)/%,$(src)): $(call skels_of,$(src))))

$(OUTPUT)/tools/wordcount/%.o: tools/wordcount/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(WARN_USER) $(DEPFLAGS) -c $< -o $@

# Objects only: a .d left by the one-file rule still names wordcount.c.
$(OUTPUT)/tools/wordcount/wordcount: $(WC_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $(filter %.o,$^) $(LIBS) -o $@

$(OUTPUT)/tools/replicas/%.o: tools/replicas/%.c
	$(call msg,CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(WARN_USER) $(DEPFLAGS) -c $< -o $@

$(OUTPUT)/tools/replicas/replicas: $(RP_OBJS) $(OUTPUT)/libkpilot.a
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) $(filter %.o %.a,$^) $(LIBS) -o $@

tools: $(TOOL_BINS)

$(OUTPUT)/bpf $(OUTPUT)/selftests:
	$(Q)mkdir -p $@

selftests: $(KPILOT_BIN) tools $(TEST_BINS)

deps:
	$(Q)tools/deps.sh

# Every selftest binary runs, then every documented command (tools/doc-commands);
# TESTS=name limits to test_<name>, TESTS=doc-commands to the documented commands.
check: deps
	$(Q)$(MAKE) --no-print-directory selftests
ifeq ($(SANITIZE),)
	$(Q)rc=0; \
	if [ -z "$(TESTS)" ] || [ -n "$(filter-out doc-commands,$(TESTS))" ]; then \
		tools/run-selftests.sh $(OUTPUT)/selftests $(filter-out doc-commands,$(TESTS)) || rc=1; fi; \
	if [ -z "$(TESTS)" ] || [ -n "$(filter doc-commands,$(TESTS))" ]; then \
		tools/doc-commands || rc=1; fi; \
	if [ -z "$(TESTS)" ] && [ -f $(OUTPUT)/selftests/.summary ]; then \
		cat $(OUTPUT)/selftests/.summary; fi; \
	exit $$rc
else
	$(Q)for f in selftests tools Documentation README.md user bpf vmlinux Makefile; do \
		ln -sfn $(CURDIR)/$$f $(OUTPUT)/../$$f; done
	$(Q)cd $(OUTPUT)/.. && $(SAN_ENV) KPILOT_SANITIZED=1 tools/run-selftests.sh build/selftests \
		$(or $(filter-out doc-commands,$(TESTS)),$(SAN_TESTS))
endif

demo: deps
	$(Q)$(MAKE) --no-print-directory all
	$(Q)tools/demo.sh

# The selftests again, inside a VM booting another kernel (Debian's 6.1 by
# default; KERNEL=5.10 or 6.12 for bullseye's or trixie's) over a read-only
# view of this machine: tools/vmtest/run.sh.
# Dependencies and the build are done here on the host (same userland, native
# speed), so the guest only runs the binaries: `make check` there would
# redo both for nothing, ~4 s of exec-heavy work under emulation.
# Left out unless VMTEST_TESTS names them, because a second kernel changes
# nothing for them and emulation makes them 15-45x slower: test_agent* and
# test_safety_property are pure computation (the property test runs against
# a fake root and outgrew its 120 s timeout in the guest); test_tune_profiles
# runs userland benchmarks (pgbench, fio, sysbench, wrk: 50 s natively).
# test_observer_stress, the provocation test for the observer's kernel
# safety (Documentation/design.md, "Kernel safety"), takes minutes under TCG:
# run it on its own, in a small guest,
# `make vmtest VMTEST_TESTS="observer observer_stress" VMTEST_MEM=512M`.
# test_signals stops `kpilot tune` 50 times with SIGTERM/INT/HUP: userland
# signal handling, minutes under emulation.
# test_tune_external and test_tune_confirm run kpilot tune many times over
# the same kernel paths as test_tune, minutes under TCG (the guest hang once
# seen in test_tune_external was qemu's: testing.md, "Fixed: an emulator
# hang while tracepoints flip").
# test_install (make install, systemd-analyze, groff, rpmbuild) is userland
# packaging; its rpmbuild compiles the whole tree, many minutes under TCG.
# test_llm and test_intent_llm are an HTTP client against an in-process server, test_intent and
# test_intent_run sentence matching and tune runs test_tune covers: no kernel path of their own.
# test_pipeline_sim is the simulator, pure computation (an hour simulated under 3.6 s natively);
# test_steer_knob the weights knob's validation; test_replicas_bench runs tools/bench/replicas,
# a timed benchmark, whose kernel paths test_steer covers. test_policy_sysctl_rate is
# test_policy_sysctl's daemon and netns sysctls with the objective read from a file or HTTP;
# test_daemon_bench runs tools/bench/daemon-sysctl, a timed benchmark over test_policy_sysctl's paths.
VMTEST_LEAVE_OUT := agent% safety_property tune_profiles observer_stress tune_external tune_confirm signals wordcount_signals bench_tuning \
	install llm intent intent_run intent_llm pipeline_sim steer_knob replicas_bench policy_sysctl_rate daemon_bench pipeline_bench
# Run on the newest guest kernel only (VMTEST_ONCE_KERNEL; any kernel when
# VMTEST_TESTS names them): their kernel contact is files whose interface is
# the same from 5.10 to 6.12 (cgroup v2's cpu.max, cpu.weight, cpuset.cpus and
# cpu.stat, sysctl text)
# or none at all (parsers, reports, the journal), and no BPF program of their
# own; three kernels of them cost CI minutes for nothing (testing.md, "CI budget").
# So are the second set: userland whose kernel paths other tests take on every
# kernel (the daemon's observer: test_daemon; its policies: daemon_api_policy and
# policy_sysctl; tune's: test_tune): the control socket and HTTP API (daemon_api,
# daemon_ctl), wordcount's processes and pipes, the pure pipeline parts, signal
# delivery to children (bench_run), sysctl.d files (persist), a tune's revert (tune_regress),
# the replicas policy's agent over the steering test_steer loads on every kernel (policy_replicas).
VMTEST_ONCE := policy_pipeline policy_pipeline_res pipeline_trace pipeline_env daemon_config opspec report log metrics env \
	tune_config tune_report safety_trust safety_journal \
	daemon_api daemon_ctl wordcount pipeline bench_run persist tune_regress policy_replicas
VMTEST_ONCE_KERNEL := 6.12
VMTEST_TESTS ?= $(filter-out $(VMTEST_LEAVE_OUT) $(if $(filter $(VMTEST_ONCE_KERNEL),$(KERNEL)),,$(VMTEST_ONCE)),\
	$(patsubst test_%.c,%,$(notdir $(TEST_SRCS))))
SAN_TESTS := $(filter-out $(SAN_LEAVE_OUT),$(patsubst test_%.c,%,$(notdir $(TEST_SRCS))))
# Tests that patch kernel text no hold can cover (kpilot probe attaches an
# fentry program: ftrace rewrites vfs_read's entry) run in a second VM with
# single-threaded TCG, which has no stale-translation hang (testing.md,
# "Fixed: an emulator hang while tracepoints flip"). VMTEST_CMD: one VM.
VMTEST_SINGLE := probe
vmtest_run = VMTEST_CMD="tools/run-selftests.sh $(OUTPUT)/selftests $(strip $(1))" tools/vmtest/run.sh
vmtest: export KERNEL ?=
vmtest: export VMTEST_TEXTPOKE = $(abspath $(OUTPUT))/tools/vmtest/textpoke
vmtest:
	$(Q)tools/deps.sh --vm
	$(Q)$(MAKE) --no-print-directory selftests $(OUTPUT)/tools/vmtest/textpoke
ifneq ($(VMTEST_CMD),)
	$(Q)tools/vmtest/run.sh
else
	$(Q)rc=0; \
	$(if $(filter-out $(VMTEST_SINGLE),$(VMTEST_TESTS)),\
		$(call vmtest_run,$(filter-out $(VMTEST_SINGLE),$(VMTEST_TESTS))) || rc=$$?;) \
	$(if $(filter $(VMTEST_SINGLE),$(VMTEST_TESTS)),\
		VMTEST_TCG_THREAD=$${VMTEST_TCG_THREAD:-single} \
		$(call vmtest_run,$(filter $(VMTEST_SINGLE),$(VMTEST_TESTS))) || { r=$$?; [ $$rc -ne 0 ] || rc=$$r; };) \
	exit $$rc
endif

# libFuzzer targets (selftests/fuzz/fuzz_*.c), with ASan and UBSan, in
# their own build dir: `make fuzz [FUZZ_S=60] [FUZZ_TARGETS="a b"]` builds
# them and runs each for FUZZ_S seconds over its corpus
# (selftests/fuzz/corpus/<name>/); selftests/fuzz/run.sh says what it found.
FUZZ_S      ?= 60
FUZZ_OUTPUT ?= build/fuzz
FUZZ_SRCS   := $(wildcard selftests/fuzz/fuzz_*.c)
FUZZ_BINS   := $(patsubst %.c,$(OUTPUT)/fuzz/%,$(notdir $(FUZZ_SRCS)))
FUZZ_TARGETS ?= $(patsubst fuzz_%.c,%,$(notdir $(FUZZ_SRCS)))
# UB stops the run like a crash does (UBSan only prints by default).
FUZZ_CFLAGS := -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all
fuzz:
	$(Q)$(MAKE) --no-print-directory OUTPUT=$(FUZZ_OUTPUT) CC=$(CLANG) \
		SAN_CFLAGS="$(FUZZ_CFLAGS)" fuzz-bins
	$(Q)selftests/fuzz/run.sh $(FUZZ_OUTPUT)/fuzz $(FUZZ_S) $(FUZZ_TARGETS)

fuzz-bins: $(FUZZ_BINS)

$(OUTPUT)/fuzz/fuzz_%: selftests/fuzz/fuzz_%.c $(OUTPUT)/libkpilot.a $(OUTPUT)/tools/wordcount/control.o
	$(call msg,FUZZ-CC,$@)
	$(Q)mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -Itools -fsanitize=fuzzer $(DEPFLAGS) $< \
		$(if $(filter fuzz_wc_%,$(notdir $@)),$(OUTPUT)/tools/wordcount/control.o) \
		$(OUTPUT)/libkpilot.a $(LIBS) -o $@

# Static analysis of kpilot's own C (user/, tools/), with the build's -std,
# -D and -I flags: clang's analyzer, then cppcheck; every finding is printed
# and fails the target (tools/analyze/run.sh says what is left out and why).
# The skeletons must exist: the observer's sources include them.
ANALYZE_SRCS := user/main.c $(USER_SRCS) $(TOOL_SRCS) $(wildcard tools/wordcount/*.c tools/replicas/*.c)
analyze: $(SKELS)
	$(Q)tools/deps.sh --analyze
	$(Q)CLANG=$(CLANG) tools/analyze/run.sh $(OUTPUT) \
		"$(filter -std=% -D% -I%,$(CFLAGS))" $(ANALYZE_SRCS)

# make install / uninstall [PREFIX=/usr/local] [DESTDIR=]: the binary, the
# pipeline's wordcount, the profiles, the unit, the man pages, and an example
# /etc/kpilot/kpilot.json only where none is (Documentation/install.md).
# The binary finds the profiles in DATADIR/profiles, compiled in: the stamp
# rebuilds that one object when PREFIX or DATADIR changes.
PREFIX     ?= /usr/local
SBINDIR    ?= $(PREFIX)/sbin
DATADIR    ?= $(PREFIX)/share/kpilot
LIBEXECDIR ?= $(PREFIX)/libexec/kpilot
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
SYSCONFDIR ?= /etc
CFLAGS_cli_profiles.o += -DKPILOT_DATADIR='"$(DATADIR)"'
MAN_PAGES  := $(wildcard Documentation/man/*.[58])
PROFILES   := $(wildcard tools/profiles/*.json)
.PHONY: install uninstall FORCE
$(OUTPUT)/datadir.stamp: FORCE
	$(Q)mkdir -p $(OUTPUT) && [ "$$(cat $@ 2>/dev/null)" = '$(DATADIR)' ] || echo '$(DATADIR)' > $@
$(OUTPUT)/user/cli/cli_profiles.o: $(OUTPUT)/datadir.stamp

install: $(KPILOT_BIN) $(OUTPUT)/tools/wordcount/wordcount
	$(call msg,INSTALL,$(DESTDIR)$(PREFIX))
	$(Q)install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBEXECDIR) $(DESTDIR)$(DATADIR)/profiles \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	$(Q)install -m 0755 $(KPILOT_BIN) $(DESTDIR)$(SBINDIR)/kpilot
	$(Q)install -m 0755 $(OUTPUT)/tools/wordcount/wordcount $(DESTDIR)$(LIBEXECDIR)/wordcount
	$(Q)install -m 0644 $(PROFILES) $(DESTDIR)$(DATADIR)/profiles/
	$(Q)sed -i 's|"build/tools/wordcount/wordcount"|"$(LIBEXECDIR)/wordcount"|' \
		$(DESTDIR)$(DATADIR)/profiles/wordcount.pipeline.json
	$(Q)install -m 0644 tools/packaging/kpilot.json $(DESTDIR)$(DATADIR)/kpilot.json.example
	$(Q)sed 's|@SBINDIR@|$(SBINDIR)|g' tools/packaging/kpilot.service.in > $(DESTDIR)$(UNITDIR)/kpilot.service
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/kpilot.service
	$(Q)install -m 0644 $(filter %.5,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man5/
	$(Q)install -m 0644 $(filter %.8,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man8/
	$(Q)[ -d $(DESTDIR)$(SYSCONFDIR)/kpilot ] || install -d -m 0700 $(DESTDIR)$(SYSCONFDIR)/kpilot
	$(Q)[ -e $(DESTDIR)$(SYSCONFDIR)/kpilot/kpilot.json ] || \
		install -m 0600 tools/packaging/kpilot.json $(DESTDIR)$(SYSCONFDIR)/kpilot/kpilot.json

# The admin's kpilot.json goes only when it is still the example.
uninstall:
	$(call msg,UNINSTALL,$(DESTDIR)$(PREFIX))
	$(Q)f=$(DESTDIR)$(SYSCONFDIR)/kpilot/kpilot.json; \
	if [ -e $$f ] && ! cmp -s $$f tools/packaging/kpilot.json; then \
		echo "kpilot: $$f was changed: left in place"; else rm -f $$f; fi
	$(Q)rm -f $(DESTDIR)$(SBINDIR)/kpilot $(DESTDIR)$(LIBEXECDIR)/wordcount \
		$(DESTDIR)$(UNITDIR)/kpilot.service $(DESTDIR)$(DATADIR)/kpilot.json.example \
		$(addprefix $(DESTDIR)$(DATADIR)/profiles/,$(notdir $(PROFILES))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man5/,$(notdir $(filter %.5,$(MAN_PAGES)))) \
		$(addprefix $(DESTDIR)$(MANDIR)/man8/,$(notdir $(filter %.8,$(MAN_PAGES))))
	$(Q)rmdir $(DESTDIR)$(DATADIR)/profiles $(DESTDIR)$(DATADIR) $(DESTDIR)$(LIBEXECDIR) \
		$(DESTDIR)$(SYSCONFDIR)/kpilot 2>/dev/null || true

-include $(shell find $(OUTPUT) -name '*.d' 2>/dev/null)

vmlinux:
	$(call msg,GEN,$(VMLINUX))
	$(Q)mkdir -p $(dir $(VMLINUX))
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $(VMLINUX).tmp
	$(Q)mv $(VMLINUX).tmp $(VMLINUX)

clean:
	$(call msg,CLEAN,)
	$(Q)rm -rf $(OUTPUT) kpilot
