#!/bin/sh
# gc and running extracts, incomplete data sets (issue 13 point 4), with the tiny test model. An
# extract is held by the test hook (FEATCACHE_TEST_PAUSE: FIFOs, no sleeping and hoping) right after
# its first batch's features are committed and before the catalog rows that reference them are
# written, the moment an unlocked gc took those features for garbage: gc and gc --dry-run refuse,
# naming the run and its process, verify --repair too; another extract runs meanwhile; gc --wait
# blocks on the cache's lock (seen in /proc/locks) until the extract ends, then deletes nothing
# it needs: the export equals a clean run's, verify is clean. gc --dry-run counts exactly what gc
# deletes (every layer and view of unreferenced items). A data set whose last extract was killed,
# failed or is running is reported by export, train, sweep, eval and ls (warning, exit 3; --strict:
# exit 1), and no longer once an extract completes it.
NAME=gc_lock; . "$(dirname "$0")/../support/common.sh"
need_python "numpy, onnx, PIL" "python3 with numpy, onnx and PIL not installed"
cd "$T" || exit 1
$PY "$FX" model m.onnx && $PY "$FX" images set/a 12 1 && $PY "$FX" images set/b 12 2 && $PY "$FX" images other/a 4 5 &&
    $PY "$FX" images set3/a 8 6 && $PY "$FX" images set3/b 8 7 ||
    { bad "fixtures"; exit 0; }
X="--model m.onnx --layer gap"
"$FC" extract set $X --cache clean --quiet 2>/dev/null && "$FC" export set $X --cache clean -o ref 2>/dev/null ||
    { bad "clean run"; exit 0; }
mkdir h && mkfifo h/extract-batch.reached h/extract-batch.go
# held: an extract of set into cache k, held after its first batch's features are committed
FEATCACHE_TEST_PAUSE=extract-batch:$T/h "$FC" extract set $X --cache k --batch 4 --quiet 2>ex_err &
xpid=$!
[ "$(timeout 60 cat h/extract-batch.reached)" = "$xpid" ]
check "the extract is held after its first batch's features are committed (catalog rows not written yet)" $?

