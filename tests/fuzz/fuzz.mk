# Fuzzing (included by the Makefile). `make fuzz` builds the libFuzzer targets with clang, ASan and
# UBSan into build-fuzz/ (library objects with -fsanitize=fuzzer-no-link, targets linked with
# -fsanitize=fuzzer); `make fuzz-ci` runs each for 60 s (scripts/fuzz.sh all 60). `make test` builds
# the same target sources with the normal compiler against tests/fuzz/replay_main.c and replays the
# crash regressions (tests/fixtures/fuzz/) and the seed corpora (tests/fuzz/test_fuzz_replay.sh).
FUZZ_TARGETS = image onnx csv head cache
FUZZ_BUILD ?= build-fuzz
FUZZ_CC ?= clang
FUZZ_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
	-fno-sanitize-recover=all
FUZZ_REPLAY = $(FUZZ_TARGETS:%=$(BUILD)/fuzz-replay/replay_%) $(BUILD)/fuzz-replay/make_seeds

.PHONY: fuzz fuzz-bins fuzz-ci
fuzz:
	@$(MAKE) --no-print-directory BUILD=$(FUZZ_BUILD) CC=$(FUZZ_CC) CFLAGS="$(FUZZ_FLAGS)" fuzz-bins

fuzz-ci:
	sh scripts/fuzz.sh all 60

fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzz_%) $(BUILD)/fuzz-replay/make_seeds

$(BUILD)/fuzz_%: tests/fuzz/fuzz_%.c $(BUILD)/libfeatcache.a | $(GEN_H)
	$(CC) $(CFLAGS) -fsanitize=fuzzer -o $@ $< $(BUILD)/libfeatcache.a $(LDLIBS)

$(BUILD)/fuzz-replay/replay_%: tests/fuzz/fuzz_%.c tests/fuzz/replay_main.c $(BUILD)/libfeatcache.a | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< tests/fuzz/replay_main.c $(BUILD)/libfeatcache.a $(LDLIBS)

$(BUILD)/fuzz-replay/make_seeds: tests/fuzz/make_seeds.c $(TEST_SUPPORT_OBJ) $(BUILD)/libfeatcache.a | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(TEST_SUPPORT_OBJ) $(BUILD)/libfeatcache.a $(LDLIBS)

test: $(FUZZ_REPLAY)
