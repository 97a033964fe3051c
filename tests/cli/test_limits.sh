#!/bin/sh
# Faults at the edges, each injected for real: a cache that hits its size limit and a file system
# that fills up (LMDB and SQLite), a read-only cache folder (read-only mount; unprivileged user),
# a 100-megapixel JPEG and images whose headers claim absurd sizes, empty / truncated / non-regular
# files and symlink loops, an image rewritten while extraction runs, and models whose sizes overflow.
# Every check wants a clear error naming the file and the reason, nothing stored lost (verify clean,
# earlier exports unchanged) and a rerun after the fault is removed equal to a clean run. Inputs are
# made at test time (tests/support/make_fixtures.py). One PASS/FAIL/SKIP line per check.
NAME=limits; . "$(dirname "$0")/../support/common.sh"
chmod 755 "$T" # the unprivileged-user check reads the fixtures
cleanup() {
    for m in "$T/mnt" "$T/mnt2" "$T/romnt"; do mountpoint -q "$m" 2>/dev/null && umount "$m"; done
    rm -rf "$T"
}
# features stored per extractor, from `featcache ls` ("... 80 features")
n_stored() { "$FC" ls --cache "$1" 2>/dev/null | sed -n "s/.*layer $2 .* \([0-9]*\) features$/\1/p"; }

need_python "numpy, PIL, onnx" "/usr/bin/python3 lacks numpy/PIL/onnx (scripts/install_deps.sh installs them)"
M="$T/m.onnx"
$PY "$FX" model "$M" && $PY "$FX" images "$T/ds/a" 20 1 && $PY "$FX" images "$T/ds/b" 20 2 &&
    $PY "$FX" images "$T/big/a" 120 3 && $PY "$FX" images "$T/big/b" 120 4 || { bad "making fixtures"; exit 1; }
# reference: clean runs of both data sets (small 'gap' features; 16 KiB 'fmap' features)
"$FC" extract "$T/ds" --model "$M" --cache "$T/ref" --quiet 2>"$T/err" &&
    "$FC" extract "$T/big" --model "$M" --cache "$T/ref" --layer fmap --batch 8 --quiet 2>>"$T/err" &&
    "$FC" export ds --model "$M" --cache "$T/ref" -o "$T/ref_ds" 2>>"$T/err" >/dev/null &&
    "$FC" export big --model "$M" --layer fmap --cache "$T/ref" -o "$T/ref_big" 2>>"$T/err" >/dev/null &&
    "$FC" extract "$T/big" --model "$M" --cache "$T/ref" --quiet 2>>"$T/err" &&
    "$FC" export big --model "$M" --cache "$T/ref" -o "$T/ref_big_gap" 2>>"$T/err" >/dev/null
check "clean reference runs" $?

# ---- 1a. the cache reaches its size limit mid-run ----
"$FC" extract --help | grep -q -- "--max-cache-size"; check "extract --help documents --max-cache-size" $?
C="$T/lim"
"$FC" extract "$T/ds" --model "$M" --cache "$C" --quiet 2>"$T/err"
"$FC" extract "$T/big" --model "$M" --cache "$C" --layer fmap --batch 8 --max-cache-size 512K --json >"$T/full.json" 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -q "features.mdb: put: cache full: the map reached its 524288-byte limit" "$T/err" &&
    grep -q -- "rerun with a larger --max-cache-size" "$T/err"
