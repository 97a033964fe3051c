#!/bin/sh
# End-to-end checks of the head commands on ants/bees MobileNetV2 features: train reaches the
# scikit-learn level, the head file round-trips through eval/predict/export-onnx with identical
# probabilities, sweep ranks configurations, report writes a page, and bad input (no labels, one
# class, unknown class, empty split) gives clear errors. One PASS/FAIL/SKIP line per check.
NAME=heads; . "$(dirname "$0")/../support/common.sh"

for cmd in train sweep eval predict report export-onnx; do
    "$FC" $cmd --help | grep -q "^usage: featcache $cmd"; check "$cmd --help" $?
done
need_shared
M="$SHARED/models/mobilenet_v2_1.0_224.onnx"
H="$SHARED/data/hymenoptera"
C="--cache $T/c"
"$FC" extract "$H" --model "$M" $C --quiet 2>/dev/null

# train: softmax on the data set's own train/val folders
"$FC" train "$H" --model "$M" $C --head softmax -o "$T/head.onnx" --json >"$T/train.json" 2>"$T/err"
acc=$(sed -n 's/.*"result":{"val_accuracy":\([0-9.]*\).*/\1/p' "$T/train.json")
awk -v a="$acc" 'BEGIN { exit !(a >= 0.94) }'; check "train softmax: val accuracy $acc >= 0.94 (sklearn: 0.948)" $?
"$FC" eval hymenoptera --head "$T/head.onnx" $C --json >"$T/eval.json" 2>/dev/null
[ "$(json_field accuracy "$T/eval.json")" = "$acc" ] && [ "$(json_field n "$T/eval.json")" = 153 ]
check "eval of the saved head reproduces the val accuracy" $?
for h in mlp ncm; do
    "$FC" train "$H" --model "$M" $C --head $h --hidden 256 --epochs 40 --json >"$T/$h.json" 2>/dev/null
    a=$(sed -n 's/.*"result":{"val_accuracy":\([0-9.]*\).*/\1/p' "$T/$h.json")
    awk -v a="$a" 'BEGIN { exit !(a >= 0.9) }'; check "train $h: val accuracy $a >= 0.9" $?
done
"$FC" train "$H" --model "$M" $C --split kfold:5 >"$T/kfold" 2>/dev/null && grep -q "5-fold   accuracy 0.9" "$T/kfold"
check "k-fold reports mean and std" $?

# predict: cached features (known bytes) and the backbone (unknown cache) agree
IMG="$H/val/bees/1032546534_06907fe3b3.jpg"
"$FC" predict --model "$M" --head "$T/head.onnx" $C "$IMG" >"$T/p1" 2>/dev/null &&
    "$FC" predict --model "$M" --head "$T/head.onnx" --cache "$T/empty" "$IMG" >"$T/p2" 2>/dev/null &&
    cmp -s "$T/p1" "$T/p2" && grep -q "	bees	" "$T/p1"
check "predict: cached and freshly computed features give the same answer" $?
"$FC" predict --model "$M" --head "$T/head.onnx" --head "$T/head.onnx" $C "$IMG" >"$T/p3" 2>/dev/null && cmp -s "$T/p1" "$T/p3"
check "an ensemble of a head with itself equals the head" $?

# export-onnx: the merged classifier gives the same probability through infer
"$FC" export-onnx --model "$M" --head "$T/head.onnx" -o "$T/clf.onnx" >/dev/null 2>&1 &&
    "$FC" infer --model "$T/clf.onnx" --top 1 "$IMG" >"$T/i1" 2>/dev/null
p_pred=$(awk -F'\t' 'NR==2 {print $4}' "$T/p1"); p_inf=$(awk -F'\t' 'NR==2 {print $5}' "$T/i1")
[ -n "$p_pred" ] && [ "$p_pred" = "$p_inf" ]; check "export-onnx classifier = head on features ($p_pred vs $p_inf)" $?
"$FC" export-onnx --model "$SHARED/models/mobilenet_v1_0.75_192.onnx" --head "$T/head.onnx" -o "$T/x.onnx" >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "not the model the head was trained on" "$T/err"; check "export-onnx refuses another backbone" $?

