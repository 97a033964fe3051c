#!/bin/sh
# End-to-end checks of train/sweep --views on ants/bees MobileNetV2 features extracted with
# --views orig,flip: twice the training rows and the same validation rows, "views" in the JSON
# output and the run record, k-fold and sweep with views, report refitting a views run, and clear
# errors for a view that was not extracted and for --views with another --view.
NAME=views; . "$(dirname "$0")/../support/common.sh"

"$FC" train --help | grep -q "^  --views LIST"; check "train --help lists --views" $?
"$FC" sweep --help | grep -q "^  --views LIST"; check "sweep --help lists --views" $?
need_shared
M="$SHARED/models/mobilenet_v2_1.0_224.onnx"
H="$SHARED/data/hymenoptera"
C="--cache $T/c"
"$FC" extract "$H" --model "$M" $C --views orig,flip --quiet 2>/dev/null

"$FC" train "$H" --model "$M" $C --json >"$T/orig.json" 2>"$T/err"
"$FC" train "$H" --model "$M" $C --views orig,flip --json -o "$T/head.onnx" >"$T/views.json" 2>"$T/err"
check "train --views orig,flip runs" $?
a1=$(sed -n 's/.*"result":{"val_accuracy":\([0-9.]*\).*/\1/p' "$T/orig.json")
a2=$(sed -n 's/.*"result":{"val_accuracy":\([0-9.]*\).*/\1/p' "$T/views.json")
t1=$(json_field train "$T/orig.json"); t2=$(json_field train "$T/views.json")
[ -n "$t1" ] && [ "$t2" = $((2 * t1)) ] && [ "$(json_field val "$T/views.json")" = "$(json_field val "$T/orig.json")" ]
check "twice the training rows ($t1 -> $t2), the same validation rows ($(json_field val "$T/views.json"))" $?
awk -v a="$a2" 'BEGIN { exit !(a >= 0.92) }'; check "val accuracy with orig,flip $a2 >= 0.92 (orig alone: $a1)" $?
grep -q '"head":"softmax","views":\["orig","flip"\],"train"' "$T/views.json" && ! grep -q '"views"' "$T/orig.json"
check "--json has \"views\" only with --views" $?
grep -aq '"view":"orig","views":\["orig","flip"\],"extractor"' "$T/head.onnx"
check "the run's parameters (as the head file records them) list the views" $?
"$FC" eval hymenoptera --head "$T/head.onnx" $C --json >"$T/eval.json" 2>"$T/err" &&
    [ "$(json_field accuracy "$T/eval.json")" = "$a2" ]
check "eval of the head reproduces its val accuracy on orig features" $?
"$FC" train "$H" --model "$M" $C --views flip >"$T/text" 2>"$T/err" && grep -q "^val      accuracy 0\.9" "$T/text" &&
    grep -q " $t2 train / " "$T/text"
check "--views flip adds orig, prints the accuracy" $?
run=$(json_field run "$T/views.json")
"$FC" report "$run" $C -o "$T/report.html" >/dev/null 2>"$T/err" && grep -q "Confusion matrix" "$T/report.html"
check "report refits a views run" $?

"$FC" train "$H" --model "$M" $C --views orig,flip --split kfold:5 >"$T/kfold" 2>"$T/err" &&
    grep -q "5-fold   accuracy 0\.9" "$T/kfold" && grep -q " 796 train / 398 val" "$T/kfold"
check "k-fold with views: every view of the 398 items trains, out-of-fold metrics on orig" $?
"$FC" sweep "$H" --model "$M" $C --views orig,flip --grid 'head=softmax,ncm l2=0.1,1' --json >"$T/sweep.json" 2>"$T/err" &&
    grep -q '^{"dataset":"hymenoptera","views":\["orig","flip"\],"configs":3,' "$T/sweep.json"
check "sweep --views fits every configuration on the views" $?

"$FC" train "$H" --model "$M" $C --views orig,crops5 >/dev/null 2>"$T/err"
[ $? -eq 1 ] && grep -q "item train/ants/[^ ]* has no 'crop-center' view" "$T/err" &&
    grep -q "featcache extract [^ ]*hymenoptera --model $M --views orig,crops5" "$T/err"
check "a view that was not extracted: names the item, the view and the extract command" $?
"$FC" train "$H" --model "$M" $C --views orig,flip --view flip >/dev/null 2>"$T/err"; [ $? -eq 64 ] && grep -q "does not go with --view flip" "$T/err"
check "--views with --view flip: usage error" $?
"$FC" sweep "$H" --model "$M" $C --views orig,side --grid l2=1 >/dev/null 2>"$T/err"; [ $? -eq 64 ] && grep -q "unknown view 'side'" "$T/err"
check "an unknown view: usage error" $?
exit 0