check "cache limit 512K: exit 1, 'cache full' naming features.mdb and the limit" $?
kept=$(n_stored "$C" fmap)
"$FC" verify --cache "$C" >"$T/err" 2>&1 && [ "${kept:-0}" -gt 0 ] && [ "$kept" -lt 240 ]
check "cache full: $kept of 240 features committed before the limit, verify clean" $?
"$FC" export ds --model "$M" --cache "$C" -o "$T/lim_ds" >/dev/null 2>"$T/err" && cmp -s "$T/lim_ds/features.npy" "$T/ref_ds/features.npy"
check "cache full: the features stored before are intact (export equal)" $?
"$FC" extract "$T/big" --model "$M" --cache "$C" --layer fmap --batch 8 --max-cache-size 64M --json >"$T/resume.json" 2>"$T/err" &&
    [ "$(json_field computed "$T/resume.json")" -eq $((240 - kept)) ] &&
    "$FC" export big --model "$M" --layer fmap --cache "$C" -o "$T/lim_big" >/dev/null 2>"$T/err" &&
    cmp -s "$T/lim_big/features.npy" "$T/ref_big/features.npy" && cmp -s "$T/lim_big/paths.txt" "$T/ref_big/paths.txt"
check "rerun with a larger limit computes only the $((240 - kept)) missing, features equal a clean run" $?
"$FC" extract "$T/ds" --model "$M" --cache "$C" --max-cache-size 12 >/dev/null 2>"$T/err"
[ $? -eq 64 ] && grep -q "max-cache-size wants a size" "$T/err"; check "--max-cache-size 12 is a usage error" $?

# ---- 1b. a real full file system (2 MiB tmpfs) ----
mkdir -p "$T/mnt"
if ! mount -t tmpfs -o size=2m tmpfs "$T/mnt" 2>"$T/mnterr"; then
    echo "SKIP limits: full file system: cannot mount a tmpfs here ($(head -1 "$T/mnterr"))"
