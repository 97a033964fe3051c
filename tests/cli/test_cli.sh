#!/bin/sh
# CLI end-to-end checks of `featcache infer` and `bench`: help texts, usage errors, top-1 against
# ONNX Runtime's top5.tsv through the real command, and bad images reported without aborting.
# Prints one PASS/FAIL/SKIP line per check for tests/run.sh.
NAME=cli; . "$(dirname "$0")/../support/common.sh"

# every command answers --help with exit 0 and a usage line
for cmd in infer bench; do
    "$FC" $cmd --help >"$T/help" 2>&1
    rc=$?
    grep -q "^usage: featcache $cmd" "$T/help"
    check "$cmd --help" $((rc + $?))
done
"$FC" --help | grep -q "^commands:"; check "featcache --help" $?
"$FC" frobnicate >/dev/null 2>&1; [ $? -eq 64 ]; check "unknown command exits 64" $?
"$FC" infer ../x.jpg >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ] && grep -q -- "--model is required" "$T/err"; check "infer without --model exits 64" $?
"$FC" bench --model m.onnx --batch zero >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ] && grep -q -- "--batch wants a whole number" "$T/err"; check "bench rejects a bad number" $?
"$FC" infer --model "$T/nope.onnx" x.jpg >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "nope.onnx: cannot open" "$T/err"; check "infer names a missing model" $?

need_shared models "reference checks"
for m in mobilenet_v2_1.0_224 mobilenet_v2_1.0_224_inat_bird mobilenet_v1_0.75_192; do
    "$FC" infer --model "$SHARED/models/$m.onnx" --preprocess tf --top 1 $(sed "s|^|$SHARED/images/|" "$SHARED/reference/$m/images.txt") >"$T/out" 2>"$T/err"
    rc=$?
    awk -F'\t' 'NR>1 {n=split($1,p,"/"); print p[n] "\t" $3}' "$T/out" | sort >"$T/got"
    awk -F'\t' '$2==1 {print $1 "\t" $3}' "$SHARED/reference/$m/top5.tsv" | sort >"$T/want"
    if [ $rc -eq 0 ] && [ "$(wc -l <"$T/got")" -eq 8 ] && cmp -s "$T/got" "$T/want"; then ok "infer top-1 = ONNX Runtime ($m)"
    else bad "infer top-1 = ONNX Runtime ($m)"; diff "$T/got" "$T/want" | head; cat "$T/err"; fi
done

# bad images among good ones: reported with file and reason, the rest still classified, exit 3
printf 'GIF89a\001\000\001\000' >"$T/anim.gif"
head -c 3000 "$SHARED/images/owl.jpg" >"$T/truncated.jpg"
: >"$T/empty.png"
"$FC" infer --model "$SHARED/models/mobilenet_v2_1.0_224.onnx" --top 1 "$SHARED/images/cat.png" "$T/anim.gif" \
    "$T/truncated.jpg" "$T/empty.png" "$T/missing.jpg" "$SHARED/images/owl.jpg" >"$T/out" 2>"$T/err"
rc=$?
[ $rc -eq 3 ] && [ "$(grep -c . "$T/out")" -eq 3 ] && grep -q "anim.gif: corrupt GIF" "$T/err" &&
    grep -q "truncated.jpg" "$T/err" && grep -q "empty.png" "$T/err" && grep -q "missing.jpg" "$T/err" &&
    grep -q "4 of 6 images could not be read" "$T/err"
check "infer skips bad images with reasons (exit 3)" $?
[ $? -eq 0 ] || cat "$T/err"

"$FC" infer --model "$SHARED/models/mobilenet_v2_1.0_224.onnx" --json --top 2 "$SHARED/images/cat.png" >"$T/json"
grep -q '^{"image":".*cat.png","top":\[{"index":286,' "$T/json"; check "infer --json" $?

"$FC" bench --model "$SHARED/models/mobilenet_v1_0.75_192.onnx" --batch 2 --seconds 0.2 --no-peak --json >"$T/bench"
# MobileNet v1 0.75 at 192: 233 M multiply-adds in the convolutions + 0.8 M in the classifier
gf=$(sed 's/.*"gflop_per_img":\([0-9.]*\).*/\1/' "$T/bench")
grep -q '"imgs_per_s":[0-9]' "$T/bench" && awk -v g="$gf" 'BEGIN { exit !(g > 0.46 && g < 0.49) }'
check "bench --json reports img/s and GFLOP ($gf per image)" $?
# --profile: one line per step (MobileNet v1's 13 depthwise + pointwise pairs are one step each,
# the first with the stem; then the classifier), shares adding up to 100%
"$FC" bench --model "$SHARED/models/mobilenet_v1_0.75_192.onnx" --batch 2 --seconds 0.2 --no-peak --profile >"$T/prof"
steps=$(grep -c '^[0-9]\+ \+Conv' "$T/prof")
blocks=$(grep -c '^[0-9]\+ \+Conv+[12] (block) ' "$T/prof")
share=$(awk '/^[0-9]+ / { s += $NF } END { printf "%.0f", s }' "$T/prof")
[ "$steps" -eq 14 ] && [ "$blocks" -eq 13 ] && [ "$share" -ge 99 ] && [ "$share" -le 101 ] && grep -q '^  total ' "$T/prof"
check "bench --profile: $steps Conv steps ($blocks depthwise blocks), shares sum to $share%" $?
# every command with extractor options reads --exif-orientation and --compute (a bad value reaches
# their parsers: the message names the option, exit 64)
ok=0
for cmd in extract train sweep export finetune advise infer; do
    "$FC" $cmd x --model m.onnx --exif-orientation sideways >/dev/null 2>"$T/eo"; rc=$?
    [ $rc -eq 64 ] && grep -q -- "--exif-orientation wants apply or ignore, not 'sideways'" "$T/eo" || { echo "  $cmd: $rc $(head -c 200 "$T/eo")"; ok=1; }
    "$FC" $cmd x --model m.onnx --compute f8 >/dev/null 2>"$T/eo"; rc=$?
    [ $rc -eq 64 ] && grep -q -- "--compute must be f32 or bf16, not 'f8'" "$T/eo" || { echo "  $cmd: $rc $(head -c 200 "$T/eo")"; ok=1; }
done
check "extract, train, sweep, export, finetune, advise, infer: --exif-orientation and --compute are parsed by each" $ok
exit 0
