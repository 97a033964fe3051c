#!/bin/sh
# `report RUN` shows what the run recorded (issue 13 point 6): for train runs and sweeps the
# metrics of the recorded confusion matrix, the recorded worst misclassified items and the items'
# count; nothing is refitted, so changing the data set afterwards (an item relabeled, an image
# added, a misclassified image's file rewritten) leaves the page's numbers as they were and adds a
# note, on the page and on stderr, that today's data set differs. One PASS/FAIL/SKIP line per check.
NAME=report; . "$(dirname "$0")/../support/common.sh"

need_python "numpy, PIL, onnx" "/usr/bin/python3 lacks numpy/PIL/onnx (scripts/install_deps.sh installs them)"
M="$T/m.onnx"
$PY "$FX" model "$M" && split_set "$T/ds" 8 || { bad "making fixtures"; exit 1; }
C="$T/c"
# the same bytes under both labels in val: some of them are misclassified, so the run records them
cp "$T/ds/val/a/img000.jpg" "$T/ds/val/b/same0.jpg" && cp "$T/ds/val/b/img001.jpg" "$T/ds/val/a/same1.jpg"
"$FC" extract "$T/ds" --model "$M" --cache "$C" --quiet 2>"$T/err" &&
    "$FC" train ds --model "$M" --cache "$C" --json >"$T/train.json" 2>>"$T/err" &&
    "$FC" sweep ds --model "$M" --cache "$C" --grid 'l2=0.1,1,10' --json >"$T/sweep.json" 2>>"$T/err"
check "extract, train and sweep" $?
run=$(sed -n 's/^{"run":\([0-9]*\).*/\1/p' "$T/train.json")
srun=$(json_field first_run "$T/sweep.json")
# the page's metric cards, confusion matrix and worst items (the parts that must not move)
part() { sed -n '/<section id="summary">/,/<section id="worst">/p' "$1"; }
worst() { sed -n '/<section id="worst">/,$p' "$1" | grep -o 'class="path">[^<]*' | sort; }

"$FC" report "$run" --cache "$C" -o "$T/r1.html" >"$T/out" 2>"$T/err"; rc=$?
acc=$(sed -n 's/.*"result":{"val_accuracy":\([0-9.]*\).*/\1/p' "$T/train.json")
nworst=$($PY -c 'import json, sys; print(len(json.load(open(sys.argv[1]))["result"]["worst"]))' "$T/train.json")
[ $rc -eq 0 ] && [ ! -s "$T/err" ] && ! grep -q 'class="warn"' "$T/r1.html" && [ "${nworst:-0}" -gt 0 ] &&
    [ "$(worst "$T/r1.html" | wc -l)" -eq "$nworst" ] && grep -q "$(printf '%.4f' "$acc")" "$T/r1.html" &&
    grep -q "ds: 34 items (16 training rows, 18 validation items)" "$T/r1.html" && grep -q "data:image/png;base64" "$T/r1.html"
check "report of a train run: the recorded accuracy ($acc), $nworst recorded misclassified items with thumbnails, the items' count, no note" $?
"$FC" report "$srun" --cache "$C" -o "$T/s1.html" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ ! -s "$T/err" ] && ! grep -q 'class="warn"' "$T/s1.html" && grep -q '<section id="sweep">' "$T/s1.html"
check "report of a sweep: no note while the data set is unchanged (rc $rc)" $?

# change the data set: relabel one item, add one, rewrite one misclassified image's file
mv "$T/ds/train/a/img002.jpg" "$T/ds/train/b/moved.jpg"
cp "$T/ds/train/a/img003.jpg" "$T/ds/train/a/added.jpg"
w=$(worst "$T/r1.html" | head -1 | sed 's/class="path">//')
cp "$T/ds/train/b/img005.jpg" "$T/ds/$w"
"$FC" extract "$T/ds" --model "$M" --cache "$C" --quiet 2>"$T/err"
"$FC" report "$run" --cache "$C" -o "$T/r2.html" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && grep -q "note: today's data set 'ds' differs from the one run #$run used .*34 then, 35 now" "$T/err" &&
    grep -q "1 of the misclassified images changed since the run (no preview)" "$T/err" &&
    grep -q 'class="warn">today&#39;s data set &#39;ds&#39; differs' "$T/r2.html" &&
    [ "$(part "$T/r1.html" | grep -v 'base64')" = "$(part "$T/r2.html" | grep -v 'base64')" ] &&
    [ "$(worst "$T/r1.html")" = "$(worst "$T/r2.html")" ] &&
    [ "$(grep -c 'data:image/png;base64' "$T/r2.html")" -eq $(($(grep -c 'data:image/png;base64' "$T/r1.html") - 1)) ]
check "data set changed since the run: the page keeps the recorded metrics and items, says so (page and stderr), no preview of the rewritten image (rc $rc)" $?
"$FC" report "$srun" --cache "$C" -o "$T/s2.html" >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && grep -q "differs from the one run #" "$T/err" && grep -q 'class="warn"' "$T/s2.html" &&
    [ "$(part "$T/s1.html" | grep -v base64)" = "$(part "$T/s2.html" | grep -v base64)" ]
check "a sweep's page after the change: the same recorded table and metrics, with the note (rc $rc)" $?
