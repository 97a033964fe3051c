#!/bin/sh
# Crash safety of `featcache extract`: 20 SIGKILLs at random moments on a 60-image ants/bees subset
# (plus the GIF, a bad file), then runs that complete. Extractors in turn (pooled f32, f16, crop
# 0.875, ...: the next when one is complete) on the same data set; for each, one kill right after
# the start (catalog open/schema), one during setup (model hashing/loading, data set and run
# records), the rest anywhere in what is left of the run (decoding, inference, LMDB commits of each
# 4-image batch, the SQLite rows after each commit, the final item sync and run record). Those
# moments are measured in the CPU time the run has used (a random share of what a clean run of the
# items left takes), not in wall time: load from other processes stretches wall time several-fold
# and then moved kills past the end of runs that finished first. Checks:
# exports of each extractor bitwise identical to a clean run (features, labels, paths, splits);
# `featcache verify` clean (no corrupt, missing or unreferenced features, no catalog problems); the
# catalog's items and extractors equal the clean run's row for row, SQLite integrity and foreign
# keys intact, the killed runs marked interrupted. FEATCACHE_CRASH_SEED replays an earlier run's moments.
NAME=crash; . "$(dirname "$0")/../support/common.sh"
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
TCK=$(getconf CLK_TCK 2>/dev/null) || TCK=100
NCPU=$(nproc 2>/dev/null) || NCPU=1
# CPU seconds (user + system) of the children the shell has waited for so far, from `times` (not in
# a $(...) subshell: that one has waited for none)
cpu_mark() { times >"$T/times"; }
cpu_since() { # mark taken before: CPU seconds of the children since, e.g. of the one command between
    awk -v m="$1" 'NR == 2 { split($1, u, "m"); split($2, s, "m"); x = u[1] * 60 + u[2] + s[1] * 60 + s[2] - m; printf "%.2f", (x > 0 ? x : 0) }' "$T/times"
}
# CPU time process $1 has used so far in clock ticks (user + system, all threads) into $ticks, its
# state letter into $state; fails once it is gone
cpu_of() {
    read -r stat_line 2>/dev/null </proc/$1/stat || return 1
    set -- ${stat_line##*)}
    state=$1 ticks=$((${12} + ${13}))
}

need_shared
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
printf 'GIF89a\001\000\001\000' >"$T/set/train/ants/imageNotFound.gif" # a cut GIF: the bad file
N=$(find "$T/set" -name '*.jpg' | wc -l)
OPTS="--batch 4 --quiet"
# Extractors in turn: when one is complete in the killed cache (its reruns compute nothing and are
# too short to hit), the kills go on with the next, which computes everything again. A run that ends
# before its kill completes its extractor; with six (each referenced only when reached) the kills
# do not run out of extractors even when several runs in a row end first.
CONFIGS="f32 f16 crop crop16 torch torch16"
opts_of() { case $1 in f32) echo "--dtype f32" ;; f16) echo "--dtype f16" ;; crop) echo "--crop 0.875" ;;
    crop16) echo "--crop 0.875 --dtype f16" ;; torch) echo "--preprocess torch" ;;
    torch16) echo "--preprocess torch --dtype f16" ;; esac; }
used=""

# clean reference of a config: one uninterrupted run, then a rerun that computes nothing (their CPU
# times scale the kill moments, the wall time of the rerun the kill during setup), its export and
# its extractor id
reference() {
    t0=$(now)
    cpu_mark; m=$(cpu_since 0)
    "$FC" extract "$T/set" --model "$M" --cache "$T/clean" $(opts_of $1) $OPTS --json >"$T/ref_$1.json" 2>/dev/null
    rc=$?
    cpu_mark; ct=$(cpu_since $m)
    t=$(elapsed "$t0")
    t0=$(now)
    cpu_mark; m=$(cpu_since 0)
    "$FC" extract "$T/set" --model "$M" --cache "$T/clean" $(opts_of $1) $OPTS 2>/dev/null
    cpu_mark; cr=$(cpu_since $m)
    r=$(elapsed "$t0")
    id=$(sed -n 's/.*"extractor":"\([0-9a-f]\{12\}\).*/\1/p' "$T/ref_$1.json")
    "$FC" export set --model "$M" --cache "$T/clean" $(opts_of $1) -o "$T/ref_$1" 2>/dev/null || rc=1
    echo "  clean $1 run: $N images + 1 GIF in $t s, $ct s CPU (rerun $r s, $cr s CPU), extractor $id"
    [ $rc -eq 3 ] && [ -n "$id" ] && awk -v c="$ct" 'BEGIN { exit !(c > 0) }' # no CPU time measured: no moments
}

stored() { # features of extractor $1 (12 hex digits) in the killed cache (0 before it exists)
    "$FC" ls --cache "$T/k" 2>/dev/null | awk -v id="$1" '$1 == id { n = $(NF - 1) } END { print n + 0 }'
}

