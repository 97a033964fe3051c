#!/bin/sh
# Runs libFuzzer targets (tests/fuzz/) under ASan + UBSan: scripts/fuzz.sh TARGET|all SECONDS [-- ARGS]
# TARGET is image, onnx, csv, head or cache; `all` runs the five one after another (SECONDS each). Builds
# them if needed (`make fuzz`, clang), writes the seed corpora into build-fuzz/seeds/TARGET, keeps the
# grown corpus in build-fuzz/corpus/TARGET and crashes, timeouts and OOMs in build-fuzz/crashes/TARGET.
# Prints per target the executions, exec/s, coverage and the result; exits 1 when anything was found
# (copy each artifact into tests/fixtures/fuzz/TARGET/ so `make test` replays it), 64 on bad usage.
set -u
cd "$(dirname "$0")/.." || exit 1
usage() { echo "usage: scripts/fuzz.sh image|onnx|csv|head|cache|all SECONDS [-- libFuzzer args]" >&2; exit 64; }
[ $# -ge 2 ] || usage
target=$1 seconds=$2
shift 2
[ "${1:-}" = "--" ] && shift
case "$seconds" in ''|*[!0-9]*) usage ;; esac
case "$target" in image|onnx|csv|head|cache) targets=$target ;; all) targets="image onnx csv head cache" ;; *) usage ;; esac

FB=${FUZZ_BUILD:-build-fuzz}
mkdir -p "$FB" && make -s -j2 fuzz >"$FB/make.log" 2>&1 || { cat "$FB/make.log"; echo "fuzz: build failed" >&2; exit 1; }
rm -rf "$FB/seeds"
ASAN_OPTIONS=detect_leaks=0 "$FB/fuzz-replay/make_seeds" "$FB/seeds" || { echo "fuzz: seed generation failed" >&2; exit 1; }

found=0
summary=""
for t in $targets; do
    # cache: a feature store is whole 4 KiB pages; the seeds have 2 to 9 of them
    case $t in image) maxlen=8192 ;; onnx) maxlen=8192 ;; csv) maxlen=2048 ;; head) maxlen=8192 ;; cache) maxlen=65536 ;; esac
    mkdir -p "$FB/corpus/$t" "$FB/crashes/$t"
    log="$FB/fuzz-$t.log"
    echo "== fuzz $t for ${seconds}s (log: $log)"
    # rss/malloc limit 2 GiB: a single allocation above it counts as a finding (an input that makes
    # the library reserve that much is a bug unless it is really that large); 10 s per input.
    UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1} \
    "$FB/fuzz_$t" "$FB/corpus/$t" "$FB/seeds/$t" -max_total_time="$seconds" -max_len=$maxlen \
        -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 -artifact_prefix="$FB/crashes/$t/" "$@" \
        >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
    cov=$(grep -E '^#[0-9]+' "$log" | tail -1 | sed -n 's/.*cov: \([0-9]*\) ft: \([0-9]*\).*/cov \1 ft \2/p')
    art=$(sed -n 's/.*Test unit written to //p' "$log" | head -1)
    if [ $rc -eq 0 ]; then result=ok; else result="FOUND (exit $rc): ${art:-no artifact written}"; found=1; fi
    line="fuzz $t: ${execs:-?} executions, ${speed:-?} exec/s, ${cov:-cov ?}: $result"
    echo "$line"
    if [ $rc -ne 0 ]; then
        grep -E 'ERROR: |SUMMARY: |runtime error' "$log" | head -6
    fi
    summary="$summary$line
"
done
if [ "$target" = all ]; then echo; printf '%s' "$summary"; fi
exit $found
