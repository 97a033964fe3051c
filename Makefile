# featcache build. `make` builds build/featcache, build/libfeatcache.a and build/libfeatcache.so (the
# library with the C API of api/ for bindings: python/); `make test` runs every test and ends with
# "N passed, N failed". Sources are found by wildcard: adding a file needs no edit here.
# Per-ISA flags go on kernel files only (by file name suffix); no -march=native, no -ffast-math.
CC ?= cc
BUILD ?= build
OPT ?= -O2
CFLAGS ?= $(OPT) -g
# One set of objects serves the executable and the shared library: -fPIC, and
# -fno-semantic-interposition so that calls inside the library stay direct (and inlinable) as in
# the executable (Debian's compiler makes PIE code anyway).
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -fopenmp -fPIC -fno-semantic-interposition \
	-I. -I$(BUILD)/gen
# Objects are rebuilt when the flags change (e.g. a build tree from before -fPIC): the stamp holds them.
FLAGS_STAMP = $(BUILD)/cflags.stamp
$(shell mkdir -p $(BUILD) && echo '$(CC) $(CFLAGS)' | cmp -s - $(FLAGS_STAMP) || echo '$(CC) $(CFLAGS)' >$(FLAGS_STAMP))

LDLIBS = -lturbojpeg -lpng -lwebpdemux -lwebp -lgif -ltiff -lprotobuf-c -llmdb -lsqlite3 -lm -lpthread -fopenmp

ONNX_PROTO = /usr/include/onnx/onnx.proto
GEN_C = $(BUILD)/gen/onnx/onnx.pb-c.c
GEN_H = $(BUILD)/gen/onnx/onnx.pb-c.h

