#!/bin/sh
# Runs every test: the binary $BUILD/tests/LAYER/test_X of each tests/LAYER/test_X.c, each
# tests/LAYER/test_*.sh, and each tests/LAYER/test_*.py with /usr/bin/python3 (PYTHONPATH=python,
# FEATCACHE_LIB=$BUILD/libfeatcache.so: the package under test loads this build's library); shows
# their lines and prints the totals as "N passed, N failed, N skipped".
# Only binaries that have a source run (a stale one left in $BUILD by a renamed or split test is not
# counted). A test counts as one failure when its binary is missing, when it crashes or exits non-zero
# without printing FAIL, and when it prints no PASS/FAIL/SKIP line at all, so nothing is lost
# silently; under make sanitize so does every sanitizer report file left in $FEATCACHE_SANITIZER_LOGS.
BUILD=${BUILD:-build}
export FEATCACHE_BIN=${FEATCACHE_BIN:-$BUILD/featcache}
out=$(mktemp)
trap 'rm -f "$out" "$out.one"' EXIT
crashed=0
export FEATCACHE_LIB=${FEATCACHE_LIB:-$BUILD/libfeatcache.so}
# An ASan build's library loads into python3 only behind the sanitizer runtimes; python's own
# allocations are no leaks of ours (the featcache processes a test starts keep the leak checks).
py_env=
if [ -f "$FEATCACHE_LIB" ] && readelf -d "$FEATCACHE_LIB" 2>/dev/null | grep -q 'libasan'; then
    py_env="LD_PRELOAD=$(${CC:-cc} -print-file-name=libasan.so):$(${CC:-cc} -print-file-name=libubsan.so) FEATCACHE_CHILD_ASAN_OPTIONS=$ASAN_OPTIONS ASAN_OPTIONS=$ASAN_OPTIONS:detect_leaks=0"
fi
for src in tests/*/test_*.c tests/*/test_*.sh tests/*/test_*.py; do
    [ -f "$src" ] || continue
    case "$src" in *.c) t=$BUILD/${src%.c} ;; *) t=$src ;; esac
    run=sh
    case "$src" in *.py) run="env PYTHONPATH=python $py_env /usr/bin/python3" ;; esac
    echo "== $t"
    if [ "$t" != "$src" ] && [ ! -x "$t" ]; then
        echo "FAIL $t: not built (make test builds it from $src)"
        crashed=$((crashed + 1))
        continue
    fi
    t0=$(date +%s)
    if [ "$t" = "$src" ]; then $run "$t" >"$out.one" 2>&1; rc=$?; else "$t" >"$out.one" 2>&1; rc=$?; fi
    cat "$out.one"
    cat "$out.one" >>"$out"
    echo "-- $t: $(($(date +%s) - t0)) s"
    if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out.one"; then
        echo "FAIL $t: exited with status $rc"
        crashed=$((crashed + 1))
    elif ! grep -qE '^(PASS|FAIL|SKIP) ' "$out.one"; then
        echo "FAIL $t: printed no PASS, FAIL or SKIP line"
        crashed=$((crashed + 1))
    fi
    if [ -n "$FEATCACHE_SANITIZER_LOGS" ]; then # make sanitize: each report of any process is a failure
        for r in "$FEATCACHE_SANITIZER_LOGS"/*san.*; do
            [ -f "$r" ] || continue
            echo "FAIL $t: sanitizer report $r:"
            head -40 "$r" | sed 's/^/    /'
            mkdir -p "$FEATCACHE_SANITIZER_LOGS/seen" && mv "$r" "$FEATCACHE_SANITIZER_LOGS/seen/"
            crashed=$((crashed + 1))
        done
    fi
done
p=$(grep -c '^PASS ' "$out")
f=$(grep -c '^FAIL ' "$out")
s=$(grep -c '^SKIP ' "$out")
f=$((f + crashed))
echo
if [ "$s" -gt 0 ]; then grep '^SKIP ' "$out"; fi
echo "$p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
