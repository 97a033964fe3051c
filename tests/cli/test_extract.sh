#!/bin/sh
# End-to-end checks of `featcache extract` / export / ls / verify / gc on the ants/bees set and the
# shared test photos: counts (ants/bees' GIF placeholder is an item), a bad file, reruns compute nothing, renamed/copied data sets reuse
# every feature, two layers + f16 in one pass, and agreement with ONNX Runtime's pooled features on
# the same decoded pixels. One PASS/FAIL/SKIP line per check. Kills: tests/cli/test_crash.sh; concurrent
# extracts and readers: tests/cli/test_concurrency.sh.
NAME=extract; . "$(dirname "$0")/../support/common.sh"

need_shared
M="$SHARED/models/mobilenet_v2_1.0_224.onnx"
H="$SHARED/data/hymenoptera"

"$FC" extract --help | grep -q "^usage: featcache extract"; check "extract --help" $?
for cmd in export ls verify gc; do "$FC" $cmd --help | grep -q "^usage: featcache $cmd"; check "$cmd --help" $?; done
"$FC" extract "$H" --model "$M" --views orig,zoom >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ] && grep -q "unknown view 'zoom'" "$T/err"; check "a bad --views value is refused" $?
# a layer that is no per-image tensor: a weight (w56, 32x3x3x3) and a scalar constant (t56_lo, once
# a division by zero); refused before any item is stored
for L in w56 t56_lo; do
    "$FC" extract "$SHARED/images" --model "$M" --cache "$T/const" --layer $L >/dev/null 2>"$T/err"; rc=$?
    [ $rc -eq 1 ] && grep -q "layer '$L' is a constant of the model" "$T/err" &&
        ! "$FC" export images --model "$M" --cache "$T/const" --layer $L >/dev/null 2>&1
    check "--layer $L (a constant of the model) is refused: $(head -c 120 "$T/err")" $?
done

# 1. first run: 398 features (the GIF placeholder is an image like any other), none bad; exit 0
"$FC" extract "$H" --model "$M" --cache "$T/c" --json >"$T/run1.json" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ "$(json_field computed "$T/run1.json")" = 398 ] && [ "$(json_field bad "$T/run1.json")" = 0 ]
check "ants/bees: 398 computed (the GIF too), 0 bad, exit 0" $?
# 2. rerun: nothing computed, the model is not even loaded
"$FC" extract "$H" --model "$M" --cache "$T/c" --json >"$T/run2.json" 2>/dev/null
[ "$(json_field computed "$T/run2.json")" = 0 ] && [ "$(json_field cached "$T/run2.json")" = 398 ] &&
    [ "$(json_field model_loaded "$T/run2.json")" = false ]
check "rerun computes nothing ($(json_field seconds "$T/run1.json") s first, $(json_field seconds "$T/run2.json") s rerun)" $?
"$FC" verify --cache "$T/c" >"$T/verify" 2>&1; check "verify clean after extract" $?

# 3. a renamed copy of the data set: hashed, nothing recomputed; a cut GIF in it is recorded bad
cp -r "$H" "$T/renamed_set"
mv "$T/renamed_set/train/ants/0013035.jpg" "$T/renamed_set/train/ants/renamed.jpg"
printf 'GIF89a\001\000\001\000' >"$T/renamed_set/train/ants/cut.gif"
"$FC" extract "$T/renamed_set" --model "$M" --cache "$T/c" --json >"$T/run3.json" 2>/dev/null; rc=$?
[ "$(json_field computed "$T/run3.json")" = 0 ] && [ "$(json_field cached "$T/run3.json")" = 398 ] &&
    [ $rc -eq 3 ] && [ "$(json_field bad "$T/run3.json")" = 1 ] && grep -q 'cut.gif: corrupt GIF' "$T/run3.json"
check "renamed/copied data set: 0 computed; the cut GIF bad with its reason, exit 3" $?
"$FC" export "$H" --model "$M" --cache "$T/c" -o "$T/e1" 2>/dev/null &&
    "$FC" export "$T/renamed_set" --model "$M" --cache "$T/c" -o "$T/e2" 2>/dev/null &&
    [ "$(wc -l <"$T/e1/paths.txt")" -eq 398 ] && [ "$(grep -c '^train$' "$T/e1/splits.txt")" -eq 245 ] &&
    [ "$(grep -c '^val$' "$T/e1/splits.txt")" -eq 153 ] && [ "$(grep -c '^bees$' "$T/e1/labels.txt")" -eq 204 ] &&
    [ "$(head -c 6 "$T/e1/features.npy" | tail -c 5)" = "NUMPY" ] && grep -q "train/ants/renamed.jpg" "$T/e2/paths.txt"
