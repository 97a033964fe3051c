#!/bin/sh
# Runs every test binary in $BUILD/tests/LAYER/ (and the tests/LAYER/test_*.sh scripts), shows their lines, and
# prints the totals as "N passed, N failed, N skipped". A binary that crashes or exits non-zero without
# printing FAIL counts as one failure, so a crash is never lost; under make sanitize so does every
# sanitizer report file left in $FEATCACHE_SANITIZER_LOGS.
BUILD=${BUILD:-build}
export FEATCACHE_BIN=${FEATCACHE_BIN:-$BUILD/featcache}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
crashed=0
for t in "$BUILD"/tests/*/test_* tests/*/test_*.sh; do
    [ -x "$t" ] || [ "${t%.sh}" != "$t" ] || continue
    [ -f "$t" ] || continue
    case "$t" in *.d) continue ;; esac
    echo "== $t"
    t0=$(date +%s)
    if [ "${t%.sh}" != "$t" ]; then sh "$t" >"$out.one" 2>&1; rc=$?; else "$t" >"$out.one" 2>&1; rc=$?; fi
    cat "$out.one"
    cat "$out.one" >>"$out"
    echo "-- $t: $(($(date +%s) - t0)) s"
    if [ $rc -ne 0 ] && ! grep -q '^FAIL ' "$out.one"; then
        echo "FAIL $t: exited with status $rc"
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
rm -f "$out.one"
p=$(grep -c '^PASS ' "$out")
f=$(grep -c '^FAIL ' "$out")
s=$(grep -c '^SKIP ' "$out")
f=$((f + crashed))
echo
if [ "$s" -gt 0 ]; then grep '^SKIP ' "$out"; fi
echo "$p passed, $f failed, $s skipped"
[ "$f" -eq 0 ]