"$FC" gc --cache k >out 2>"$T/err"; rc1=$?
"$FC" gc --dry-run --cache k >out 2>>"$T/err"; rc2=$?
[ $rc1 -eq 1 ] && [ $rc2 -eq 1 ] && [ "$(grep -c "an extract is running on this cache (run #1, process $xpid)" "$T/err")" -eq 2 ]
check "gc and gc --dry-run refuse while an extract runs, naming its run and process" $?
"$FC" verify --repair --cache k >out 2>"$T/err"
[ $? -eq 1 ] && grep -q "repair changes nothing" "$T/err"
check "verify --repair refuses too" $?
"$FC" ls --cache k >out 2>"$T/err"
[ $? -eq 3 ] && grep -q "data set 'set' is incomplete (extractor [0-9a-f]*): an extract of it is running (run #1, process $xpid)" "$T/err" &&
    grep -q "^  set .*INCOMPLETE" out
check "ls meanwhile: the data set is marked incomplete (an extract of it is running), exit 3" $?
"$FC" extract other $X --cache k --quiet 2>"$T/err"
check "another extract runs meanwhile (extracts share the lock)" $?

"$FC" gc --wait --cache k >gc_out 2>gc_err &
gpid=$!
ino=$(stat -c %i k/lock)
if [ -r /proc/locks ]; then
    n=0 # wait for gc's lock request to be queued (a state, not a time)
    until grep -q -- "-> FLOCK .* WRITE $gpid .*:$ino " /proc/locks || [ $n -ge 6000 ]; do sleep 0.01; n=$((n + 1)); done
    [ $n -lt 6000 ] && kill -0 $gpid 2>/dev/null
    check "gc --wait blocks on the cache's lock while the extract holds it" $?
else
    echo "SKIP gc_lock: /proc/locks not readable (gc --wait blocking not observed)"
fi
echo go >h/extract-batch.go
wait $xpid; xrc=$?
wait $gpid; grc=$?
[ $xrc -eq 0 ] && [ $grc -eq 0 ] && grep -q "^deleted 0 features" gc_out
check "released: the extract completes, then gc runs and deletes nothing it needs" $?
"$FC" export set $X --cache k -o got 2>"$T/err" && cmp -s got/features.npy ref/features.npy &&
    cmp -s got/paths.txt ref/paths.txt && "$FC" verify --cache k >out 2>&1 && grep -q "^clean" out
check "export bitwise the clean run's, verify clean" $?

# ---- gc --dry-run counts what gc deletes ----
cp -r set views
"$FC" extract views --model m.onnx --layer gap --layer fmap --views orig,flip --cache v --quiet 2>/dev/null
rm views/a/img000.jpg views/a/img001.jpg views/b/img005.jpg
"$FC" extract views --model m.onnx --layer gap --layer fmap --views orig,flip --cache v --quiet 2>/dev/null
"$FC" export views --model m.onnx --layer fmap --view flip --cache v -o before 2>/dev/null
"$FC" gc --dry-run --cache v >dry 2>"$T/err" && "$FC" gc --cache v >real 2>>"$T/err"
d=$(awk '{ print $3 }' dry) r=$(awk '{ print $2 }' real)
[ "$d" = 12 ] && [ "$r" = 12 ] && grep -q "of 0 unused extractors and 3 unreferenced items" dry
check "gc --dry-run counts exactly what gc deletes: 3 items x 2 layers x 2 views = 12 (dry $d, gc $r)" $?
"$FC" export views --model m.onnx --layer fmap --view flip --cache v -o after 2>/dev/null &&
    cmp -s before/features.npy after/features.npy && "$FC" verify --cache v >out 2>&1 && grep -q "^clean" out
check "after gc: the same export, verify clean" $?

# ---- a data set whose last extract did not finish ----
"$FC" train set $X --cache k -o head.onnx >/dev/null 2>&1
FEATCACHE_TEST_PAUSE=extract-batch#4:$T/h "$FC" extract set3 $X --cache k --batch 4 --quiet 2>/dev/null &
xpid=$!
[ "$(timeout 60 cat h/extract-batch.reached)" = "$xpid" ] && kill -9 $xpid
check "an extract of another data set killed after its fourth batch's features are committed (12 of 16 items in the catalog)" $?
wait $xpid 2>/dev/null
fails=""
expect() { # expect RC PATTERN CMD...: exit status RC and PATTERN on stderr
    want=$1 pat=$2; shift 2
    "$FC" "$@" --cache k >out 2>"$T/err"; rc=$?
    [ $rc -eq "$want" ] && grep -q "$pat" "$T/err" || fails="$fails $1$([ "$want" = 1 ] && echo -strict)($rc)"
}
killed="data set 'set3' is incomplete (layer gap): its last extract (run #[0-9]*, process $xpid) was killed before it finished"
expect 3 "$killed" export set3 $X -o o3
expect 3 "$killed" train set3 $X
expect 3 "$killed" sweep set3 $X --grid 'l2=0.1,1'
expect 3 "$killed" eval set3 --head head.onnx --split all
expect 3 "set3.*extractor [0-9a-f]\{12\}.*was killed" ls
grep -q "set3 .*INCOMPLETE" out || fails="$fails ls-marker"
[ -z "$fails" ]
check "killed extract: export, train, sweep, eval and ls warn that the data set is incomplete and exit 3" $?
[ -n "$fails" ] && echo "    wrong:$fails"
fails=""
expect 1 "is incomplete" export set3 $X -o o4 --strict
expect 1 "is incomplete" train set3 $X --strict
expect 1 "is incomplete" sweep set3 $X --grid 'l2=0.1,1' --strict
expect 1 "is incomplete" eval set3 --head head.onnx --split all --strict
expect 1 "is incomplete" ls --strict
[ -z "$fails" ] && [ ! -e o4 ]
check "with --strict each of them refuses (exit 1)" $?
[ -n "$fails" ] && echo "    wrong:$fails"
"$FC" extract set3 $X --cache k --quiet 2>/dev/null
fails=""
for c in "export set3 $X -o o5" "train set3 $X" "eval set3 --head head.onnx --split all" "ls --strict"; do
    "$FC" $c --cache k >out 2>"$T/err" || fails="$fails ${c%% *}($?)"
    ! grep -q "incomplete" "$T/err" || fails="$fails ${c%% *}(warns)"
done
[ -z "$fails" ]
check "once an extract completes the data set: no warning, exit 0" $?
[ -n "$fails" ] && echo "    wrong:$fails"
"$FC" extract set $X --layer fmap --cache full --batch 4 --max-cache-size 256K --quiet 2>/dev/null
"$FC" export set $X --cache full -o o6 >/dev/null 2>"$T/err"
[ $? -eq 3 ] && grep -q "its last extract (run #1) failed: .*full" "$T/err"
check "an extract that failed (cache full): export says so (exit 3)" $?
exit 0
