# The start every shell test shares, sourced after setting NAME (the word after PASS/FAIL/SKIP):
#     NAME=extract; . "$(dirname "$0")/../support/common.sh"
# Sets FC (the featcache binary, absolute; FEATCACHE_BIN, else build/featcache), SHARED
# (FEATCACHE_SHARED, else ../shared), PY, FX (the fixture maker) and T, a private temporary folder
# that `cleanup` removes at exit (a test that mounts things in T redefines cleanup; KEEP=1 keeps T).
# ok/bad/check print one PASS/FAIL line per check for tests/run.sh; a failed check also shows the
# first lines of $T/err, indented. Run from the repository root, as tests/run.sh does.
FC=${FEATCACHE_BIN:-build/featcache}
case "$FC" in /*) ;; *) FC="$(pwd)/$FC" ;; esac
SHARED=${FEATCACHE_SHARED:-../shared}
PY=/usr/bin/python3
FX="$(pwd)/tests/support/make_fixtures.py"
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
# split_set DIR N: DIR/{train,val}/{a,b} with N distinct generated 40x40 JPEGs each (make_fixtures.py
# images, a seed per folder), for tests that need a small labeled set without ../shared
split_set() {
    for s in train val; do for c in a b; do
        $PY "$FX" images "$1/$s/$c" "$2" "$(printf '%s%s' $s $c | cksum | cut -c1-6)" || return 1
    done; done
}
