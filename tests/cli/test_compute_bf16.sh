#!/bin/sh
# --compute bf16 end to end. Everywhere: refused with a clear message when the CPU cannot run it
# (FEATCACHE_ISA=avx2 lowers the level below AVX512_BF16's), by infer, bench and extract, and an
# extract that was refused stores no extractor. With AVX512_BF16: the shared classifiers' top-1 on
# the 8 shared images is the same as in f32; the pooled features of the 8 images by the shared
# MobileNetV2 and by torchvision's ResNet-50 and EfficientNet-B0 (build/torchvision) have cosine
# >= 0.999 with the f32 ones; a bf16 extractor is another extractor (ls shows
# compute=bf16; an f32 request is not served bf16 features: export without --compute finds none);
# a head trained on bf16 features records it, predict computes with it, and refuses --compute f32
# without --force.
NAME=compute_bf16; . "$(dirname "$0")/../support/common.sh"
need_shared images "the shared images"
M="$SHARED/models/mobilenet_v2_1.0_224.onnx"
mkdir -p "$T/imgs/a" "$T/imgs/b"
i=0
for f in "$SHARED"/images/*; do
    if [ $((i % 2)) -eq 0 ]; then cp "$f" "$T/imgs/a/"; else cp "$f" "$T/imgs/b/"; fi
    i=$((i + 1))
done

FEATCACHE_ISA=avx2 "$FC" infer --model "$M" --compute bf16 "$T/imgs/a/"* >"$T/out" 2>"$T/err"
[ $? -eq 1 ] && grep -q "compute bf16 needs" "$T/err" && grep -Eq "AVX512_BF16|FEATCACHE_ISA=avx2" "$T/err" && [ ! -s "$T/out" ]
check "infer --compute bf16 is refused where it cannot run (exit 1, saying why), nothing printed" $?
FEATCACHE_ISA=avx2 "$FC" bench --model "$M" --compute bf16 --seconds 0.1 --no-peak >"$T/out" 2>"$T/err"
[ $? -eq 1 ] && grep -q "compute bf16 needs" "$T/err"
check "bench --compute bf16 is refused where it cannot run" $?
FEATCACHE_ISA=avx2 "$FC" extract "$T/imgs" --model "$M" --cache "$T/c0" --compute bf16 --quiet >/dev/null 2>"$T/err"
rc=$?
"$FC" ls --cache "$T/c0" >"$T/ls" 2>/dev/null
[ $rc -eq 1 ] && grep -q "compute bf16 needs" "$T/err" && ! grep -q "compute=bf16" "$T/ls"
check "extract --compute bf16 is refused where it cannot run and stores no bf16 extractor" $?
"$FC" infer --model "$M" --compute f64 "$T/imgs/a/"* >/dev/null 2>"$T/err"
[ $? -eq 64 ] && grep -q "f32 or bf16" "$T/err"
check "--compute takes f32 or bf16 (usage error otherwise)" $?

if ! grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null || [ -n "$FEATCACHE_ISA" ]; then
    echo "SKIP $NAME: this CPU has no AVX512_BF16 (or FEATCACHE_ISA is set): the bf16 results are not checked"
    exit 0
fi

# top-1 of the shared classifiers, f32 vs bf16
same=0 total=0
for spec in "mobilenet_v2_1.0_224.onnx imagenet_labels.txt" "mobilenet_v1_0.75_192.onnx imagenet_labels.txt" \
            "mobilenet_v2_1.0_224_inat_bird.onnx inat_bird_labels.txt"; do
    set -- $spec
    for c in f32 bf16; do
        "$FC" infer --model "$SHARED/models/$1" --labels "$SHARED/models/$2" --top 1 --compute $c "$SHARED"/images/* \
            2>>"$T/err" | tail -n +2 | cut -f1,3 >"$T/top1.$c"
    done
    total=$((total + 1))
    cat "$T/top1.bf16" >>"$T/top1.all"
    [ -s "$T/top1.f32" ] && [ "$(wc -l <"$T/top1.f32")" -eq 8 ] && cmp -s "$T/top1.f32" "$T/top1.bf16" && same=$((same + 1))
done
[ $same -eq $total ]
check "the top-1 class of the 3 shared classifiers on the 8 shared images is the same with bf16 products ($same of $total)" $?
[ $same -eq $total ] || cat "$T/top1.all"

# pooled features: cosine, and the extractors kept apart
for c in f32 bf16; do
    "$FC" extract "$T/imgs" --model "$M" --cache "$T/c" --compute $c --quiet >/dev/null 2>"$T/err" &&
        "$FC" export imgs --model "$M" --cache "$T/c" --compute $c -o "$T/x_$c" >/dev/null 2>>"$T/err"
done
"$FC" ls --cache "$T/c" >"$T/ls" 2>>"$T/err"
[ "$(grep -c 'mobilenet_v2_1.0_224.onnx  layer' "$T/ls")" -eq 2 ] && grep -q "compute=bf16" "$T/ls" &&
    ! grep -q "OLDER DEFINITION" "$T/ls"
check "f32 and bf16 features are two extractors; ls shows compute=bf16 (neither of an older definition)" $?
need_python numpy "numpy is needed for the cosine check"
$PY - "$T/x_f32/features.npy" "$T/x_bf16/features.npy" >"$T/cos" 2>"$T/err" <<'PYEOF'
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
c = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
print("%.6f" % c.min())
sys.exit(0 if a.shape == b.shape == (8, 1280) and c.min() >= 0.999 and (a != b).any() else 1)
PYEOF
check "MobileNetV2's pooled features of the 8 images: cosine >= 0.999 between bf16 and f32 (smallest $(cat "$T/cos"))" $?

"$FC" extract "$T/imgs" --model "$M" --cache "$T/c2" --compute bf16 --quiet >/dev/null 2>"$T/err"
"$FC" export imgs --model "$M" --cache "$T/c2" -o "$T/y" >/dev/null 2>"$T/err"
rc=$?
"$FC" export imgs --model "$M" --cache "$T/c2" --compute bf16 -o "$T/z" >/dev/null 2>>"$T/err"
rc2=$?
[ $rc -ne 0 ] && [ ! -e "$T/y/features.npy" ] && [ $rc2 -eq 0 ] && cmp -s "$T/z/features.npy" "$T/x_bf16/features.npy"
check "an f32 request is not served bf16 features (export without --compute finds none; with it, the same bits)" $?

"$FC" train imgs --model "$M" --cache "$T/c2" --compute bf16 --split hash:0.25 -o "$T/head.onnx" >/dev/null 2>"$T/err"
"$FC" predict --head "$T/head.onnx" --cache "$T/c2" "$SHARED/images/owl.jpg" >"$T/p1" 2>>"$T/err" &&
    "$FC" predict --head "$T/head.onnx" --cache "$T/c_empty" "$SHARED/images/owl.jpg" >"$T/p2" 2>>"$T/err" &&
    [ -s "$T/p1" ] && cmp -s "$T/p1" "$T/p2"
check "a head trained on bf16 features predicts from the cache and, computing them, with bf16 products (same output)" $?
"$FC" predict --head "$T/head.onnx" --cache "$T/c_empty" --compute f32 "$SHARED/images/owl.jpg" >"$T/out" 2>"$T/err"
[ $? -eq 1 ] && grep -q "bf16 products; --compute f32" "$T/err" && [ ! -s "$T/out" ]
check "predict refuses --compute f32 for a head trained on bf16 features (without --force)" $?
"$FC" predict --head "$T/head.onnx" --cache "$T/c_empty" --compute f32 --force "$SHARED/images/owl.jpg" >"$T/out" 2>"$T/err"
[ $? -eq 0 ] && grep -q "runs with f32 products" "$T/err" && [ -s "$T/out" ]
check "predict --compute f32 --force runs it with f32 products, saying so" $?

# deeper networks (torchvision's ResNet-50 and EfficientNet-B0, seeded random weights: errors made
# early grow layer after layer) on the 8 images: the precision rule (engine/precision.h: the stem and
# the first stage keep f32 products) holds them at 0.999 too (without it ResNet-50 fell to 0.9974)
TV=${FEATCACHE_TORCHVISION:-}
for net in resnet50 efficientnet_b0; do
    TM="$TV/$net.dyn.onnx"
    if [ -z "$TV" ] || [ ! -f "$TM" ]; then
        echo "SKIP $NAME: no $net export (make torchvision): its bf16 cosine is not checked"
        continue
    fi
    for c in f32 bf16; do
        "$FC" extract "$T/imgs" --model "$TM" --preprocess torch --cache "$T/tv" --compute $c --quiet >/dev/null 2>"$T/err" &&
            "$FC" export imgs --model "$TM" --preprocess torch --cache "$T/tv" --compute $c -o "$T/${net}_$c" >/dev/null 2>>"$T/err"
    done
    $PY - "$T/${net}_f32/features.npy" "$T/${net}_bf16/features.npy" >"$T/cos" 2>"$T/err" <<'PYEOF'
import sys, numpy as np
a, b = np.load(sys.argv[1]), np.load(sys.argv[2])
c = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
print("%.6f" % c.min())
sys.exit(0 if a.shape == b.shape and a.shape[0] == 8 and c.min() >= 0.999 and (a != b).any() else 1)
PYEOF
    check "$net's pooled features of the 8 images: cosine >= 0.999 between bf16 and f32 (smallest $(cat "$T/cos"))" $?
done
