#!/bin/sh
# Concurrency on one cache: four extracts at once into a fresh cache (the same data set and model
# twice, the same data set with another model, another data set with that other model) while
# export, train and sweep run in a loop on it. Every reader must either succeed on a consistent
# snapshot (export: as many labels/paths/splits as feature rows, each row bitwise equal to a clean
# run's row for that path with the same label and split) or fail with one of featcache's clear
# messages (nothing extracted yet, features not there yet, one class so far...); never crash or
# see a torn state.
# Afterwards: the extracts all finished with their normal status, verify is clean, and every data
# set and model exports bitwise equal to clean single-process runs. One PASS/FAIL/SKIP line per check.
NAME=concurrency; . "$(dirname "$0")/../support/common.sh"

need_shared
need_python numpy "snapshot checks need python3-numpy"
M1="$SHARED/models/mobilenet_v2_1.0_224.onnx"
M2="$SHARED/models/mobilenet_v1_0.75_192.onnx"
H="$SHARED/data/hymenoptera"
# set a: 60 images + the GIF; set b: 40 other images (a different data set for a different model)
big=20 small=10 # images per class in train and val (set b: small)
if [ -n "$FEATCACHE_SANITIZE" ]; then # make sanitize: the same checks on fewer images
    big=8 small=4; echo "  FEATCACHE_SANITIZE set: 24 + 16 images instead of 60 + 40 (sanitizer builds are slow)"
fi
for s in train val; do
    for c in ants bees; do
        mkdir -p "$T/a/$s/$c" "$T/b/$s/$c"
        n=$small; [ $s = train ] && n=$big
        ls "$H/$s/$c" | grep -v '\.gif$' >"$T/list"
        head -$n "$T/list" | while IFS= read -r f; do cp "$H/$s/$c/$f" "$T/a/$s/$c/"; done
        tail -$small "$T/list" | while IFS= read -r f; do cp "$H/$s/$c/$f" "$T/b/$s/$c/"; done
    done
done
printf 'GIF89a\001\000\001\000' >"$T/a/train/ants/imageNotFound.gif" # a cut GIF: a bad file
OPTS="--batch 4 --quiet"

# references: one extract at a time
"$FC" extract "$T/a" --model "$M1" --cache "$T/ref" $OPTS 2>/dev/null
"$FC" extract "$T/a" --model "$M2" --cache "$T/ref" $OPTS 2>/dev/null
"$FC" extract "$T/b" --model "$M2" --cache "$T/ref" $OPTS 2>/dev/null
"$FC" export a --model "$M1" --cache "$T/ref" -o "$T/ref_a" 2>/dev/null &&
    "$FC" export a --model "$M2" --cache "$T/ref" -o "$T/ref_a2" 2>/dev/null &&
    "$FC" export b --model "$M2" --cache "$T/ref" -o "$T/ref_b" 2>/dev/null ||
    { bad "reference runs failed"; exit 0; }

# Readers accept success (with the warning that the data set is incomplete while its extracts run)
# or one of these failures (reasons a partial cache legitimately gives).
CLEAN='no featcache catalog|no feature store|no data set named|have no features|has no usable items|only one class|single class|split is empty|leaves the .* split empty'
n_ok=0; n_clean=0; n_bad=0
reader() { # name, then the command; counts the outcome, prints anything unexpected
    name=$1; shift
    "$@" >"$T/r.out" 2>"$T/r.err"
    rc=$?
    # exit 3 with only the warning that the data set is incomplete (an extract of it is running)
    if [ $rc -eq 3 ] && grep -q "^featcache: warning: data set .* is incomplete" "$T/r.err" && ! grep -q "failed: " "$T/r.out"; then
        rc=0
    fi
    if [ $rc -eq 0 ]; then
        n_ok=$((n_ok + 1)); return 0
    elif [ $rc -eq 1 ] && grep -Eq "^featcache [a-z]+: .*($CLEAN)" "$T/r.err"; then
        n_clean=$((n_clean + 1)); return 1
    elif [ $rc -eq 3 ] && [ "$name" = sweep ] && grep -q "failed: " "$T/r.out" &&
        ! grep "failed: " "$T/r.out" | grep -Evq "$CLEAN"; then # some configurations failed, each cleanly
        n_clean=$((n_clean + 1)); return 1
    fi
    n_bad=$((n_bad + 1)); echo "  $name exited $rc:"; cat "$T/r.err" "$T/r.out" | sed 's/^/    /' | head -8; return 1
}
snapshot() { # export dir, reference dir: rows consistent with the reference
    $PY - "$1" "$2" <<'PY'
import sys, numpy as np
out, ref = sys.argv[1], sys.argv[2]
def load(d):
    x = np.load(d + "/features.npy")
    cols = [open(d + "/%s.txt" % f).read().splitlines() for f in ("paths", "labels", "splits")]
    return x, cols
x, (paths, labels, splits) = load(out)
rx, (rpaths, rlabels, rsplits) = load(ref)
if not (x.shape[0] == len(paths) == len(labels) == len(splits)) or x.shape[1] != rx.shape[1]:
    print("  torn export: %s rows, %d paths, %d labels, %d splits" % (x.shape, len(paths), len(labels), len(splits)))
    sys.exit(1)
at = {p: i for i, p in enumerate(rpaths)}
for i, p in enumerate(paths):
    j = at.get(p)
    if j is None or labels[i] != rlabels[j] or splits[i] != rsplits[j] or x[i].tobytes() != rx[j].tobytes():
        print("  row %d (%s) differs from the clean run" % (i, p))
        sys.exit(1)
PY
}

