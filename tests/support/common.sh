# The start every shell test shares, sourced after setting NAME (the word after PASS/FAIL/SKIP):
#     NAME=extract; . "$(dirname "$0")/../support/common.sh"
# Sets FC (the featcache binary, absolute; FEATCACHE_BIN, else build/featcache), KILLABLE, SHARED
# (FEATCACHE_SHARED, else ../shared), PY, FX (the fixture maker) and T, a private temporary folder
# that `cleanup` removes at exit (a test that mounts things in T redefines cleanup; KEEP=1 keeps T).
# ok/bad/check print one PASS/FAIL line per check for tests/run.sh; a failed check also shows the
# first lines of $T/err, indented. Run from the repository root, as tests/run.sh does.
FC=${FEATCACHE_BIN:-build/featcache}
case "$FC" in /*) ;; *) FC="$(pwd)/$FC" ;; esac
SHARED=${FEATCACHE_SHARED:-../shared}
PY=/usr/bin/python3
FX="$(pwd)/tests/support/make_fixtures.py"
# KILLABLE: the prefix of a featcache run that a test kills at a random moment (env execs, so $! is
# featcache's pid). A SIGKILL that lands in LeakSanitizer's check at exit leaves an empty report file
# (its tracer opens the log under the parent's pid, then dies with the parent before writing), which
# make sanitize would count as a report; these runs skip that exit check, the runs that end still make it.
KILLABLE="env ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
T=$(mktemp -d "${TMPDIR:-/tmp}/fc_$NAME.XXXXXX") || { echo "FAIL $NAME: cannot create a temporary folder"; exit 1; }
cleanup() { rm -rf "$T"; }
trap cleanup EXIT
[ -n "$KEEP" ] && trap - EXIT

ok() { echo "PASS $NAME: $1"; }
bad() { echo "FAIL $NAME: $1"; }
# check DESCRIPTION STATUS: PASS when STATUS is 0
check() {
    if [ "$2" = 0 ]; then ok "$1"; else
        bad "$1"
        if [ -s "$T/err" ]; then sed 's/^/    /' "$T/err" | head -8; fi
    fi
}
# json_field NAME FILE: the first number/word value of "NAME": in FILE
json_field() { sed -n "s/.*\"$1\":\([0-9.a-z-]*\).*/\1/p" "$2" | head -1; }
# need_shared [SUBDIR [WHAT]]: SKIP the rest of the script (exit 0) without $SHARED/SUBDIR
need_shared() {
    [ -d "$SHARED/${1:-data/hymenoptera}" ] || { echo "SKIP $NAME: ${2:+$2: }$SHARED not found"; exit 0; }
}
# need_python MODULES WHY: SKIP the rest of the script when $PY cannot import MODULES (a, b, c)
need_python() {
    $PY -c "import $1" 2>/dev/null || { echo "SKIP $NAME: $2"; exit 0; }
}
# ab_subset DIR NTRAIN NVAL: DIR/{train,val}/{ants,bees} with the first NTRAIN / NVAL JPEGs of each
# class of ants/bees (a small real data set for tests that train)
ab_subset() {
    for s in train val; do
        n=$2; [ $s = val ] && n=$3
        for c in ants bees; do
            mkdir -p "$1/$s/$c"
            ls "$SHARED/data/hymenoptera/$s/$c" | grep -i '\.jpg$' | head -"$n" |
                while read -r f; do cp "$SHARED/data/hymenoptera/$s/$c/$f" "$1/$s/$c/"; done
        done
    done
}
# trace_replay DIR FILES WHAT: checks that trace folder DIR (written by --trace) holds FILES (the
# arrays and meta.json), then replays its first 20 steps in PyTorch (scripts/finetune_torch.py
# check): one PASS/FAIL line each, "PyTorch replays featcache's first S WHAT, each loss within 1e-3
# relative (largest difference D)"; SKIP when PyTorch is missing. $rc is the training's status.
trace_replay() {
    missing=
    for f in $2; do [ -s "$1/$f" ] || missing="$missing $f"; done
    [ "$rc" -eq 0 ] && [ -z "$missing" ]
    check "--trace writes $(echo $2 | sed 's/ /, /g')${missing:+ (missing:$missing)}" $?
    [ "$rc" -eq 0 ] && [ -z "$missing" ] || return 0
    $PY scripts/finetune_torch.py check "$1" --steps 20 >"$T/check" 2>"$T/stderr"; rc=$?
    if [ $rc -eq 77 ]; then grep '^SKIP ' "$T/check"; return 0; fi
    { grep -E 'TOO LARGE|^[{]' "$T/check"; cat "$T/stderr"; } >"$T/err"
    check "PyTorch replays featcache's first $(json_field steps "$T/check") $3, each loss within 1e-3 relative (largest difference $(json_field max_rel_diff "$T/check"))" $rc
}
# kill_at_epoch N OUT CMD...: runs CMD (stdout to OUT, stderr to $T/err) in the background, holds
# it in the test hook right after epoch N's checkpoint is written (FEATCACHE_TEST_PAUSE=epoch#N+1:
# epoch 0 is the first) and kills it there with -9; 0 when it was killed (it reached the epoch).
kill_at_epoch() {
    n=$1 out=$2
    shift 2
    rm -rf "$T/pause" && mkdir "$T/pause" && mkfifo "$T/pause/epoch.reached" "$T/pause/epoch.go" || return 1
    FEATCACHE_TEST_PAUSE="epoch#$((n + 1)):$T/pause" "$@" >"$out" 2>>"$T/err" &
    pid=$!
    timeout 300 cat "$T/pause/epoch.reached" >/dev/null
    kill -9 $pid 2>/dev/null; killed=$?
    wait $pid 2>/dev/null
    return $killed
}
# split_set DIR N: DIR/{train,val}/{a,b} with N distinct generated 40x40 JPEGs each (make_fixtures.py
# images, a seed per folder), for tests that need a small labeled set without ../shared
split_set() {
    for s in train val; do for c in a b; do
        $PY "$FX" images "$1/$s/$c" "$2" "$(printf '%s%s' $s $c | cksum | cut -c1-6)" || return 1
    done; done
}