else
    C="$T/mnt/c"
    "$FC" extract "$T/ds" --model "$M" --cache "$C" --quiet 2>"$T/err"
    # Which store meets ENOSPC first is set by the free space, not left to the run: a batch of 8
    # fmap values adds ~160 KiB to features.mdb (8 values of 5 pages), then its catalog rows add
    # 12-32 KiB to the WAL (not checkpointed before 1000 pages). Filling 2 MiB from empty put the
    # edge wherever ten batches ended, which moves by pages with everything written before (pages
    # LMDB reuses, row sizes, which items share a batch); in about one phase of eight the catalog's
    # append crossed it. 320 KiB free: -shm, setup rows and batch 1 take ~244 KiB, batch 2's LMDB
    # write needs ~160 KiB more (LMDB fails first, at batch 2, for 244 to 400 KiB free).
    avail=$(df -k "$T/mnt" | awk 'NR==2 {print $4}')
    dd if=/dev/zero of="$T/mnt/filler" bs=1024 count=$((avail - 320)) 2>/dev/null
    "$FC" extract "$T/big" --model "$M" --cache "$C" --layer fmap --batch 8 --quiet 2>"$T/err"
    rc=$?
    [ $rc -eq 1 ] && grep -q "features.mdb: put: no space left on device" "$T/err"
    check "LMDB write on a full file system: exit 1, 'no space left on device' naming features.mdb" $?
    kept=$(n_stored "$C" fmap)
    "$FC" verify --cache "$C" >"$T/err" 2>&1 && [ "${kept:-0}" -gt 0 ] &&
        "$FC" export ds --model "$M" --cache "$C" -o "$T/fs_ds" >/dev/null 2>"$T/err" && cmp -s "$T/fs_ds/features.npy" "$T/ref_ds/features.npy"
    check "disk full (LMDB): $kept features committed, verify clean, earlier features intact" $?
    mount -o remount,size=16m "$T/mnt" &&
        "$FC" extract "$T/big" --model "$M" --cache "$C" --layer fmap --batch 8 --quiet 2>"$T/err" &&
        "$FC" export big --model "$M" --layer fmap --cache "$C" -o "$T/fs_big" >/dev/null 2>"$T/err" &&
        cmp -s "$T/fs_big/features.npy" "$T/ref_big/features.npy"
    check "after growing the file system the rerun completes, features equal a clean run" $?
    # SQLite: the file system is full before the run starts (the catalog writes first)
    dd if=/dev/zero of="$T/mnt/filler" bs=4096 2>/dev/null
    cp -r "$T/ds" "$T/ds2"
    "$FC" extract "$T/ds2" --model "$M" --cache "$C" --quiet 2>"$T/err"
    rc=$?
    [ $rc -eq 1 ] && grep -q "catalog.sqlite: .*: database or disk is full" "$T/err"
    check "SQLite write on a full file system: exit 1, 'disk is full' naming catalog.sqlite" $?
    "$FC" verify --cache "$C" >"$T/err" 2>&1; check "disk full (SQLite): verify clean" $?
    # both stores near full: a few KiB left, whichever store hits ENOSPC first must say so
    rm -f "$T/mnt/filler"
    avail=$(df -k "$T/mnt" | awk 'NR==2 {print $4}')
    dd if=/dev/zero of="$T/mnt/filler" bs=1024 count=$((avail - 48)) 2>/dev/null
    cp -r "$T/big" "$T/big2"
    "$FC" extract "$T/big2" --model "$M" --cache "$C" --quiet 2>"$T/err"
    rc=$?
    [ $rc -eq 1 ] && grep -Eq "features.mdb: put: no space left on device|catalog.sqlite: .*disk is full" "$T/err"
    check "48 KiB left, a run of 240 new items: exit 1, '$(grep -o 'features.mdb\|catalog.sqlite' "$T/err" | head -1)' full" $?
    "$FC" verify --cache "$C" >"$T/err" 2>&1 && rm -f "$T/mnt/filler" &&
        "$FC" extract "$T/big2" --model "$M" --cache "$C" --quiet 2>"$T/err" &&
        "$FC" extract "$T/ds2" --model "$M" --cache "$C" --quiet 2>>"$T/err" &&
        "$FC" export big2 --model "$M" --cache "$C" -o "$T/fs_big2" >/dev/null 2>"$T/err" &&
        cmp -s "$T/fs_big2/features.npy" "$T/ref_big_gap/features.npy"
    check "near-full: verify clean, after freeing space both reruns complete, features equal a clean run" $?
    umount "$T/mnt"
    # results written to a full file system: export's output, atomically or not at all
    mkdir -p "$T/mnt2"
    if mount -t tmpfs -o size=64k tmpfs "$T/mnt2" 2>/dev/null; then
        "$FC" export big --model "$M" --layer fmap --cache "$T/ref" -o "$T/mnt2/out" >/dev/null 2>"$T/err"
        rc=$?
        [ $rc -eq 1 ] && grep -q "features.npy: write failed: No space left on device" "$T/err" &&
            [ -z "$(ls -A "$T/mnt2")" ]
        check "export of 3.8 MB to a 64 KiB file system: exit 1, 'No space left on device', no partial file or folder" $?
        umount "$T/mnt2"
    fi
fi