seed=${FEATCACHE_CRASH_SEED:-$$}
kills=0; i=0; hung=0; moments=""; set -- $CONFIGS
while [ $kills -lt 20 ] && [ $i -lt 40 ] && [ $# -gt 0 ]; do
    c=$1
    case " $used " in *" $c "*) ;; *) reference $c || { bad "clean $c run failed"; exit 0; }; used="$used $c"; k=0 ;; esac
    have=$(stored $id)
    if [ "$have" -eq "$N" ]; then shift; continue; fi
    # k 0 and 1: wall seconds after the start, then CPU seconds used. A run takes at least its CPU
    # time spread over every CPU ($ct / $NCPU) of wall time: the setup kill comes before half that.
    at=$(awk -v s="$seed" -v i="$i" -v k="$k" -v t="$ct" -v r="$r" -v rc="$cr" -v left="$((N - have))" \
        -v n="$N" -v ncpu="$NCPU" 'BEGIN {
        srand(s * 100 + i); u = rand()
        if (k == 0) x = 0.02 * u                             # just started: catalog open, schema
        else if (k == 1) x = 0.02 + 0.9 * r * u              # setup: model facts, data set, extractor, runs
        else x = u * (rc + (t - rc) * left / n)              # anywhere in what is left, final rows included
        if (k == 1 && x > t / ncpu / 2) x = t / ncpu / 2
        printf "%.3f", x }')
    unit=s; [ $k -lt 2 ] || unit=s-cpu
    $KILLABLE "$FC" extract "$T/set" --model "$M" --cache "$T/k" $(opts_of $c) $OPTS >/dev/null 2>&1 &
    pid=$!
    if [ "$unit" = s ]; then
        sleep "$at"
        cpu_of $pid && [ "$state" != Z ] && kill -9 $pid 2>/dev/null
    else # poll its CPU time; a run that neither ends nor gets there in 30 s + 20 clean runs is hung
        target=$(awk -v x="$at" -v h="$TCK" 'BEGIN { printf "%d", x * h + 0.5 }')
        polls=0 limit=$(awk -v t="$t" 'BEGIN { printf "%d", 100 * (30 + 20 * t) }')
        while cpu_of $pid && [ "$state" != Z ]; do
            if [ "$ticks" -ge "$target" ]; then kill -9 $pid 2>/dev/null; break; fi
            polls=$((polls + 1))
            if [ $polls -gt "$limit" ]; then hung=$((hung + 1)); kill -9 $pid 2>/dev/null; break; fi
            sleep 0.01
        done
    fi
    wait $pid 2>/dev/null
    rc=$?
    if [ $rc -eq 137 ]; then kills=$((kills + 1)); moments="$moments $at$unit($c,$have/$N)"
    else moments="$moments $at$unit($c,$have/$N:finished=$rc)"; fi
    i=$((i + 1)); k=$((k + 1))
done
echo "  seed $seed; moments (after the start: wall s or CPU s-cpu, extractor, its features stored before):$moments"
note=""; [ $hung -eq 0 ] || note="; $hung runs hung (no exit, CPU time short of the moment)"
[ $kills -eq 20 ] && [ $hung -eq 0 ]
check "20 runs killed by SIGKILL mid-run ($i started, extractors:$used; seed $seed$note)" $?

same=0
for c in $used; do
    "$FC" extract "$T/set" --model "$M" --cache "$T/k" $(opts_of $c) $OPTS 2>/dev/null
    rc=$?
    "$FC" export set --model "$M" --cache "$T/k" $(opts_of $c) -o "$T/out_$c" 2>/dev/null || rc=1
    [ $rc -eq 3 ] || { same=1; echo "  final $c run: exit $rc"; }
    for f in features.npy labels.txt paths.txt splits.txt; do
        cmp -s "$T/ref_$c/$f" "$T/out_$c/$f" || { same=1; echo "  $c $f differs from the clean run"; }
    done
done
check "after the kills, runs complete: features, labels, paths, splits of each extractor bitwise = clean run" $same

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
        # mtime is left out: a file modified within 2 s of a scan is recorded without one (job.h),
        # so whether it is set depends on how soon after copying the data set a run started
        "items": db.execute("SELECT d.name, path, hex(sha256), label, split, status, error, size "
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
    diff = [(x, y) for x, y in zip(a[k], b[k]) if x != y][:2]
    print("  catalog %s differ (%d vs %d rows); first differences (clean, after kills): %r" % (k, len(a[k]), len(b[k]), diff))
print("  catalog after kills: %d items, %d extractors, %d runs (%d marked interrupted, %d still 'running')"
      % (b["items total"][0][0], len(b["extractors"]), b["runs"], b["interrupted"], b["running"]))
sys.exit(1 if bad or b["integrity"] != [("ok",)] or b["foreign keys"] or b["dangling runs"] != [(0,)] or b["running"] else 0)
PY
    check "catalog after the kills: items, extractors, data sets = clean run's; integrity, foreign keys ok; no dangling or stale 'running' runs" $?
else
    echo "SKIP crash: catalog row comparison needs python3 (sqlite3 module)"
fi
exit 0
