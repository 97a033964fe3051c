#!/bin/sh
# Replays the fuzz regressions (tests/fixtures/fuzz/TARGET/: inputs that once crashed, hung or
# exhausted memory) and the generated seed corpora through the fuzz targets built with the normal
# compiler (tests/fuzz/replay_main.c), so `make test` needs no clang. Each regression must come back
# with the status listed in tests/fixtures/fuzz/EXPECTED; every seed must be accepted (status 0).
BUILD=${BUILD:-$(dirname "${FEATCACHE_BIN:-build/featcache}")}
R=$BUILD/fuzz-replay
FIX=tests/fixtures/fuzz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ ! -x "$R/make_seeds" ]; then
    echo "FAIL fuzz replay: $R/make_seeds is not built (make test builds it)"
    exit 1
fi
# the generator's ONNX builder (tests/support) does not free its protobuf: no leak check for it
if ASAN_OPTIONS=detect_leaks=0 "$R/make_seeds" "$tmp/seeds" >"$tmp/seeds.log" 2>&1; then
    echo "PASS fuzz seeds: generated, and every seed is accepted by its parser"
else
    echo "FAIL fuzz seeds: make_seeds failed"; tail -20 "$tmp/seeds.log"
fi

for t in image onnx csv head cache; do
    bin=$R/replay_$t
    if [ ! -x "$bin" ]; then echo "FAIL fuzz replay $t: $bin is not built"; continue; fi
    # regressions: each file with its expected status
    n=0 bad=0
    for f in "$FIX/$t"/*; do
        [ -f "$f" ] || continue
        n=$((n + 1))
        rel=$t/$(basename "$f")
        want=$(awk -v k="$rel" '$1 == k { print $2 }' "$FIX/EXPECTED")
        "$bin" "$f" >"$tmp/out" 2>"$tmp/err"
        rc=$?
        got=$(cut -f2 "$tmp/out")
        if [ $rc -eq 0 ] && grep -q 'runtime error:' "$tmp/err"; then rc=99; fi # UBSan builds that recover
        if [ $rc -ne 0 ]; then
            echo "FAIL fuzz regression $rel: the replay exited with status $rc"; sed 's/^/    /' "$tmp/err" | tail -15; bad=$((bad + 1))
        elif [ -z "$want" ]; then
            echo "FAIL fuzz regression $rel: no expected status in $FIX/EXPECTED (got $got)"; bad=$((bad + 1))
        elif [ "$got" != "$want" ]; then
            echo "FAIL fuzz regression $rel: status $got, expected $want ($(cut -f3 "$tmp/out"))"; bad=$((bad + 1))
        fi
    done
    if [ $n -gt 0 ] && [ $bad -eq 0 ]; then
        echo "PASS fuzz regressions $t: $n inputs replayed, each with its expected status"
    elif [ $n -eq 0 ]; then
        echo "(fuzz regressions $t: none recorded)"
    fi
    # seeds: replayed through the target too (same code path the fuzzer starts from)
    if "$bin" "$tmp/seeds/$t" >"$tmp/out" 2>"$tmp/err" && ! grep -q 'runtime error:' "$tmp/err"; then
        total=$(wc -l <"$tmp/out")
        failed=$(awk -F'\t' '$2 != 0' "$tmp/out")
        if [ "$total" -eq 0 ]; then
            echo "FAIL fuzz seeds $t: no seed replayed"
        elif [ -n "$failed" ]; then
            echo "FAIL fuzz seeds $t: seeds refused through the target:"; echo "$failed"
        else
            echo "PASS fuzz seeds $t: $total seeds replayed through the target, all accepted"
        fi
    else
        echo "FAIL fuzz seeds $t: the replay crashed"; tail -15 "$tmp/err"
    fi
done