# ---- 2. read-only cache folder ----
C="$T/ro"
"$FC" extract "$T/ds" --model "$M" --cache "$C" --quiet 2>/dev/null
run=$("$FC" train ds --model "$M" --cache "$C" --split hash:0.3 --json 2>/dev/null | sed -n 's/^{"run":\([0-9]*\).*/\1/p')
sum_before=$(cat "$C/features.mdb" "$C/catalog.sqlite" | cksum)
ro_checks() { # $1 = how, $2 = cache path, $3 = command prefix, $4 = writable output folder
    $3 "$FC" ls --cache "$2" >/dev/null 2>"$T/err" && $3 "$FC" verify --cache "$2" >/dev/null 2>>"$T/err" &&
        $3 "$FC" export ds --model "$M" --cache "$2" -o "$4/e" >/dev/null 2>>"$T/err" &&
        cmp -s "$4/e/features.npy" "$T/ref_ds/features.npy" &&
        $3 "$FC" train ds --model "$M" --cache "$2" --split hash:0.3 -o "$4/h.onnx" >/dev/null 2>>"$T/err" &&
        grep -q "is read-only .*this run is not recorded" "$T/err" &&
        $3 "$FC" sweep ds --model "$M" --cache "$2" --split hash:0.3 --grid 'l2=0.1,10' >/dev/null 2>>"$T/err" &&
        $3 "$FC" report "$run" --cache "$2" -o "$4/r.html" >/dev/null 2>>"$T/err" && [ -s "$4/r.html" ]
    check "$1: ls, verify, export (equal), train, sweep, report work; train says the run is not recorded" $?
    $3 "$FC" extract "$T/ds2" --model "$M" --cache "$2" >/dev/null 2>"$T/err"
    rc=$?
    [ $rc -eq 1 ] && grep -q "$2: the cache folder is read-only" "$T/err"
    check "$1: extract exits 1 with 'the cache folder is read-only' ($(sed 's/.*read-only (\([^)]*\)).*/\1/' "$T/err"))" $?
    $3 "$FC" gc --cache "$2" >/dev/null 2>"$T/err"
    [ $? -eq 1 ] && grep -q "the cache folder is read-only" "$T/err"; check "$1: gc refuses clearly" $?
}
mkdir -p "$T/romnt" "$T/out1"
if mount -o bind,ro "$C" "$T/romnt" 2>"$T/mnterr"; then
    ro_checks "read-only bind mount" "$T/romnt" "" "$T/out1"
    umount "$T/romnt"
else
    echo "SKIP limits: read-only bind mount: mount refused ($(head -1 "$T/mnterr"))"
fi
NOBODY="setpriv --reuid=65534 --regid=65534 --clear-groups"
mkdir -p "$T/out2" && chown 65534:65534 "$T/out2" 2>/dev/null
if ! command -v setpriv >/dev/null 2>&1; then
    echo "SKIP limits: unprivileged user: setpriv (util-linux) not found"
elif ! $NOBODY "$FC" --help >/dev/null 2>&1; then
    echo "SKIP limits: unprivileged user: uid 65534 cannot run $FC (a parent folder is private?)"
else
    chmod 0555 "$C"
    ro_checks "mode 0555 folder, uid 65534" "$C" "$NOBODY" "$T/out2"
    chmod 0755 "$C"
fi
[ "$(cat "$C/features.mdb" "$C/catalog.sqlite" | cksum)" = "$sum_before" ]
check "the read-only cache is byte-for-byte unchanged afterwards" $?

# ---- 3. very large images ----
mkdir -p "$T/huge"
$PY "$FX" jpeg "$T/huge/big100mp.jpg" 12000 8400
if command -v /usr/bin/time >/dev/null 2>&1; then TIME="/usr/bin/time -f %M -o $T/rss"; else TIME=; fi
$TIME "$FC" extract "$T/huge" --model "$M" --cache "$T/hc" --json >"$T/huge.json" 2>"$T/err"
rc=$?
[ $rc -eq 0 ] && [ "$(json_field computed "$T/huge.json")" = 1 ]; check "a 12000x8400 JPEG (100 MP, $(du -k "$T/huge/big100mp.jpg" | cut -f1) KiB) is extracted" $?
if [ -n "$TIME" ]; then
    rss=$(tail -1 "$T/rss")
    # decoding at full size would need 302 MB for the RGB pixels alone; DCT scaling decodes at 1/8
    [ "$rss" -lt 120000 ]; check "100 MP JPEG: peak RSS $((rss / 1024)) MiB (< 117 MiB; full-size RGB alone is 288 MiB)" $?
else
    echo "SKIP limits: peak RSS of the 100 MP JPEG: GNU time (/usr/bin/time) not installed"