check "export: 398 rows (245 train, 153 val, 204 bees) with paths/labels/splits in one order" $?

# 4. two layers in one pass, f16 storage within 1e-3 of f32
mkdir -p "$T/small/a" "$T/small/b"
for f in $(ls "$H/train/ants" | head -6); do cp "$H/train/ants/$f" "$T/small/a/"; done
for f in $(ls "$H/train/bees" | head -6); do cp "$H/train/bees/$f" "$T/small/b/"; done
"$FC" extract "$T/small" --model "$M" --cache "$T/c" --layer pooled --layer probabilities --dtype f16 --json >"$T/run5.json" 2>/dev/null
grep -q '"name":"pooled","extractor":"[0-9a-f]*","dims":\[1280\]' "$T/run5.json" &&
    grep -q '"name":"probabilities","extractor":"[0-9a-f]*","dims":\[1001\]' "$T/run5.json" &&
    [ "$(json_field computed "$T/run5.json")" = 12 ]
check "two layers in one pass (pooled 1280 + probabilities 1001)" $?
"$FC" extract "$T/small" --model "$M" --cache "$T/c" --quiet 2>/dev/null
"$FC" export "$T/small" --model "$M" --cache "$T/c" --dtype f16 -o "$T/f16" 2>/dev/null &&
    "$FC" export "$T/small" --model "$M" --cache "$T/c" -o "$T/f32" 2>/dev/null &&
    "$FC" export "$T/small" --model "$M" --cache "$T/c" --dtype f16 --layer probabilities -o "$T/p16" 2>/dev/null
rc=$?
if [ $rc -eq 0 ] && $PY -c 'import numpy' 2>/dev/null; then
    $PY - "$T" <<'PY'
import sys, numpy as np
t = sys.argv[1]
a, b = np.load(t + "/f16/features.npy"), np.load(t + "/f32/features.npy")
rel = np.abs(a - b).max() / np.abs(b).max()
p = np.load(t + "/p16/features.npy")
ok = a.shape == (12, 1280) and rel <= 1e-3 and p.shape == (12, 1001) and abs(p.sum(1) - 1).max() < 1e-2
print("  f16 vs f32: max relative difference %.2e" % rel)
sys.exit(0 if ok else 1)
PY
    check "f16 features within 1e-3 of f32; second layer exported" $?
else
    [ $rc -eq 0 ] && echo "SKIP extract: f16 comparison needs python3-numpy" || bad "f16/f32 exports"
fi

"$FC" extract "$T/small" --model "$M" --cache "$T/v" --views orig,flip,crops5 --json >"$T/run6.json" 2>/dev/null &&
    "$FC" export "$T/small" --model "$M" --cache "$T/v" --view crop-tl -o "$T/vtl" 2>/dev/null &&
    "$FC" export "$T/small" --model "$M" --cache "$T/v" --view crop-br -o "$T/vbr" 2>/dev/null &&
    "$FC" export "$T/small" --model "$M" --cache "$T/v" -o "$T/vorig" 2>/dev/null &&
    [ "$(json_field computed "$T/run6.json")" = 12 ] && ! cmp -s "$T/vtl/features.npy" "$T/vbr/features.npy" &&
    cmp -s "$T/vorig/features.npy" "$T/f32/features.npy"
check "views orig,flip,crops5 in one pass; each view exported on its own; orig unchanged" $?

# 5. same decoded pixels as ONNX Runtime's reference: the 8 shared photos (none is large enough for DCT scaling)
mkdir -p "$T/photos"
for f in $(cat "$SHARED/reference/mobilenet_v2_1.0_224/images.txt"); do cp "$SHARED/images/$f" "$T/photos/"; done
"$FC" extract "$T/photos" --model "$M" --cache "$T/c" --quiet 2>/dev/null &&
    "$FC" export "$T/photos" --model "$M" --cache "$T/c" -o "$T/ep" 2>/dev/null
