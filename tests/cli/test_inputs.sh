#!/bin/sh
# Inputs that are not what a command expects, end to end (issue 13 point 8): stray non-image files
# in class folders (skipped with a note, exit 0), folders deeper than the scan limit (named, exit 3),
# an image file given as DATASET, a CSV manifest with a UTF-8 byte order mark, --cache naming a
# regular file, a class that only the validation split has (named, not numbered), sweep grids
# (linear ranges, whole numbers, keys given twice), `train -o` that cannot write its file (the run
# is recorded failed, never ok without its file) and a killed `train` (marked interrupted by the
# next one). Inputs are made at test time (tests/support/make_fixtures.py). One PASS/FAIL per check.
NAME=inputs; . "$(dirname "$0")/../support/common.sh"

need_python "numpy, PIL, onnx" "/usr/bin/python3 lacks numpy/PIL/onnx (scripts/install_deps.sh installs them)"
M="$T/m.onnx"
$PY "$FX" model "$M" && split_set "$T/ds" 6 || { bad "making fixtures"; exit 1; }
C="$T/c"

# ---- stray files and folders too deep ----
echo "my notes" >"$T/ds/train/a/notes.txt"
head -c 4096 /dev/urandom >"$T/ds/train/b/Thumbs.db"
echo "about this set" >"$T/ds/README.md"
"$FC" extract "$T/ds" --model "$M" --cache "$C" --json >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ "$(json_field bad "$T/out")" = 0 ] && [ "$(json_field skipped "$T/out")" = 2 ] &&
    [ "$(json_field items "$T/out")" = 24 ] &&
    grep -q "note: skipped 2 files that are not an image: train/a/notes.txt, train/b/Thumbs.db" "$T/err"
check "stray files in class folders: skipped with a note naming them, 24 images, 0 bad, exit 0 (rc $rc)" $?
d="$T/ds/train/a"; for i in $(seq 1 33); do d="$d/d$i"; done
mkdir -p "$d" && cp "$T/ds/train/a/img000.jpg" "$d/deep.jpg"
"$FC" extract "$T/ds" --model "$M" --cache "$C" --json >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 3 ] && [ "$(json_field too_deep "$T/out")" = 1 ] &&
    grep -q "warning: 1 folder deeper than 32 levels not scanned (its files are not in the data set): train/a/d1/d2/.*/d32$" "$T/err"
check "a folder deeper than the scan limit: named in a warning, exit 3 (rc $rc)" $?
rm -rf "$T/ds/train/a/d1"

# ---- an image file as DATASET; a manifest with a byte order mark; --cache a regular file ----
"$FC" extract "$T/ds/train/a/img000.jpg" --model "$M" --cache "$C" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "img000.jpg is an image file, not a data set: give the folder that holds the images" "$T/err"
check "an image file as DATASET: exit 1, says to give its folder (rc $rc)" $?
printf '\357\273\277path,label\ntrain/a/img000.jpg,a\ntrain/b/img001.jpg,b\n' >"$T/ds/bom.csv"
"$FC" extract "$T/ds/bom.csv" --model "$M" --cache "$C" --json >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ "$(json_field items "$T/out")" = 2 ] && [ "$(json_field bad "$T/out")" = 0 ]
check "a CSV manifest with a UTF-8 byte order mark: its header is a header (2 items, 0 bad; rc $rc)" $?
: >"$T/file"
fails=""
for cmd in "extract $T/ds --model $M" "train ds --model $M" "sweep ds --model $M --grid l2=1" "export ds --model $M -o $T/e" \
    "ls" "verify" "gc" "report 1 -o $T/r.html"; do
    "$FC" $cmd --cache "$T/file" >/dev/null 2>"$T/err"; rc=$?
    [ $rc -eq 1 ] && grep -q "$T/file is a regular file, not a cache folder" "$T/err" || fails="$fails ${cmd%% *}($rc)"
done
[ -z "$fails" ]; check "--cache naming a regular file: every command says so, exit 1${fails:+ (not:$fails)}" $?

# ---- a class only the validation split has ----
mkdir -p "$T/ds3" && cp -r "$T/ds/train" "$T/ds/val" "$T/ds3/" && mkdir -p "$T/ds3/val/wasps" &&
    cp "$T/ds/val/a/img000.jpg" "$T/ds3/val/wasps/w.jpg" && cp "$T/ds/val/b/img001.jpg" "$T/ds3/val/wasps/x.jpg"
"$FC" extract "$T/ds3" --model "$M" --cache "$C" --quiet 2>"$T/err"
fails=""
for h in softmax mlp ncm; do
    "$FC" train ds3 --model "$M" --cache "$C" --head $h >/dev/null 2>"$T/err"; rc=$?
    [ $rc -eq 1 ] && grep -q "train split has no items of class 'wasps' (of 3)" "$T/err" || fails="$fails $h($rc)"
done
[ -z "$fails" ]; check "a class missing from the training split is named ('wasps'), not numbered${fails:+ (not:$fails)}" $?