fi
# PNG has no DCT scaling: a 100 MP PNG is decoded at full size (288 MiB of RGB), bounded by the limit
mkdir -p "$T/hpng"
$PY -c "from PIL import Image; Image.new('RGB', (12000, 8400), (100, 150, 200)).save('$T/hpng/big100mp.png', compress_level=1)"
$TIME "$FC" extract "$T/hpng" --model "$M" --cache "$T/hc" --json >"$T/hpng.json" 2>"$T/err"
rc=$?
msg="a 12000x8400 PNG is extracted"
if [ -n "$TIME" ]; then
    rss=$(tail -1 "$T/rss")
    msg="$msg with peak RSS $((rss / 1024)) MiB (< 1.5x its 288 MiB of RGB: no full-size float copy)"
    [ "$rss" -lt 450000 ] || rc=1
fi
[ $rc -eq 0 ] && [ "$(json_field computed "$T/hpng.json")" = 1 ]; check "$msg" $?
$PY - "$T/huge" <<'EOF'
import struct, sys, zlib, io
from PIL import Image
d = sys.argv[1]
buf = io.BytesIO(); Image.new("RGB", (64, 64), (90, 120, 30)).save(buf, "JPEG"); j = bytearray(buf.getvalue())
i = j.index(b"\xff\xc0")                    # SOF0: length(2) precision(1) height(2) width(2)
j[i + 5:i + 9] = struct.pack(">HH", 60000, 60000)
open(d + "/liar.jpg", "wb").write(j)
buf = io.BytesIO(); Image.new("RGB", (64, 64)).save(buf, "PNG"); p = bytearray(buf.getvalue())
p[16:24] = struct.pack(">II", 60000, 60000)   # IHDR width, height, then fix its CRC
p[29:33] = struct.pack(">I", zlib.crc32(bytes(p[12:29])) & 0xffffffff)
open(d + "/liar.png", "wb").write(p)
EOF
"$FC" extract "$T/huge" --model "$M" --cache "$T/hc" --json >"$T/huge2.json" 2>"$T/err"
rc=$?
[ $rc -eq 3 ] && grep -q "liar.jpg: JPEG is 60000x60000, over the limit of 200000000 pixels" "$T/huge2.json" &&
    grep -q "liar.png: PNG declares 60000x60000, over the limit of 200000000 pixels" "$T/huge2.json"
check "JPEG/PNG headers claiming 60000x60000: recorded bad ('over the limit of 200000000 pixels'), exit 3" $?
"$FC" extract --help | grep -q "200 megapixels"; check "extract --help documents the pixel limit" $?

