#!/bin/sh
# Image formats and EXIF orientation end to end: a data set of WebP, GIF, BMP, TIFF and PNG files
# and a JPEG whose EXIF orientation is 6 is extracted with no bad item; --exif-orientation ignore is
# another extractor (its own id, "+exif-ignore" in `ls`) whose features differ only for the turned
# JPEG; the run records the orientation handling and the decoders; an unknown value is a usage
# error. Extractors of an older definition of the id: a catalog row whose id its parameters no
# longer give (what rows made before the decoders and EXIF joined the id look like) is marked by
# `ls`, kept by `gc`, deleted by `gc --older-definitions`. Pixels against Pillow:
# tests/extract/test_formats.c. One PASS/FAIL line per check.
NAME=formats; . "$(dirname "$0")/../support/common.sh"

need_python "numpy, PIL, onnx, sqlite3" "/usr/bin/python3 lacks numpy/PIL/onnx (scripts/install_deps.sh installs them)"
M="$T/m.onnx"
$PY "$FX" model "$M" || { bad "making the model"; exit 1; }
mkdir -p "$T/ds/a" "$T/ds/b"
$PY - "$T/ds" <<'PY' || { bad "making the images"; exit 1; }
import sys
import numpy as np
from PIL import Image
d = sys.argv[1]
rng = np.random.default_rng(3)
def img(h=40, w=64):
    return Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
img().save(f"{d}/a/one.webp", lossless=True)
img().quantize(64).save(f"{d}/a/two.gif")
img().save(f"{d}/a/three.bmp")
img().save(f"{d}/b/four.tif", compression="tiff_lzw")
img().convert("RGBA").save(f"{d}/b/five.png")
e = Image.Exif()
e[0x0112] = 6
img().save(f"{d}/b/turned.jpg", quality=90, exif=e.tobytes())
PY
C="$T/c"

"$FC" extract "$T/ds" --model "$M" --cache "$C" --json >"$T/run1.json" 2>"$T/err"; rc=$?
[ $rc -eq 0 ] && [ "$(json_field computed "$T/run1.json")" = 6 ] && [ "$(json_field bad "$T/run1.json")" = 0 ]
check "WebP, GIF, BMP, TIFF, PNG and a turned JPEG: 6 computed, 0 bad, exit 0 (rc $rc)" $?

"$FC" extract "$T/ds" --model "$M" --cache "$C" --exif-orientation ignore --json >"$T/run2.json" 2>"$T/err"; rc=$?
"$FC" ls --cache "$C" >"$T/ls" 2>"$T/err"
[ $rc -eq 0 ] && [ "$(json_field computed "$T/run2.json")" = 6 ] && [ "$(grep -c '^  [0-9a-f]\{12\}  m.onnx' "$T/ls")" = 2 ] &&
    grep -q ' tf+exif-ignore f32 ' "$T/ls" && grep -q ' tf f32 ' "$T/ls" && ! grep -q 'OLDER DEFINITION' "$T/ls"
check "--exif-orientation ignore is another extractor (all 6 computed again; ls: tf and tf+exif-ignore)" $?

$PY - "$C/catalog.sqlite" >"$T/params" 2>"$T/err" <<'PY'
import json, sqlite3, sys
for (p,) in sqlite3.connect(sys.argv[1]).execute("SELECT params FROM runs WHERE kind = 'extract' ORDER BY id"):
    p = json.loads(p)
    print(p.get("exif_orientation"), p.get("decoders"))
PY
head -1 "$T/params" | grep -q '^apply libjpeg-turbo [0-9.]* libwebp [0-9.]*$' && tail -1 "$T/params" | grep -q '^ignore libjpeg-turbo'
check "extract runs record the orientation handling and the decoders ($(head -1 "$T/params"))" $?

"$FC" export ds --model "$M" --cache "$C" -o "$T/apply" 2>"$T/err" &&
    "$FC" export ds --model "$M" --cache "$C" --exif-orientation ignore -o "$T/ignore" 2>>"$T/err" &&
    $PY - "$T/apply" "$T/ignore" >"$T/diff" 2>>"$T/err" <<'PY'
import sys
import numpy as np
a, b = (np.load(f"{d}/features.npy") for d in sys.argv[1:3])
paths = open(f"{sys.argv[1]}/paths.txt").read().split()
differ = [p.split("/")[-1] for p, x, y in zip(paths, a, b) if not np.array_equal(x, y)]
print(" ".join(differ))
sys.exit(0 if differ == ["turned.jpg"] else 1)
PY
check "exports with and without orientation differ in the turned JPEG only ($(cat "$T/diff"))" $?

"$FC" extract "$T/ds" --model "$M" --cache "$C" --exif-orientation sideways >/dev/null 2>"$T/err"; rc=$?
[ $rc -eq 64 ] && grep -q "exif-orientation wants apply or ignore" "$T/err"
check "--exif-orientation sideways: usage error (rc $rc)" $?

# an extractor row whose id its parameters do not give: the exif-ignore one relabelled plain tf
# (its checksum dropped, as rows made before row checksums have none)
$PY -c "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE extractors SET preprocess = 'tf', crc = NULL WHERE preprocess = 'tf+exif-ignore'\"); c.commit()" "$C/catalog.sqlite"
"$FC" ls --cache "$C" >"$T/ls" 2>"$T/err"
[ "$(grep -c 'OLDER DEFINITION' "$T/ls")" = 1 ]
check "ls marks the extractor of an older definition" $?
"$FC" gc --cache "$C" >"$T/gc" 2>"$T/err" && "$FC" ls --cache "$C" >"$T/ls" 2>>"$T/err" &&
    grep -q "deleted 0 features" "$T/gc" && [ "$(grep -c 'OLDER DEFINITION' "$T/ls")" = 1 ]
check "gc keeps it (its data set's runs name it): $(cat "$T/gc")" $?
"$FC" gc --cache "$C" --older-definitions --dry-run >"$T/gcd" 2>"$T/err" &&
    "$FC" gc --cache "$C" --older-definitions >"$T/gc" 2>>"$T/err" && "$FC" ls --cache "$C" >"$T/ls" 2>>"$T/err" &&
    grep -q "would delete 6 features of 1 unused extractors" "$T/gcd" && grep -q "deleted 6 features of 1 unused extractors" "$T/gc" &&
    ! grep -q 'OLDER DEFINITION' "$T/ls" && [ "$(grep -c '^  [0-9a-f]\{12\}  m.onnx' "$T/ls")" = 1 ] &&
    "$FC" verify --cache "$C" >"$T/verify" 2>&1
check "gc --older-definitions deletes its 6 features and its row; verify clean: $(cat "$T/gc")" $?