"$FC" extract "$T/a" --model "$M1" --cache "$T/cc" $OPTS 2>"$T/x1.err" & p1=$!
"$FC" extract "$T/a" --model "$M1" --cache "$T/cc" $OPTS 2>"$T/x2.err" & p2=$!
"$FC" extract "$T/b" --model "$M2" --cache "$T/cc" $OPTS 2>"$T/x3.err" & p3=$!
"$FC" extract "$T/a" --model "$M2" --cache "$T/cc" $OPTS 2>"$T/x4.err" & p4=$!
rounds=0; torn=0; exports_ok=0
while kill -0 $p1 2>/dev/null || kill -0 $p2 2>/dev/null || kill -0 $p3 2>/dev/null || kill -0 $p4 2>/dev/null; do
    rounds=$((rounds + 1))
    for set in a b; do
        m=$M1; [ $set = b ] && m=$M2
        rm -rf "$T/snap"
        if reader "export $set" "$FC" export $set --model "$m" --cache "$T/cc" -o "$T/snap"; then
            if snapshot "$T/snap" "$T/ref_$set"; then exports_ok=$((exports_ok + 1)); else torn=$((torn + 1)); fi
        fi
    done
    reader "train" "$FC" train a --model "$M1" --cache "$T/cc" --head ncm -o "$T/head.onnx"
    reader "sweep" "$FC" sweep a --model "$M1" --cache "$T/cc" --grid 'head=softmax,ncm l2=1,100'
done
wait $p1; r1=$?; wait $p2; r2=$?; wait $p3; r3=$?; wait $p4; r4=$?
echo "  $rounds reader rounds: $n_ok succeeded ($exports_ok exports checked row by row), $n_clean failed cleanly, $n_bad otherwise, $torn torn"
[ $n_bad -eq 0 ] && [ $torn -eq 0 ] && [ $exports_ok -gt 0 ]
check "export/train/sweep during 4 extracts: consistent snapshots or clear failures" $?
[ $r1 -eq 3 ] && [ $r2 -eq 3 ] && [ $r3 -eq 0 ] && [ $r4 -eq 3 ]
check "concurrent extracts (a/M1 twice, b/M2, a/M2) finished normally (exits $r1 $r2 $r3 $r4, expected 3 3 0 3)" $?
[ $r1 -eq 3 ] && [ $r2 -eq 3 ] && [ $r3 -eq 0 ] && [ $r4 -eq 3 ] || cat "$T/x1.err" "$T/x2.err" "$T/x3.err" "$T/x4.err" | head -20

"$FC" verify --cache "$T/cc" >"$T/verify" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q "0 corrupt, 0 missing, 0 unreferenced" "$T/verify" && grep -q "; 0 catalog problems" "$T/verify" &&
    ! grep -q "interrupted" "$T/verify"
check "verify clean after the concurrent extracts" $?
[ $? -eq 0 ] || cat "$T/verify"
same=0
for set in a a2 b; do
    m=$M1; [ $set = a ] || m=$M2
    "$FC" export ${set%2} --model "$m" --cache "$T/cc" -o "$T/final_$set" 2>/dev/null || same=1
    for f in features.npy labels.txt paths.txt splits.txt; do cmp -s "$T/ref_$set/$f" "$T/final_$set/$f" || same=1; done
done
check "a/M1, a/M2 and b/M2 export bitwise equal to single-process runs" $same
exit 0
