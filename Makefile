# aigw build. `make` builds build/aigw; `make test`, `make demo`, `make bench` run as root and
# install what is missing first (scripts/setup.sh). Generated files live only in build/.

BUILD      := build
CC         ?= cc
CLANG      ?= clang
BPFTOOL    ?= bpftool
ARCH       := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

WARN       := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
              -Wformat=2 -Wundef -Wno-unused-parameter
CFLAGS     ?= -O2 -g
CPPFLAGS   := -D_GNU_SOURCE -I$(BUILD) -Ibpf -Iuserspace
LIBS       := -lsqlite3 -lbpf -lelf -lz -levent -levent_openssl -levent_pthreads -lssl -lcrypto -lcjson -lhs \
              -lnl-3 -lnl-genl-3 -lnl-route-3 -lhttp_parser $(shell pkg-config --libs libnghttp2) -lresolv -lz -lm -lpthread
NL_CFLAGS  := $(shell pkg-config --cflags libnl-3.0 2>/dev/null || echo -I/usr/include/libnl3)
# Sanitized builds (build/aigw-san, the unit tests) use clang: its UBSan also checks pointer
# arithmetic against array bounds, which gcc's does not. Every finding stops the program.
SAN_CC     ?= $(CLANG)
SAN        := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer

