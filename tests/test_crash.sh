#!/bin/sh
# Crash safety of `featcache extract`: 20 SIGKILLs at random moments on a 60-image ants/bees subset
# (plus the GIF, a bad file), then runs that complete. Two extractors in turn (pooled f32, then f16
# on the same data set), 10 kills each: one right after the start (catalog open/schema), one during
# setup (model hashing/loading, data set and run records), the rest anywhere in what is left of the
# run (decoding, inference, LMDB commits of each 4-image batch, the SQLite rows after each commit,
# the final item upsert/prune/run record). Checks: exports of both extractors bitwise identical to
# one clean run (features, labels, paths, splits); `featcache verify` clean (no corrupt, missing or
# unreferenced features, no catalog problems); the catalog's items and extractors equal the clean
# run's row for row, SQLite integrity and foreign keys intact, the killed runs marked interrupted.
# FEATCACHE_CRASH_SEED replays the delays of an earlier run.
FC=${FEATCACHE_BIN:-build/featcache}
SHARED=${FEATCACHE_SHARED:-../shared}
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ok() { echo "PASS crash: $1"; }
bad() { echo "FAIL crash: $1"; }
check() { if [ "$2" = 0 ]; then ok "$1"; else bad "$1"; fi; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

if [ ! -d "$SHARED/data/hymenoptera" ]; then echo "SKIP crash: $SHARED not found"; exit 0; fi
M="$SHARED/models/mobilenet_v2_1.0_224.onnx"
H="$SHARED/data/hymenoptera"
big=20 small=10 # images per class in train and val
if [ -n "$FEATCACHE_SANITIZE" ]; then # make sanitize: same kills and checks, fewer images per run
    big=8 small=4; echo "  FEATCACHE_SANITIZE set: 24 images instead of 60 (sanitizer builds are slow)"
fi
for s in train val; do
    for c in ants bees; do
        mkdir -p "$T/set/$s/$c"
        n=$small; [ $s = train ] && n=$big
        ls "$H/$s/$c" | grep -v '\.gif$' | head -$n | while IFS= read -r f; do cp "$H/$s/$c/$f" "$T/set/$s/$c/"; done
    done
done
cp "$H/train/ants/imageNotFound.gif" "$T/set/train/ants/"
N=$(find "$T/set" -name '*.jpg' | wc -l)
OPTS="--batch 4 --quiet"
PHASES="f32 f16"

# clean reference: one uninterrupted run per extractor, then a rerun that computes nothing; their
# wall times scale the kill moments
for d in $PHASES; do
    t0=$(now)
    "$FC" extract "$T/set" --model "$M" --cache "$T/clean" --dtype $d $OPTS 2>/dev/null
    rc=$?
    eval "t_$d=$(elapsed "$t0")"
    t0=$(now)
    "$FC" extract "$T/set" --model "$M" --cache "$T/clean" --dtype $d $OPTS 2>/dev/null
    eval "r_$d=$(elapsed "$t0")"
    "$FC" export set --model "$M" --cache "$T/clean" --dtype $d -o "$T/ref_$d" 2>/dev/null || rc=1
    [ $rc -eq 3 ] || { bad "clean $d run failed ($rc)"; exit 0; }
done
echo "  clean runs: $N images + 1 GIF, f32 ${t_f32} s (rerun ${r_f32} s), f16 ${t_f16} s (rerun ${r_f16} s)"

stored() { # features of the phase's extractor in the killed cache (0 before it exists)
    "$FC" ls --cache "$T/k" 2>/dev/null | awk -v d=" $1 " 'index($0, d) && / features$/ { n = $(NF - 1) } END { print n + 0 }'
}

# 10 kills per extractor; a run that finished before its kill does not count (at most 20 tries)
seed=${FEATCACHE_CRASH_SEED:-$$}
kills=0; i=0; moments=""
for d in $PHASES; do
    eval "t=\$t_$d; r=\$r_$d"
    k=0; tries=0
    while [ $k -lt 10 ] && [ $tries -lt 20 ]; do
        have=$(stored $d)
        delay=$(awk -v s="$seed" -v i="$i" -v k="$k" -v t="$t" -v r="$r" -v left="$((N - have))" -v n="$N" 'BEGIN {
            srand(s * 100 + i); u = rand()
            if (k == 0) x = 0.02 * u                 # just started: catalog open, schema
            else if (k == 1) x = 0.02 + 0.9 * r * u  # setup: model facts, data set, extractor, runs
            else x = u * (r + (t - r) * left / n)    # anywhere in what is left, final rows included
            printf "%.3f", x }')
        "$FC" extract "$T/set" --model "$M" --cache "$T/k" --dtype $d $OPTS >/dev/null 2>&1 &
        pid=$!
        sleep "$delay"
        kill -9 $pid 2>/dev/null
        wait $pid 2>/dev/null
        rc=$?
        if [ $rc -eq 137 ]; then
            kills=$((kills + 1)); k=$((k + 1)); moments="$moments ${delay}s($d,$have/$N)"
        else
            moments="$moments ${delay}s($d,$have/$N:finished=$rc)"
        fi
        i=$((i + 1)); tries=$((tries + 1))
    done
done
echo "  seed $seed; moments (delay after start, extractor, its features stored before):$moments"
[ $kills -eq 20 ]; check "20 runs killed by SIGKILL mid-run ($i started; seed $seed)" $?

same=0
for d in $PHASES; do
    "$FC" extract "$T/set" --model "$M" --cache "$T/k" --dtype $d $OPTS 2>/dev/null
    rc=$?
    "$FC" export set --model "$M" --cache "$T/k" --dtype $d -o "$T/out_$d" 2>/dev/null || rc=1
    [ $rc -eq 3 ] || { same=1; echo "  final $d run: exit $rc"; }
    for f in features.npy labels.txt paths.txt splits.txt; do
        cmp -s "$T/ref_$d/$f" "$T/out_$d/$f" || { same=1; echo "  $d $f differs from the clean run"; }
    done
done
check "after the kills, runs complete: f32 and f16 features, labels, paths, splits bitwise = clean run" $same

"$FC" verify --cache "$T/k" >"$T/verify" 2>&1; rc=$?
[ $rc -eq 0 ] && grep -q "0 corrupt, 0 missing, 0 unreferenced" "$T/verify" && grep -q "; 0 catalog problems" "$T/verify" &&
    ! grep -q "interrupted" "$T/verify"
check "verify clean: no corrupt, missing or unreferenced features, no catalog problems, no run left running" $?
[ $? -eq 0 ] || cat "$T/verify"

if $PY -c 'import sqlite3' 2>/dev/null; then
    $PY - "$T/clean/catalog.sqlite" "$T/k/catalog.sqlite" <<'PY'
import sqlite3, sys
def rows(path):
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    r = {
        "integrity": db.execute("PRAGMA integrity_check").fetchall(),
        "foreign keys": db.execute("PRAGMA foreign_key_check").fetchall(),
        "datasets": db.execute("SELECT name, format FROM datasets ORDER BY name").fetchall(),
        "items": db.execute("SELECT d.name, path, hex(sha256), label, split, status, error, size, mtime "
                            "FROM items JOIN datasets d ON d.id = dataset_id ORDER BY 1, 2").fetchall(),
        "items total": db.execute("SELECT count(*) FROM items").fetchall(),
        "extractors": db.execute("SELECT id, model_sha256, layer, size, crop, preprocess, views, dtype, dims "
                                 "FROM extractors ORDER BY id").fetchall(),
        "dangling runs": db.execute("SELECT count(*) FROM runs WHERE dataset_id NOT IN (SELECT id FROM datasets) "
                                    "OR extractor_id NOT IN (SELECT id FROM extractors) "
                                    "OR (kind = 'extract' AND (dataset_id IS NULL OR extractor_id IS NULL))").fetchall(),
        "stale items": db.execute("SELECT count(*) FROM items WHERE seen <> (SELECT max(seen) FROM items)").fetchall(),
    }
    r["running"] = db.execute("SELECT count(*) FROM runs WHERE status = 'running'").fetchone()[0]
    r["interrupted"] = db.execute("SELECT count(*) FROM runs WHERE status = 'failed' AND result LIKE '%interrupted%'").fetchone()[0]
    r["runs"] = db.execute("SELECT count(*) FROM runs").fetchone()[0]
    return r
a, b = rows(sys.argv[1]), rows(sys.argv[2])
bad = [k for k in a if k not in ("running", "runs", "interrupted") and a[k] != b[k]]
for k in bad:
    print("  catalog %s differ: clean %r, after kills %r" % (k, a[k][:3], b[k][:3]))
print("  catalog after kills: %d items, %d extractors, %d runs (%d marked interrupted, %d still 'running')"
      % (b["items total"][0][0], len(b["extractors"]), b["runs"], b["interrupted"], b["running"]))
sys.exit(1 if bad or b["integrity"] != [("ok",)] or b["foreign keys"] or b["dangling runs"] != [(0,)] or b["running"] else 0)
PY
    check "catalog after the kills: items, extractors, data sets = clean run's; integrity, foreign keys ok; no dangling or stale 'running' runs" $?
else
    echo "SKIP crash: catalog row comparison needs python3 (sqlite3 module)"
fi
exit 0