# sweep and report
"$FC" sweep "$H" --model "$M" $C --grid 'head=softmax,mlp l2=1e-6..1e2:9 hidden=64' --json >"$T/sweep.json" 2>/dev/null
[ "$(json_field configs "$T/sweep.json")" = 18 ] && grep -q '"config":"softmax l2=' "$T/sweep.json"
check "sweep expands head x l2 into 18 configurations ($(json_field seconds_fit "$T/sweep.json") s)" $?
run=$(json_field first_run "$T/sweep.json")
"$FC" report "$run" $C -o "$T/report.html" >/dev/null 2>&1 && grep -q "Confusion matrix" "$T/report.html" &&
    grep -q "data:image/png;base64" "$T/report.html" && ! grep -q "<script" "$T/report.html"
check "report of the sweep: confusion matrix, thumbnails, no script" $?
"$FC" report 99999 $C -o "$T/none.html" >/dev/null 2>"$T/err"; [ $? -eq 1 ] && grep -q "no train or sweep run #99999" "$T/err"
check "report of an unknown run says so" $?

# bad input
mkdir -p "$T/one/cats" "$T/nolab"
cp "$H/train/ants/0013035.jpg" "$T/one/cats/"; cp "$H/train/bees/1092977343_cb42b38d62.jpg" "$T/one/cats/" 2>/dev/null || cp "$(ls "$H"/train/bees/* | head -1)" "$T/one/cats/"
cp "$(ls "$H"/train/ants/*.jpg | sed -n 2p)" "$T/nolab/"; cp "$(ls "$H"/train/bees/*.jpg | sed -n 2p)" "$T/nolab/"
"$FC" extract "$T/one" --model "$M" $C --quiet 2>/dev/null; "$FC" extract "$T/nolab" --model "$M" $C --quiet 2>/dev/null
"$FC" train "$T/one" --model "$M" $C >/dev/null 2>"$T/err"; [ $? -eq 1 ] && grep -q "only one class ('cats')" "$T/err"
check "train with a single class: clear error" $?
"$FC" train "$T/nolab" --model "$M" $C >/dev/null 2>"$T/err"; [ $? -eq 1 ] && grep -q "has no label" "$T/err"
check "train without labels: clear error" $?
"$FC" eval one --head "$T/head.onnx" $C --split all >/dev/null 2>"$T/err"; [ $? -eq 1 ] && grep -q "label 'cats', a class the head does not know" "$T/err"
check "eval with an unknown class: clear error" $?
# absolute paths: relative ones would be taken relative to the CSV's folder ($T)
HA=$(cd "$H" && pwd)
printf 'path,label,split\n%s,ants,test\n%s,bees,test\n' "$(ls "$HA"/train/ants/*.jpg | sed -n 3p)" "$(ls "$HA"/train/bees/*.jpg | sed -n 3p)" >"$T/m.csv"
"$FC" extract "$T/m.csv" --model "$M" $C --quiet 2>/dev/null
"$FC" train "$T/m.csv" --model "$M" $C >/dev/null 2>"$T/err"; [ $? -eq 1 ] && grep -q "split is empty" "$T/err"
check "train with an empty split: clear error" $?
"$FC" train "$H" --model "$M" $C --head forest >/dev/null 2>"$T/err"; [ $? -eq 64 ] && grep -q "unknown head 'forest'" "$T/err"
check "unknown head kind: usage error" $?
"$FC" predict --model "$M" --head "$T/train.json" "$IMG" >/dev/null 2>"$T/err"; [ $? -eq 1 ] && grep -q "not a featcache head file\|not a valid\|head" "$T/err"
check "predict with a file that is not a head: clear error" $?
exit 0