LIB_SRC = $(wildcard core/*.c engine/*.c engine/onnx/*.c engine/ops/*.c engine/kernels/*.c engine/train/*.c store/*.c \
	extract/*.c classify/*.c)
LIB_OBJ = $(LIB_SRC:%.c=$(BUILD)/%.o) $(BUILD)/gen/onnx/onnx.pb-c.o
API_SRC = $(wildcard api/*.c)
API_OBJ = $(API_SRC:%.c=$(BUILD)/%.o)
CLI_SRC = $(wildcard cli/*.c)
CLI_OBJ = $(CLI_SRC:%.c=$(BUILD)/%.o)
TEST_SUPPORT_SRC = $(wildcard tests/support/*.c)
TEST_SUPPORT_OBJ = $(TEST_SUPPORT_SRC:%.c=$(BUILD)/%.o)
TEST_SRC = $(wildcard tests/*/test_*.c)
TEST_BIN = $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC = $(wildcard bench/*.c)
BENCH_BIN = $(BENCH_SRC:%.c=$(BUILD)/%)

ISA_AVX2 = -mavx2 -mfma -mf16c
ISA_AVX512 = -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c
ISA_AVX512BF16 = $(ISA_AVX512) -mavx512bf16

.PHONY: all test sanitize check clean demo torchvision bench python
all: $(BUILD)/featcache $(BUILD)/libfeatcache.a $(BUILD)/libfeatcache.so

$(BUILD)/libfeatcache.a: $(LIB_OBJ)
	@echo "AR $@"; rm -f $@; ar rcs $@ $^

# The C API (api/featcache.h) over the whole library, for python/featcache (ctypes).
$(BUILD)/libfeatcache.so: $(API_OBJ) $(LIB_OBJ)
	$(CC) $(CFLAGS) $(LDFLAGS) -shared -Wl,-soname,libfeatcache.so -o $@ $^ $(LDLIBS)

# The Python package with its library, ready for `pip install ./python` (python/featcache/_lib.py).
python: $(BUILD)/libfeatcache.so
	cp $(BUILD)/libfeatcache.so python/featcache/libfeatcache.so

$(BUILD)/featcache: $(CLI_OBJ) $(BUILD)/libfeatcache.a
	$(CC) $(CFLAGS) -o $@ $(CLI_OBJ) $(BUILD)/libfeatcache.a $(LDLIBS)

$(GEN_C) $(GEN_H): $(ONNX_PROTO)
	@mkdir -p $(BUILD)/gen
	protoc-c --c_out=$(BUILD)/gen -I/usr/include $(ONNX_PROTO:/usr/include/%=%)

$(BUILD)/gen/onnx/onnx.pb-c.o: $(GEN_C) $(FLAGS_STAMP)
	$(CC) $(CFLAGS) -w -c $< -o $@

# Every object waits for the generated header (cheap, and avoids order bugs).
$(BUILD)/%.o: %.c $(FLAGS_STAMP) | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ISA_FLAGS) -MMD -MP -c $< -o $@

$(BUILD)/engine/kernels/%-avx2.o: ISA_FLAGS = $(ISA_AVX2)
$(BUILD)/engine/kernels/%-avx512.o: ISA_FLAGS = $(ISA_AVX512)
$(BUILD)/engine/kernels/%-avx512bf16.o: ISA_FLAGS = $(ISA_AVX512BF16)
$(BUILD)/extract/%-avx2.o: ISA_FLAGS = $(ISA_AVX2)
$(BUILD)/extract/%-avx512vbmi.o: ISA_FLAGS = $(ISA_AVX512) -mavx512vbmi
$(BUILD)/engine/train/%-avx2.o: ISA_FLAGS = $(ISA_AVX2)

$(BUILD)/tests/%: tests/%.c $(TEST_SUPPORT_OBJ) $(BUILD)/libfeatcache.a | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(TEST_SUPPORT_OBJ) $(BUILD)/libfeatcache.a $(LDLIBS)

# Benchmarks (not tests): bench/*.c, each prints numbers; `make bench` builds them.
bench: $(BENCH_BIN)
$(BUILD)/bench/%: bench/%.c $(TEST_SUPPORT_OBJ) $(BUILD)/libfeatcache.a | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -o $@ $< $(TEST_SUPPORT_OBJ) $(BUILD)/libfeatcache.a $(LDLIBS)

test: all $(TEST_BIN) torchvision
	@BUILD=$(BUILD) sh tests/run.sh

# Reference models for tests/engine/test_torchvision.c; records why when python3-torch is missing.
# Shared by every build flavour (the export takes minutes); tests read FEATCACHE_TORCHVISION.
TORCH_PY = /usr/bin/python3
TORCHVISION_DIR ?= build/torchvision
export FEATCACHE_TORCHVISION = $(TORCHVISION_DIR)
torchvision:
	@mkdir -p $(TORCHVISION_DIR)
	@if $(TORCH_PY) -c 'import torch, torchvision, numpy' 2>/dev/null; then \
		rm -f $(TORCHVISION_DIR)/UNAVAILABLE; \
		$(TORCH_PY) scripts/export_torchvision.py --no-ort $(TORCHVISION_DIR); \
	else \
		echo "python3-torch/python3-torchvision not installed (apt-get install python3-torch python3-torchvision)" \
			> $(TORCHVISION_DIR)/UNAVAILABLE; \
	fi

# Every process of the run (test binaries and the featcache commands the shell tests start) writes
# its sanitizer reports to build-asan/sanitizer/; tests/run.sh turns each report into a FAIL line,
# so a report fails the run even where a test expects a non-zero exit. Leaks count; UBSan stops at
# the first report. FEATCACHE_SANITIZE=1 lets the slowest tests use fewer images (they say so).
# -O2: extraction runs twice as fast as at -O1 under the sanitizers (which stay fully enabled).
SAN_LOG = $(CURDIR)/build-asan/sanitizer
sanitize:
	@rm -rf $(SAN_LOG) && mkdir -p $(SAN_LOG)
	ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:log_path=$(SAN_LOG)/asan \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$(SAN_LOG)/ubsan \
	FEATCACHE_SANITIZER_LOGS=$(SAN_LOG) FEATCACHE_SANITIZE=1 \
	$(MAKE) BUILD=build-asan OPT=-O2 CFLAGS="-O2 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
		LDFLAGS=-fsanitize=address,undefined test

# Everything CI runs (the README's test command), one after the other: the tests, the same tests
# under ASan+UBSan with leak checking, and 60 s of each libFuzzer target.
check:
	$(MAKE) test
	$(MAKE) sanitize
	$(MAKE) fuzz-ci

SHARED ?= ../shared
DEMO_CACHE ?= $(BUILD)/demo-cache
DEMO_MODEL = $(SHARED)/models/mobilenet_v2_1.0_224.onnx
# The main job on the bundled defaults: ants/bees features with MobileNetV2, a softmax head with its
# validation accuracy, and the head applied to two photos.
demo: all
	$(BUILD)/featcache extract $(SHARED)/data/hymenoptera --model $(DEMO_MODEL) --cache $(DEMO_CACHE) || [ $$? -eq 3 ]
	$(BUILD)/featcache train hymenoptera --model $(DEMO_MODEL) --cache $(DEMO_CACHE) --l2 10 -o $(BUILD)/demo-head.onnx
	$(BUILD)/featcache predict --model $(DEMO_MODEL) --head $(BUILD)/demo-head.onnx --cache $(DEMO_CACHE) \
		$(SHARED)/data/hymenoptera/val/ants/8124241_36b290d372.jpg $(SHARED)/data/hymenoptera/val/bees/1032546534_06907fe3b3.jpg

clean:
	rm -rf $(BUILD) build-asan build-fuzz

include tests/fuzz/fuzz.mk

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