# ---- sweep grids ----
"$FC" sweep ds --model "$M" --cache "$C" --grid 'head=mlp dropout=0..0.5:3 epochs=5' --json >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ "$(json_field configs "$T/out")" = 3 ] && grep -q 'dropout=0 ' "$T/out" &&
    grep -q 'dropout=0.25 ' "$T/out" && grep -q 'dropout=0.5 ' "$T/out"
check "sweep dropout=0..0.5:3: the 3 values 0, 0.25, 0.5 (rc $rc)" $?
fails=""
for g in "head=mlp epochs=2.5|grid epochs: '2.5' is not a whole number" "l2=1 l2=2|grid: key 'l2' is given twice" \
    "head=mlp batch=0|grid batch: '0' is not a whole number >= 1"; do
    "$FC" sweep ds --model "$M" --cache "$C" --grid "${g%%|*}" >/dev/null 2>"$T/err"; rc=$?
    [ $rc -eq 64 ] && grep -qF "${g#*|}" "$T/err" || fails="$fails '${g%%|*}'($rc)"
done
[ -z "$fails" ]; check "sweep grids: a fractional epochs or batch and a key given twice are usage errors${fails:+ (not:$fails)}" $?

# ---- train -o that cannot be written; a killed train ----
runs() { "$FC" ls --cache "$C" 2>/dev/null | grep "^  #"; }
"$FC" train ds --model "$M" --cache "$C" -o "$T/no/such/dir/head.onnx" >/dev/null 2>"$T/err"; rc=$?
last=$(runs | tail -1)
[ $rc -eq 1 ] && [ ! -e "$T/no/such/dir/head.onnx" ] && echo "$last" | grep -q "train   failed .*head.onnx: cannot create" &&
    ! runs | grep -q "train   ok"
check "train -o into a missing folder: exit 1, the run recorded failed with the reason, no ok run (rc $rc)" $?
"$FC" extract "$T/ds" --model "$M" --cache "$C" --layer fmap --quiet 2>"$T/err"
"$FC" train ds --model "$M" --cache "$C" --layer fmap --head mlp --hidden 4096 --epochs 100000 --threads 1 >/dev/null 2>&1 &
pid=$!
for i in $(seq 1 100); do runs | grep -q "train   running" && break; sleep 0.1; done
kill -9 $pid; wait $pid 2>/dev/null
running=$(runs | grep -c "train   running")
"$FC" train ds --model "$M" --cache "$C" >/dev/null 2>"$T/err"
[ "$running" = 1 ] && ! runs | grep -q "running" && runs | grep -q "train   failed .*interrupted: process $pid ended before the run finished"
check "a killed train: its run is marked interrupted by the next train (was running: $running)" $?

# ---- models checked against the image pipeline (point 7): channels, --grayscale end to end ----
M1="$T/gray.onnx"; M4="$T/rgba.onnx"
$PY "$FX" model "$M1" 1 && $PY "$FX" model "$M4" 4 || { bad "making 1- and 4-channel models"; exit 1; }
fails=""
for cmd in "extract $T/ds --cache $T/g" "infer $T/ds/train/a/img000.jpg"; do
    "$FC" $cmd --model "$M1" >/dev/null 2>"$T/err"; rc=$?
    [ $rc -eq 1 ] && grep -q "$M1: input 'input' takes 1-channel images (N, 1, H, W); give --grayscale" "$T/err" ||
        fails="$fails ${cmd%% *}($rc)"
    "$FC" $cmd --model "$M4" >/dev/null 2>"$T/err"; rc=$?
    [ $rc -eq 1 ] && grep -q "$M4: input 'input' takes 4-channel images" "$T/err" || fails="$fails ${cmd%% *}-4($rc)"
done
[ ! -e "$T/g/catalog.sqlite" ] || [ -z "$("$FC" ls --cache "$T/g" 2>/dev/null | grep -A1 '^data sets' | grep ' ds ')" ] ||
    fails="$fails registered"
[ -z "$fails" ]; check "1- and 4-channel models without --grayscale: extract and infer refuse, naming the file, before any work${fails:+ (not:$fails)}" $?
"$FC" extract "$T/ds" --model "$M1" --grayscale --cache "$T/g" --quiet 2>"$T/err" &&
    "$FC" ls --cache "$T/g" 2>/dev/null | grep -q "tf+gray" &&
    "$FC" train ds --model "$M1" --grayscale --cache "$T/g" -o "$T/gray_head.onnx" >/dev/null 2>>"$T/err" &&
    "$FC" predict --model "$M1" --head "$T/gray_head.onnx" "$T/ds/val/a" --cache "$T/g" >"$T/cached" 2>>"$T/err" &&
    "$FC" predict --model "$M1" --head "$T/gray_head.onnx" "$T/ds/val/a" --cache "$T/empty" >"$T/computed" 2>>"$T/err" &&
    cmp -s "$T/cached" "$T/computed" &&
    "$FC" infer --model "$M1" --grayscale --top 1 "$T/ds/val/a/img000.jpg" >/dev/null 2>>"$T/err" &&
    ! "$FC" train ds --model "$M1" --cache "$T/g" >/dev/null 2>&1
check "a 1-channel model with --grayscale: extract (ls says tf+gray), train, predict from the cache and computed alike, infer; train without --grayscale finds no features" $?