SRCS       := $(sort $(shell find userspace -name '*.c'))
LIB_SRCS   := $(filter-out userspace/main.c,$(SRCS))
OBJS       := $(SRCS:%.c=$(BUILD)/obj/%.o)
SAN_OBJS   := $(SRCS:%.c=$(BUILD)/san/%.o)
SAN_LIB    := $(LIB_SRCS:%.c=$(BUILD)/san/%.o)
TSAN_OBJS  := $(SRCS:%.c=$(BUILD)/tsan/%.o)
UNIT_SRCS  := $(sort $(wildcard tests/unit/test_*.c tests/bpf/test_*.c))
UNIT_BINS  := $(patsubst tests/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))
HELPER_SRCS:= $(sort $(wildcard tests/e2e/helpers/*.c tests/bench/*.c))
HELPER_BINS:= $(patsubst tests/%.c,$(BUILD)/tests/%,$(HELPER_SRCS))
E2E_HELPERS:= $(filter $(BUILD)/tests/e2e/%,$(HELPER_BINS))
BENCH_BINS := $(filter $(BUILD)/tests/bench/%,$(HELPER_BINS))
MOCK_SRCS  := $(sort $(wildcard tests/mockprov/*.c))
MOCK_OBJS  := $(MOCK_SRCS:%.c=$(BUILD)/mockobj/%.o)
SKEL       := $(BUILD)/capture.skel.h

.PHONY: all setup test unit e2e demo bench bench-ir bench-gateway bench-xlate soak bench-streams clean \
	format helpers e2e-helpers bench-helpers mockprov fuzz fuzzers fuzz-smoke setup-system clients
all: $(BUILD)/aigw

setup:
	@bash scripts/setup.sh
# setup's two halves: the packages and bpffs; the end-to-end tests' SDK clients (npm ci).
setup-system:
	@bash scripts/setup.sh system
clients:
	@bash scripts/setup.sh clients

$(BUILD)/vmlinux.h:
	@mkdir -p $(@D)
	$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

$(BUILD)/capture.bpf.o: bpf/capture.bpf.c bpf/capture.h bpf/capture_decide.h $(BUILD)/vmlinux.h
	$(CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(ARCH) -I$(BUILD) -Ibpf -Wall -Werror \
		-c $< -o $@

$(SKEL): $(BUILD)/capture.bpf.o
	$(BPFTOOL) gen skeleton $< name capture_bpf > $@.tmp && mv $@.tmp $@

# The shipped price table, as bytes for userspace/ledger/prices_default.c.
$(BUILD)/prices_default.inc: policies/prices.json
	@mkdir -p $(@D)
	od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g' > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/userspace/ledger/prices_default.o $(BUILD)/san/userspace/ledger/prices_default.o: \
	$(BUILD)/prices_default.inc

# The shipped AI service catalogue, the same way, for userspace/policy/ai_services.c.
$(BUILD)/ai_services_default.inc: policies/ai-services.json
	@mkdir -p $(@D)
	od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g' > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/userspace/policy/ai_services.o $(BUILD)/san/userspace/policy/ai_services.o: \
	$(BUILD)/ai_services_default.inc

# The admin dashboard: its page and script (web/), and chart.js as web/package-lock.json pins
# it, fetched by npm ci (never committed) and built into the binary with them: the daemon
# serves every file itself, nothing comes from a CDN at run time.
$(BUILD)/web/chart.umd.js: web/package.json web/package-lock.json
	@mkdir -p $(@D)
	npm ci --prefix web --no-audit --no-fund --silent
	cp web/node_modules/chart.js/dist/chart.umd.js $@
$(BUILD)/chart_js.inc: $(BUILD)/web/chart.umd.js
$(BUILD)/dashboard_html.inc: web/dashboard.html
$(BUILD)/dashboard_js.inc: web/dashboard.js
$(BUILD)/chart_js.inc $(BUILD)/dashboard_html.inc $(BUILD)/dashboard_js.inc:
	@mkdir -p $(@D)
	od -An -v -tx1 $< | sed 's/\([0-9a-f][0-9a-f]\)/0x\1,/g' > $@.tmp && mv $@.tmp $@
$(BUILD)/obj/userspace/admin/dashboard.o $(BUILD)/san/userspace/admin/dashboard.o: \
	$(BUILD)/chart_js.inc $(BUILD)/dashboard_html.inc $(BUILD)/dashboard_js.inc

$(BUILD)/obj/%.o: %.c $(SKEL)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(NL_CFLAGS) $(CFLAGS) $(WARN) -MMD -MP -c $< -o $@

$(BUILD)/san/%.o: %.c $(SKEL)
	@mkdir -p $(@D)
	$(SAN_CC) $(CPPFLAGS) $(NL_CFLAGS) -O1 -g $(SAN) $(WARN) -MMD -MP -c $< -o $@

$(BUILD)/aigw: $(OBJS)
	$(CC) $(CFLAGS) -o $@ $^ $(LIBS)

# ThreadSanitizer: the proxy.workers share state; the e2e files that exercise it run this one
# (tests/e2e/conftest.py fails a test on any report, as it does for aigw-san's).
TSAN       := -fsanitize=thread -fno-omit-frame-pointer
$(BUILD)/tsan/%.o: %.c $(SKEL)
	@mkdir -p $(@D)
	$(SAN_CC) $(CPPFLAGS) $(NL_CFLAGS) -O1 -g $(TSAN) $(WARN) -MMD -MP -c $< -o $@

# (tests/tsan/suppressions.c: the one report known to be no race, and why.)
$(BUILD)/aigw-tsan: $(TSAN_OBJS) tests/tsan/suppressions.c
	$(SAN_CC) $(TSAN) $(WARN) -o $@ $^ $(LIBS)

# The same daemon under ASan/UBSan: the end-to-end tests run this one.
$(BUILD)/aigw-san: $(SAN_OBJS)
	$(SAN_CC) $(SAN) -o $@ $^ $(LIBS)

# The unit tests link the sanitized objects as an archive (each takes only what it calls) with
# lld: linking was half of building them with every object and GNU ld. The tests' own files
# are compiled -O0: 60 % less compile time than -O1, and the code under test is the daemon's
# -O1 objects.
SAN_AR     := $(BUILD)/san/libaigw.a
SAN_LD     := -fuse-ld=lld
UNIT_CC    := $(SAN_CC) $(CPPFLAGS) $(NL_CFLAGS) -Itests/unit -O0 -g $(SAN) $(WARN) \
              -Wno-missing-prototypes
$(SAN_AR): $(SAN_LIB)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/tests/unit/unit.o: tests/unit/unit.c
	@mkdir -p $(@D)
	$(UNIT_CC) -MMD -MP -c $< -o $@

$(BUILD)/tests/%: tests/%.c $(BUILD)/tests/unit/unit.o $(SAN_AR)
	@mkdir -p $(@D)
	$(UNIT_CC) $(SAN_LD) -o $@ $< $(BUILD)/tests/unit/unit.o $(SAN_AR) $(LIBS) $(UNIT_LDFLAGS)

# The verifier's count of the capture programs: they are loaded from the skeleton.
$(BUILD)/tests/bpf/test_verifier: $(SKEL)

# test_pipeline widens the window between a stage's check of a governance counter and its take
# (a yield in each read, by --wrap), so that a stage doing them outside the state's lock fails.
$(BUILD)/tests/unit/test_pipeline: UNIT_LDFLAGS := \
	-Wl,--wrap=govstate_inflight,--wrap=govstate_held,--wrap=govstate_spend_get

# test_request_tree fails the request body's tree, and its pullup, on demand (--wrap), for its
# readers' out of memory paths.
$(BUILD)/tests/unit/test_request_tree: UNIT_LDFLAGS := -Wl,--wrap=usage_tree_parse \
	-Wl,--wrap=evbuffer_pullup

# test_translate_gemini fails the translators' buffer growth on demand (--wrap), for their
# out-of-memory paths.
$(BUILD)/tests/unit/test_translate_gemini: UNIT_LDFLAGS := -Wl,--wrap=translate_buf_grow

# The workers' test links proxy/workers.c built with its failure hook (WORKERS_FAULTS), which
# the daemon's build never has.
$(BUILD)/tests/unit/test_workers: tests/unit/test_workers.c userspace/proxy/workers.c \
		$(BUILD)/tests/unit/unit.o $(SAN_LIB)
	@mkdir -p $(@D)
	$(UNIT_CC) -O1 $(SAN_LD) -DWORKERS_FAULTS -o $@ $< userspace/proxy/workers.c \
		$(BUILD)/tests/unit/unit.o \
		$(filter-out $(BUILD)/san/userspace/proxy/workers.o,$(SAN_LIB)) $(LIBS)

# The stream translator's differential test links the reference it compares with.
$(BUILD)/tests/unit/test_translate_stream: tests/unit/test_translate_stream.c \
		tests/unit/translate_stream_ref.c tests/unit/gemini_two_stage.c \
		$(BUILD)/tests/unit/unit.o $(SAN_AR)
	@mkdir -p $(@D)
	$(UNIT_CC) $(SAN_LD) -o $@ $< tests/unit/translate_stream_ref.c tests/unit/gemini_two_stage.c \
		$(BUILD)/tests/unit/unit.o $(SAN_AR) $(LIBS)

$(BUILD)/tests/e2e/helpers/%: tests/e2e/helpers/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -O2 -g $(WARN) -Wno-missing-prototypes -o $@ $< -luring

$(BUILD)/tests/bench/%: tests/bench/%.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -O2 -g $(WARN) -Wno-missing-prototypes -o $@ $<

# The providers micro-benchmark (make bench) links the -O2 objects of build/aigw it measures.
$(BUILD)/tests/bench/bench_providers: tests/bench/bench_providers.c \
		$(filter $(BUILD)/obj/userspace/providers/%,$(OBJS)) $(BUILD)/obj/userspace/proxy/body.o \
		$(BUILD)/obj/userspace/util/jsonw.o $(BUILD)/obj/userspace/util/decimal.o \
		$(BUILD)/obj/userspace/util/hex.o $(BUILD)/obj/userspace/policy/json_locate.o
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes -o $@ $^ -lcjson -lcrypto -lz -lm

# Bedrock's SigV4 signing and event-stream parsing per call (make bench), on the -O2 objects.
$(BUILD)/tests/bench/bench_bedrock: tests/bench/bench_bedrock.c tests/bench/benchclock.h \
		$(filter $(BUILD)/obj/userspace/providers/%,$(OBJS)) $(BUILD)/obj/userspace/util/jsonw.o \
		$(BUILD)/obj/userspace/util/decimal.o $(BUILD)/obj/userspace/util/hex.o \
		$(BUILD)/obj/userspace/policy/json_locate.o
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes -o $@ $(filter %.c %.o,$^) \
		-lcjson -lcrypto -lz -lm

# The policy pipeline micro-benchmark (make bench), on the same -O2 objects.
$(BUILD)/tests/bench/bench_pipeline: tests/bench/bench_pipeline.c \
		$(filter-out $(BUILD)/obj/userspace/main.o,$(OBJS))
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(NL_CFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes -o $@ $(filter %.c %.o,$^) \
		$(LIBS)

# The audit checkpoint micro-benchmark: what signing costs the audit writer.
$(BUILD)/tests/bench/bench_checkpoint: tests/bench/bench_checkpoint.c \
		$(filter-out $(BUILD)/obj/userspace/main.o,$(OBJS))
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(NL_CFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes -o $@ $^ $(LIBS)

# The guardrails' added cost per request and per streamed event (make bench).
$(BUILD)/tests/bench/bench_guard: tests/bench/bench_guard.c \
		$(filter-out $(BUILD)/obj/userspace/main.o,$(OBJS))
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(NL_CFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes -o $@ $^ $(LIBS)

# The cost ledger micro-benchmark (make bench), on the same -O2 objects.
$(BUILD)/tests/bench/bench_ledger: tests/bench/bench_ledger.c \
		$(filter-out $(BUILD)/obj/userspace/main.o,$(OBJS))
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(NL_CFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes -o $@ $(filter %.c %.o,$^) \
		$(LIBS)

# The metrics micro-benchmark (make bench): a call's end counted, and /metrics rendered, on
# the -O2 object build/aigw links.
$(BUILD)/tests/bench/bench_metrics: tests/bench/bench_metrics.c $(BUILD)/obj/userspace/admin/metrics.o \
		$(BUILD)/obj/userspace/util/decimal.o
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes -o $@ $(filter %.c %.o,$^) -levent -lm

# The benches that include tests/bench/benchnet.h (their recipe builds only the .c).
$(BUILD)/tests/bench/connect_bench $(BUILD)/tests/bench/pass_bench: tests/bench/benchnet.h

# The benches that include tests/bench/benchclock.h (their recipes keep it out of the link).
$(BUILD)/tests/bench/bench_pipeline $(BUILD)/tests/bench/bench_ledger \
$(BUILD)/tests/bench/bench_metrics: tests/bench/benchclock.h

# The audit durability micro-benchmark: what strict costs a call against batched.
$(BUILD)/tests/bench/bench_durability: tests/bench/bench_durability.c \
		$(filter-out $(BUILD)/obj/userspace/main.o,$(OBJS))
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(NL_CFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes -o $@ $^ $(LIBS)

# The guardrails' scanner micro-benchmark (make bench): Vectorscan against one PCRE2 JIT
# alternation of the same detectors, on the -O2 object build/aigw links.
$(BUILD)/tests/bench/bench_guard_scan: tests/bench/bench_guard_scan.c $(BUILD)/obj/userspace/guard/scan.o
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -Wno-missing-prototypes -o $@ $^ -lhs -lpcre2-8 -lm

# The mock provider, one object a source (make test builds it beside the daemon).
$(BUILD)/mockobj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) -O2 -g $(WARN) -MMD -MP -c $< -o $@
$(BUILD)/mockprov: $(MOCK_OBJS)
	$(CC) -O2 -g -o $@ $^ -levent -levent_openssl -lssl -lcrypto -lcjson -lz

# libFuzzer targets, built with clang; `make fuzz` runs each for FUZZ_SECONDS, or to
# FUZZ_RUNS executions when that is set (e.g. FUZZ_RUNS=10000000), one after the other;
# FUZZ_TARGETS="sse translate" runs only those. Each keeps its grown corpus in
# build/fuzz/corpus-NAME (a second run continues from it) and its log in build/fuzz/NAME.log.
FUZZ_BASE  := -D_GNU_SOURCE -I$(BUILD) -Ibpf -Iuserspace -g -O1 -fno-sanitize-recover=all \
              -fno-omit-frame-pointer
FUZZ_FLAGS := $(FUZZ_BASE) -fsanitize=fuzzer,address,undefined
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?=
FUZZ_TARGETS ?=
FUZZ_LIMIT = $(if $(FUZZ_RUNS),-runs=$(FUZZ_RUNS),-max_total_time=$(FUZZ_SECONDS))
# Each source is compiled once for every target that links it (build/fuzzobj/), with the
# instrumentation -fsanitize=fuzzer gives a compile (fuzzer-no-link: the same coverage,
# without libFuzzer's main); the target's link adds libFuzzer.
FUZZ_OBJ_FLAGS := $(FUZZ_BASE) -fsanitize=fuzzer-no-link,address,undefined -Itests/unit
$(BUILD)/fuzzobj/%.o: %.c
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_OBJ_FLAGS) -MMD -MP -c $< -o $@
$(BUILD)/fuzzobj/userspace/ledger/prices_default.o: $(BUILD)/prices_default.inc
$(BUILD)/fuzzobj/userspace/policy/ai_services.o: $(BUILD)/ai_services_default.inc
fuzzobjs = $(patsubst %.c,$(BUILD)/fuzzobj/%.o,$(1))

# fuzz_NAME: tests/fuzz/fuzz_NAME.c and FUZZ_SRCS_NAME, linked with FUZZ_LIBS_NAME.
FUZZ_SRCS_clienthello := userspace/proxy/clienthello.c
FUZZ_SRCS_http_request := userspace/proxy/http1.c userspace/proxy/exchange.c \
		  userspace/proxy/response.c userspace/proxy/resp_head.c \
		  userspace/proxy/exchange_record.c userspace/proxy/upstream.c userspace/proxy/body.c \
		  userspace/proxy/route.c userspace/proxy/tlsflush.c userspace/proxy/tlsread.c \
		  userspace/proxy/http2.c \
		  $(wildcard userspace/providers/translate*.c) \
		  userspace/proxy/headers.c userspace/proxy/keys.c userspace/providers/sse.c \
		  userspace/proxy/request_members.c \
		  userspace/providers/usage.c userspace/providers/openai.c \
		  userspace/providers/tool_ids.c \
		  userspace/providers/anthropic.c userspace/providers/api_path.c \
		  userspace/providers/azure.c userspace/providers/gemini.c \
		  userspace/providers/vertex.c userspace/proxy/gcp_token.c \
		  userspace/providers/bedrock.c userspace/providers/eventstream.c \
		  userspace/providers/sigv4.c userspace/proxy/aws_sign.c userspace/proxy/bedrock_door.c \
		  userspace/ledger/cost.c userspace/ledger/prices.c \
		  $(wildcard userspace/util/*.c) $(wildcard userspace/policy/*.c) \
		  $(wildcard userspace/guard/*.c) userspace/ledger/prices_default.c
FUZZ_LIBS_http_request := -levent -levent_openssl -lssl -lcrypto -lcjson -lhttp_parser \
		  -lnghttp2 -lsqlite3 -lhs -lz -lm -lpthread
FUZZ_SRCS_translate := $(wildcard userspace/providers/translate*.c) \
		  tests/unit/translate_stream_ref.c tests/unit/gemini_two_stage.c
FUZZ_LIBS_translate := -lcjson
# The providers' usage readers, which sse, eventstream and usage share.
FUZZ_USAGE_SRCS := userspace/providers/sse.c userspace/providers/usage.c \
		  userspace/providers/openai.c userspace/providers/anthropic.c \
		  userspace/providers/gemini.c userspace/util/jsonw.c userspace/util/decimal.c \
		  userspace/util/hex.c userspace/providers/bedrock.c userspace/providers/eventstream.c \
		  userspace/policy/json_locate.c
FUZZ_SRCS_sse := $(FUZZ_USAGE_SRCS)
FUZZ_LIBS_sse := -lcjson -lcrypto -lz
# The header list of a head as http_parser hands it over (ids, lookups, hop-by-hop).
FUZZ_SRCS_http_head := userspace/proxy/headers.c userspace/util/decimal.c
FUZZ_LIBS_http_head := -levent -lhttp_parser
FUZZ_SRCS_guard_scan := userspace/guard/scan.c
FUZZ_LIBS_guard_scan := -lhs -lm
# The guardrails on streams and bodies, with the real scanner.
FUZZ_SRCS_guard_stream := $(wildcard userspace/guard/*.c) userspace/providers/sse.c \
		   userspace/providers/translate_util.c userspace/providers/translate_json.c \
		   userspace/util/jsonw.c userspace/util/decimal.c
FUZZ_LIBS_guard_stream := -lcjson -lhs -lm
# The AWS event-stream framing and Bedrock's stream usage.
FUZZ_SRCS_eventstream := $(FUZZ_USAGE_SRCS)
FUZZ_LIBS_eventstream := -lcjson -lcrypto -lz
# A whole answer's usage read from its text against cJSON's tree of it (usage_ref.h).
FUZZ_SRCS_usage := $(FUZZ_USAGE_SRCS)
FUZZ_LIBS_usage := -lcjson -lcrypto -lz
# The answer head's fast path against plain http_parser, on the same reads (resp_head_ref.h).
FUZZ_SRCS_resp_head := userspace/proxy/resp_head.c
FUZZ_LIBS_resp_head := -lhttp_parser

FUZZ_NAMES := clienthello http_request translate sse guard_scan guard_stream eventstream \
	      http_head usage resp_head
FUZZERS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
define fuzz_target
$(BUILD)/fuzz/fuzz_$(1): $(call fuzzobjs,tests/fuzz/fuzz_$(1).c $(FUZZ_SRCS_$(1)))
	@mkdir -p $$(@D)
	$(CLANG) $(FUZZ_FLAGS) $(SAN_LD) -o $$@ $$^ $(FUZZ_LIBS_$(1))
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call fuzz_target,$(n))))
fuzzers: $(FUZZERS)

# make test's fuzz smoke (tests/run.sh: each target's corpus replayed, then briefly run):
# the same harnesses, linked with the daemon's sanitized objects (build/san/libaigw.a,
# ASan/UBSan, no coverage) into build/fuzz-smoke/. Building the coverage-instrumented targets
# above took 45 s of CPU that make test spent on a replay that needs no coverage; make fuzz
# builds and fuzzes those.
FUZZ_SMOKE := $(FUZZ_NAMES:%=$(BUILD)/fuzz-smoke/fuzz_%)
FUZZ_SMOKE_EXTRA_translate := tests/unit/translate_stream_ref.c tests/unit/gemini_two_stage.c
# (the harness is compiled again whenever the archive changes: a header changed under it)
$(BUILD)/fuzz-smoke/fuzz_%: tests/fuzz/fuzz_%.c $(SAN_AR) $(wildcard tests/unit/*.h) \
		$(wildcard tests/unit/*_ref.c tests/unit/gemini_two_stage.c)
	@mkdir -p $(@D)
	$(CLANG) $(FUZZ_FLAGS) $(NL_CFLAGS) -Itests/unit $(SAN_LD) -o $@ $< $(FUZZ_SMOKE_EXTRA_$*) \
		$(SAN_AR) $(LIBS)
fuzz-smoke: $(FUZZ_SMOKE)
fuzz: setup fuzzers
	@for f in $(if $(FUZZ_TARGETS),$(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%),$(FUZZERS)); do \
		n=$$(basename $$f | sed 's/^fuzz_//'); mkdir -p $(BUILD)/fuzz/corpus-$$n; \
		echo "== $$f $(FUZZ_LIMIT) (log: $(BUILD)/fuzz/$$n.log)"; \
		$$f $(FUZZ_LIMIT) -print_final_stats=1 -artifact_prefix=$(BUILD)/fuzz/ \
			$(BUILD)/fuzz/corpus-$$n tests/fuzz/corpus/$$n >$(BUILD)/fuzz/$$n.log 2>&1; \
		rc=$$?; grep -E "^(Done|stat::number_of_executed_units|stat::average_exec_per_sec)" \
			$(BUILD)/fuzz/$$n.log; \
		if [ $$rc -ne 0 ]; then grep -E -A40 "^==[0-9]+==|invariant failed|runtime error" \
			$(BUILD)/fuzz/$$n.log | head -60; echo "$$f: exit $$rc"; exit 1; fi; done

unit: $(UNIT_BINS)
helpers: $(HELPER_BINS)
e2e-helpers: $(E2E_HELPERS)
bench-helpers: $(BENCH_BINS)
mockprov: $(if $(MOCK_SRCS),$(BUILD)/mockprov)

# First what the end-to-end suite needs: the sanitized daemon, the mock provider, the suite's
# helpers, and its SDK clients (npm ci, beside the compiles: one make job more, as it mostly
# waits on its cache). tests/run.sh builds the rest
# beside the suite: build/aigw first (BUILD_PLAIN: the memory tests measure it, and wait for
# it), then the benches, the unit tests and the fuzz smoke (BUILD_JOBS). The coverage-
# instrumented fuzz targets are built by make fuzz only: a source a harness newly needs,
# missing from its FUZZ_SRCS_*, shows there, not here.
test: setup-system
	@$(MAKE) --no-print-directory -j$$(( $(shell nproc) + 1 )) clients $(BUILD)/aigw-san e2e-helpers \
		mockprov
	@BUILD_PLAIN=all BUILD_JOBS="bench-helpers unit fuzz-smoke" bash tests/run.sh

demo: setup
	@$(MAKE) --no-print-directory all helpers mockprov
	@bash scripts/demo.sh

bench: setup
	@$(MAKE) --no-print-directory all helpers mockprov
	@bash tests/bench/run.sh

# Instructions (callgrind) and system calls (perf stat) per request, aigw against nginx, for
# machines without a PMU (tests/bench/ir_bench.sh). Not part of make test.
bench-ir: setup
	@$(MAKE) --no-print-directory all mockprov
	@bash tests/bench/ir_bench.sh

# What translating a stream costs per event, both ways (bench_providers events).
bench-xlate: $(BUILD)/tests/bench/bench_providers
	@/usr/bin/python3 tests/bench/xlate_streams.py $(BUILD)/xlate-streams
	@$(BUILD)/tests/bench/bench_providers events $(BUILD)/xlate-streams

# A million requests, plain / streaming / translated, through the plain daemon: RSS drift and
# descriptors (tests/bench/soak.sh; SOAK_REQUESTS, SOAK_PHASE). Not part of make test.
soak: setup
	@$(MAKE) --no-print-directory all helpers mockprov
	@bash tests/bench/soak.sh

# STREAMS_N (10,000) streamed calls held open against a slow provider: the daemon's RSS
# (tests/bench/streams_bench.sh). Not part of make test.
bench-streams: setup
	@$(MAKE) --no-print-directory all helpers mockprov
	@bash tests/bench/streams_bench.sh

# Only the gateway part of make bench: usage extraction, translation, fallback (gateway_bench.sh).
bench-gateway: setup
	@$(MAKE) --no-print-directory all helpers mockprov
	@bash tests/bench/gateway_bench.sh

format:
	clang-format -i $$(find userspace tests bpf -name '*.[ch]')

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