if [ $? -eq 0 ] && $PY -c 'import numpy' 2>/dev/null; then
    $PY - "$T" "$SHARED" <<'PY'
import sys, numpy as np
t, shared = sys.argv[1], sys.argv[2]
ref = np.load(shared + "/reference/mobilenet_v2_1.0_224/pooled.npy")
order = open(shared + "/reference/mobilenet_v2_1.0_224/images.txt").read().split()
got = np.load(t + "/ep/features.npy")
paths = open(t + "/ep/paths.txt").read().split()
worst = 1.0
for i, p in enumerate(paths):
    r = ref[order.index(p)]
    c = float(np.dot(got[i], r) / np.linalg.norm(got[i]) / np.linalg.norm(r))
    worst = min(worst, c)
print("  lowest cosine to ONNX Runtime over %d photos: %.6f" % (len(paths), worst))
sys.exit(0 if len(paths) == 8 and worst >= 0.9999 else 1)
PY
    check "extracted features = ONNX Runtime's on the same pixels (cosine >= 0.9999)" $?
else
    echo "SKIP extract: ONNX Runtime comparison needs python3-numpy"
fi

# 6. gc removes what nothing references any more; ls lists the bad file
"$FC" ls --cache "$T/c" >"$T/ls" && grep -q "cut.gif" "$T/ls"; check "ls lists the bad file" $?
grep -qE "^  #[0-9]+ +extract ok .* [0-9]+ items: [0-9]+ computed, [0-9]+ cached, [0-9]+ bad, [0-9.]+ s$" "$T/ls" &&
    "$FC" ls --cache "$T/c" --verbose | grep -qE '^  #[0-9]+ +extract ok .*\{"items":'
check "ls shows an extract run's counts; --verbose its whole recorded result" $?
"$FC" extract "$T/small" --model "$M" --cache "$T/g" --quiet 2>/dev/null
rm "$T/small/a/$(ls "$T/small/a" | head -1)" "$T/small/b/$(ls "$T/small/b" | head -1)"
"$FC" extract "$T/small" --model "$M" --cache "$T/g" --quiet 2>/dev/null # the two rows are pruned
"$FC" gc --cache "$T/g" --dry-run >"$T/gcd" 2>&1 && "$FC" gc --cache "$T/g" >"$T/gc" 2>&1
grep -q "would delete 2 features" "$T/gcd" && grep -q "deleted 2 features of 0 unused extractors and 2 unreferenced items" "$T/gc" &&
    "$FC" verify --cache "$T/g" >/dev/null 2>&1 &&
    "$FC" extract "$T/small" --model "$M" --cache "$T/g" --json 2>/dev/null | grep -q '"computed":0,"cached":10'
check "gc deletes the 2 features of removed files, keeps the rest, verify clean" $?
[ $? -eq 0 ] || cat "$T/gcd" "$T/gc"

# 7. two folders with the same name: the second is refused (it would replace the first's items)
# unless --name tells them apart; a folder that moved keeps its name
mkdir -p "$T/x/set/a" "$T/y/set/b"
cp "$(ls "$H"/train/ants/*.jpg | sed -n 5p)" "$T/x/set/a/"; cp "$(ls "$H"/train/bees/*.jpg | sed -n 5p)" "$T/y/set/b/"
"$FC" extract "$T/x/set" --model "$M" --cache "$T/n" --quiet 2>/dev/null
"$FC" extract "$T/y/set" --model "$M" --cache "$T/n" --quiet 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "data set name 'set' already stands for .*/x/set in this cache; give --name" "$T/err" &&
    "$FC" ls --cache "$T/n" | grep -q "^  set .* 1 items .*/x/set$"
check "a second folder under a taken name is refused, the first data set is kept" $?
"$FC" extract "$T/y/set" --model "$M" --cache "$T/n" --quiet --name set2 2>/dev/null &&
    mv "$T/x" "$T/x2" && "$FC" extract "$T/x2/set" --model "$M" --cache "$T/n" --json 2>/dev/null | grep -q '"computed":0,"cached":1' &&
    "$FC" ls --cache "$T/n" | grep -q "^  set .*/x2/set$" && "$FC" ls --cache "$T/n" | grep -q "^  set2 .*/y/set$"
check "--name keeps both; a moved folder keeps its name and computes nothing" $?
exit 0