# ---- 4. empty, truncated, non-regular files, symlink loops ----
F="$T/faulty/a"
mkdir -p "$F" "$T/faulty/b"
cp "$T/ds/a/img000.jpg" "$T/ds/a/img001.jpg" "$F/"
cp "$T/ds/b/img000.jpg" "$T/faulty/b/"
: >"$F/empty.jpg"
sz=$(wc -c <"$T/ds/a/img002.jpg")
head -c $((sz / 2)) "$T/ds/a/img002.jpg" >"$F/half.jpg"
$PY -c "import sys; d=open(sys.argv[1],'rb').read(); open(sys.argv[2],'wb').write(d[:len(d)//2])" "$T/huge/big100mp.jpg" "$F/half100mp.jpg"
$PY -c "
import sys, io, numpy as np
from PIL import Image
b = io.BytesIO(); Image.fromarray(np.random.default_rng(3).integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(b, 'PNG')
open(sys.argv[1], 'wb').write(b.getvalue()[:len(b.getvalue()) // 2])" "$F/half.png"
ln -s . "$F/self"
ln -s .. "$F/parent"
ln -s loop2 "$F/loop1.jpg"
ln -s loop1.jpg "$F/loop2"
ln -s nowhere.jpg "$F/dangling.jpg"
mkfifo "$F/fifo.jpg"
printf 'path,label\nfaulty/a/img000.jpg,x\nfaulty/a/fifo.jpg,x\n/dev/zero,y\nfaulty/a,y\nfaulty/a/loop1.jpg,y\n' >"$T/manifest.csv"
timeout -s KILL 60 "$FC" extract "$T/faulty" --model "$M" --cache "$T/fc" --json >"$T/faulty.json" 2>"$T/err"
rc=$?
[ $rc -eq 3 ] && [ "$(json_field computed "$T/faulty.json")" = 3 ] &&
    grep -q '"path":"a/empty.jpg","error":"[^"]*empty.jpg: empty file"' "$T/faulty.json" &&
    grep -q '"path":"a/half.jpg","error":"[^"]*half.jpg: truncated or corrupt JPEG: Premature end of JPEG file"' "$T/faulty.json" &&
    grep -q '"path":"a/half100mp.jpg","error":"[^"]*half100mp.jpg: truncated or corrupt JPEG' "$T/faulty.json" &&
    grep -q '"path":"a/half.png","error":"[^"]*half.png: [^"]*' "$T/faulty.json" &&
    grep -q '"path":"a/loop1.jpg","error":"[^"]*loop1.jpg: cannot open: Too many levels of symbolic links"' "$T/faulty.json" &&
    grep -q '"path":"a/dangling.jpg","error":"[^"]*dangling.jpg: cannot open: No such file or directory"' "$T/faulty.json"
check "empty, half a JPEG, half a PNG, half a 100 MP JPEG, a -> b -> a, dangling link: each bad with its reason; a -> . and a -> .. end; 3 good computed; exit 3 (rc $rc)" $?
timeout -s KILL 60 "$FC" extract "$T/manifest.csv" --model "$M" --cache "$T/fc" --json >"$T/csv.json" 2>"$T/err"
rc=$?
[ $rc -eq 3 ] && grep -q 'fifo.jpg: a FIFO, not a regular file' "$T/csv.json" && grep -q '/dev/zero: a device or socket, not a regular file' "$T/csv.json" &&
    grep -q '"path":"faulty/a","error":"[^"]*: a folder, not a regular file' "$T/csv.json" && grep -q 'loop1.jpg: cannot open: Too many levels' "$T/csv.json"
check "CSV listing a FIFO, /dev/zero, a folder and a symlink loop: each bad with its reason, no hang (rc $rc)" $?
timeout -s KILL 60 "$FC" infer --model "$M" "$F/fifo.jpg" "$F/img000.jpg" >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 3 ] && grep -q "fifo.jpg: a FIFO, not a regular file" "$T/err"; check "infer on a FIFO: skipped with the reason, no hang (rc $rc)" $?
timeout -s KILL 60 "$FC" extract "$T/ds" --model "$F/fifo.jpg" --cache "$T/fc" >/dev/null 2>"$T/err"
rc=$?
[ $rc -eq 1 ] && grep -q "fifo.jpg: .*not a regular file" "$T/err"; check "--model naming a FIFO: exit 1, no hang (rc $rc)" $?

# ---- 4b. an image rewritten between two contents while extraction runs ----
A="$T/ds/a/img010.jpg" B="$T/ds/b/img011.jpg"
mkdir -p "$T/chg/x"
cp "$T/ds/a/img012.jpg" "$T/ds/a/img013.jpg" "$T/chg/x/"
cp "$A" "$T/chg/x/moving.jpg"
(while [ ! -e "$T/chg.stop" ]; do cat "$A" >"$T/chg/x/moving.jpg"; cat "$B" >"$T/chg/x/moving.jpg"; done) &
writer=$!
r=0 fails=0
while [ $r -lt 20 ]; do
    "$FC" extract "$T/chg" --model "$M" --cache "$T/cc" --quiet 2>/dev/null
    rc=$?
    [ $rc -eq 0 ] || [ $rc -eq 3 ] || fails=$((fails + 1))
    r=$((r + 1))
done
touch "$T/chg.stop"
wait $writer
# which of A and B did the racing runs store? their features must be the ones of A and B
mkdir -p "$T/chk/x"
cp "$A" "$T/chk/x/A.jpg"
cp "$B" "$T/chk/x/B.jpg"
"$FC" extract "$T/chk" --model "$M" --cache "$T/cc" --json >"$T/chk.json" 2>/dev/null
seen=$(json_field cached "$T/chk.json")
"$FC" export chk --model "$M" --cache "$T/cc" -o "$T/chk_race" >/dev/null 2>&1
"$FC" extract "$T/chk" --model "$M" --cache "$T/chkref" --quiet 2>/dev/null
"$FC" export chk --model "$M" --cache "$T/chkref" -o "$T/chk_ref" >/dev/null 2>&1
if [ "${seen:-0}" -eq 0 ]; then
    echo "SKIP limits: file rewritten during extraction: in 20 runs neither whole content was stored (nothing to compare)"
else
    [ $fails -eq 0 ] && cmp -s "$T/chk_race/features.npy" "$T/chk_ref/features.npy" && "$FC" verify --cache "$T/cc" >/dev/null 2>&1
    check "file rewritten A<->B during 20 runs: no failure, the $seen of A/B stored under their SHA-256 hold exactly A's/B's features" $?
fi

# same size, same mtime, new bytes (a rewrite within one timestamp tick, here with the mtime set
# explicitly): a file whose mtime was not safely in the past at the scan must be read again
mkdir -p "$T/racy/x" "$T/racyref/x"
$PY -c "
import sys, numpy as np
from PIL import Image
for seed, name in ((1, 'A'), (2, 'B')):  # uncompressed PNGs of one size: equal file sizes
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(sys.argv[1] + '/' + name + '.png', compress_level=0)
" "$T"
S=$(($(date +%s) + 3600))
cp "$T/A.png" "$T/racy/x/f.png" && touch -d @$S "$T/racy/x/f.png"
"$FC" extract "$T/racy" --model "$M" --cache "$T/rc" --quiet 2>/dev/null
cat "$T/B.png" >"$T/racy/x/f.png" && touch -d @$S "$T/racy/x/f.png"
"$FC" extract "$T/racy" --model "$M" --cache "$T/rc" --json >"$T/racy.json" 2>/dev/null
cp "$T/B.png" "$T/racyref/x/f.png"
"$FC" extract "$T/racyref" --model "$M" --cache "$T/rcref" --quiet 2>/dev/null
"$FC" export racy --model "$M" --cache "$T/rc" -o "$T/racy_e" >/dev/null 2>&1 &&
    "$FC" export racyref --model "$M" --cache "$T/rcref" -o "$T/racyref_e" >/dev/null 2>&1 &&
    [ "$(wc -c <"$T/A.png")" = "$(wc -c <"$T/B.png")" ] && [ "$(json_field computed "$T/racy.json")" = 1 ] &&
    cmp -s "$T/racy_e/features.npy" "$T/racyref_e/features.npy"
check "rewritten with the same size and mtime (mtime not in the past at the scan): re-read, B's features served, not A's" $?

# ---- 5. models whose declared sizes overflow or exceed memory (CLI) ----
for k in overflow huge_input; do
    $PY "$FX" badmodel $k "$T/$k.onnx"
    "$FC" extract "$T/ds" --model "$T/$k.onnx" --cache "$T/mc" >/dev/null 2>"$T/err"; rc1=$?
    m1=$(head -1 "$T/err")
    "$FC" infer --model "$T/$k.onnx" "$T/ds/a/img000.jpg" >/dev/null 2>"$T/err"; rc2=$?
    [ $rc1 -eq 1 ] && [ $rc2 -eq 1 ] && echo "$m1" | grep -q "$k.onnx: .*\(overflowing\|too large\)" &&
        grep -q "$k.onnx: .*\(overflowing\|too large\)" "$T/err"
    check "model '$k': extract and infer exit 1 naming the file ($(echo "$m1" | sed 's/^featcache extract: //'))" $?
done
exit 0
