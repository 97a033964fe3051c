#!/bin/sh
# scripts/slurm/ on a real single-node Slurm that this test starts and stops: munged with its own key
# and socket, slurmctld and slurmd from a slurm.conf made for this machine (127.0.0.1, free ports,
# state, spool, logs and pid files in the test's folder, no cgroups: proctrack/linuxproc, task/none,
# jobacct_gather/none, SlurmUser and SlurmdUser root). ants/bees (MobileNetV2, 96 px) in N=4 shards
# through scripts/slurm/submit.sh: task 1 with a cache limit that makes it fail part way (its merge
# never starts and is cancelled); tasks 0, 2 and 3, whose merge refuses the partial shard 1; task 1
# submitted again alone, which computes only what it lacked, and its merge: the 4 tasks computed
# what one process computes, and the merged cache exports bitwise what one `featcache extract`
# process exports. Every daemon started here is stopped at exit, also on failure. Where Slurm or
# munge is missing or does not start, the test says why: a FAIL when CI=true, else a SKIP.
NAME=slurm; . "$(dirname "$0")/../support/common.sh"
need_shared data/hymenoptera "ants/bees"
M="$SHARED/models/mobilenet_v2_1.0_224.onnx"
H="$(cd "$SHARED/data/hymenoptera" && pwd)" DS=hymenoptera ONE_RC=0 # ants/bees has no bad file
if [ -n "$FEATCACHE_SANITIZE" ]; then # make sanitize: the same jobs and checks on fewer images
    ab_subset "$T/ab" 20 10 && printf 'GIF89a\001\000\001\000' >"$T/ab/train/ants/imageNotFound.gif" && H="$T/ab" DS=ab ONE_RC=3
    echo "  FEATCACHE_SANITIZE set: 120 images and a cut GIF (a bad file) instead of ants/bees' 398 (sanitizer builds are slow)"
fi
WAIT=240 # seconds at most for the jobs of one submission
REPO=$(pwd)

cannot() { # cannot REASON: Slurm cannot run here
    if [ "$CI" = true ]; then bad "Slurm cannot run: $1 (CI has it: scripts/install_deps.sh installs slurm-wlm and munge)"
    else echo "SKIP $NAME: Slurm cannot run: $1 (apt-get install slurm-wlm munge)"; fi
    exit 0
}
for b in munged mungekey slurmctld slurmd sbatch squeue scontrol sinfo; do
    command -v $b >/dev/null 2>&1 || PATH="$PATH:/usr/sbin:/sbin"
    command -v $b >/dev/null 2>&1 || cannot "$b is not installed"
done

S="$T/slurm"
mkdir -p "$S/state" "$S/spool" "$S/log"
chmod 755 "$T" "$S" # munged wants every folder above its socket searchable by all
# started NAME: the pid NAME wrote (waits up to 5 s for its pid file), kept in $S/NAME.started
started() {
    i=0
    while [ ! -s "$S/$1.pid" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
    cat "$S/$1.pid" >"$S/$1.started" 2>/dev/null
}
stop_all() { # every daemon this test started, whatever happened (a daemon removes its own pid file)
    [ -s "$S/slurmctld.started" ] && scancel --quiet --user=root 2>/dev/null
    pids=$(cat "$S/slurmd.started" "$S/slurmctld.started" "$S/munged.started" 2>/dev/null)
    [ -n "$pids" ] || return 0
    kill $pids 2>/dev/null
    i=0
    while [ $i -lt 50 ] && kill -0 $pids 2>/dev/null; do sleep 0.2; i=$((i + 1)); done
    kill -9 $pids 2>/dev/null
    return 0
}
cleanup() { stop_all; [ -n "$KEEP" ] || rm -rf "$T"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# a free TCP port from $1 on: none listening on it (/proc/net/tcp, state 0A)
free_port() {
    p=$1
    while grep -qi ":$(printf '%04X' $p) [0-9A-F:]* 0A" /proc/net/tcp /proc/net/tcp6 2>/dev/null; do p=$((p + 1)); done
    echo $p
}
base=$((20000 + $$ % 20000))
CTLD_PORT=$(free_port $base)
SLURMD_PORT=$(free_port $((CTLD_PORT + 1)))
NODE=$(hostname -s 2>/dev/null || hostname)
CPUS=$(nproc)

mungekey --create --keyfile="$S/munge.key" >"$S/log/mungekey.log" 2>&1 || cannot "mungekey failed: $(cat "$S/log/mungekey.log")"
# --force: a test folder under a TMPDIR whose parents munged finds too open is no reason to stop
munged --force --key-file="$S/munge.key" --socket="$S/munge.sock" --pid-file="$S/munged.pid" --log-file="$S/log/munged.log" \
    --seed-file="$S/munged.seed" >"$S/log/munged.out" 2>&1 || cannot "munged did not start: $(cat "$S/log/munged.out")"
started munged

cat >"$S/slurm.conf" <<EOF
ClusterName=fctest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$S/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd.pid
SlurmctldLogFile=$S/log/slurmctld.log
SlurmdLogFile=$S/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/builtin
MpiDefault=none
ReturnToService=2
KillWait=5
SlurmdParameters=config_overrides
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=fc Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF="$S/slurm.conf"
slurmctld -f "$SLURM_CONF" >"$S/log/slurmctld.out" 2>&1 || cannot "slurmctld did not start: $(tail -3 "$S/log/slurmctld.out" "$S/log/slurmctld.log" 2>/dev/null)"
started slurmctld
slurmd -f "$SLURM_CONF" -N "$NODE" >"$S/log/slurmd.out" 2>&1 || cannot "slurmd did not start: $(tail -3 "$S/log/slurmd.out" "$S/log/slurmd.log" 2>/dev/null)"
started slurmd
i=0
until [ "$(sinfo -h -o %t 2>/dev/null)" = idle ]; do
    i=$((i + 1))
    [ $i -gt 100 ] && cannot "the node did not become idle in 20 s: $(sinfo -h 2>&1 | head -2; tail -3 "$S/log/slurmctld.log")"
    sleep 0.2
done
ok "slurmctld, slurmd and munged started on $NODE (ports $CTLD_PORT, $SLURMD_PORT)"

# wait_jobs [JOB]: until the queue holds no job (no task of JOB), at most $WAIT s; 0 when it emptied
wait_jobs() {
    w=0
    while [ -n "$(squeue -h ${1:+--jobs=$1} 2>/dev/null)" ]; do
        w=$((w + 1)); [ $w -gt $((WAIT * 2)) ] && return 1
        sleep 0.5
    done
}
# job_ok ID...: each job (every task of an array) COMPLETED with exit code 0
job_ok() {
    for j in "$@"; do
        scontrol show job -o "$j" >"$T/job" 2>&1 || return 1
        grep -v "JobState=COMPLETED" "$T/job" | grep -q . && return 1
        grep -v "ExitCode=0:0" "$T/job" | grep -q . && return 1
    done
    return 0
}
OPTS="--size 96"
t0=$(date +%s)
"$FC" extract "$H" --model "$M" $OPTS --cache "$T/one" --json >"$T/one.json" 2>"$T/err"
[ $? -eq $ONE_RC ] || bad "one-process extract"
"$FC" export $DS --model "$M" $OPTS --cache "$T/one" -o "$T/x_one" 2>>"$T/err"
t1=$(date +%s)

OUT="$T/out"
export FEATCACHE="$FC" FEATCACHE_OUT="$OUT" FEATCACHE_LOCAL="$T/local"
# task 1 alone, failing part way: a store limit with room for about half of a shard's values (each
# 1280 f32 = 2 pages of 4 KiB, + 40 KiB for LMDB's own pages) stops it after a few batches (exit 1)
n1=$(json_field computed "$T/one.json")
limit=$((n1 / 8 * 8 + 40))K
ids=$(FEATCACHE_EXTRACT_ARGS="$OPTS --batch 4 --max-cache-size $limit" sh "$REPO/scripts/slurm/submit.sh" "$H" "$M" 4 1 2>"$T/err")
set -- $ids
wait_jobs "$2"
scancel "$4" 2>/dev/null # its merge waits for a task that failed: cancelled, as README says
wait_jobs
scontrol show job -o "$2" >"$T/job" 2>&1
log="$OUT/logs/extract_$2_1.log"
first=$(sed -n 's/.*: \([0-9]*\) computed and committed.*/\1/p' "$log")
check "a task that fails part way: exit 1 and ${first:-no} items saved in its shard" \
    $(grep -q "ExitCode=1:0" "$T/job" && grep -q "cache full" "$log" && [ "${first:-0}" -gt 0 ] && [ -d "$OUT/shards/1" ]; echo $?)

# the other three tasks: they complete; their merge refuses shard 1, which lists only part of the data set
export FEATCACHE_EXTRACT_ARGS="$OPTS"
ids=$(sh "$REPO/scripts/slurm/submit.sh" "$H" "$M" 4 0,2,3 2>"$T/err")
check "submit.sh DATASET MODEL 4 0,2,3: the array and its merge submitted ($ids)" \
    $(echo "$ids" | grep -q "^extract [0-9]* merge [0-9]*$"; echo $?)
set -- $ids
others=$2
wait_jobs
check "tasks 0, 2 and 3 and the merge ended within $WAIT s ($(($(date +%s) - t1)) s)" $?
check "tasks 0, 2 and 3 completed with exit code 0" $(job_ok "$others"; echo $?)
check "their merge is refused: shard 1 lists only part of the data set, nothing written" \
    $(! job_ok "$4" && grep -q "is not the same in" "$OUT/logs/merge_$4.log" && [ ! -e "$OUT/cache" ]; echo $?)

# the failed task submitted again alone: it computes only what it lacks, and its merge completes
ids=$(sh "$REPO/scripts/slurm/submit.sh" "$H" "$M" 4 1 2>"$T/err")
set -- $ids
wait_jobs
check "task 1 submitted again alone, then the merge: exit code 0" $(job_ok "$2" "$4"; echo $?)
for f in "$OUT"/logs/*.log; do [ -f "$f" ] && grep -h "items:\|merged\|catalog:\|values in" "$f" | sed "s|^|  $(basename "$f"): |"; done
again=$(sed -n 's/.* items: \([0-9]*\) computed, \([0-9]*\) cached.*/\1 \2/p' "$OUT/logs/extract_$2_1.log")
check "task 1 computed only what it lacked: ${again%% *} computed, the ${first:-no} it had saved cached" \
    $([ "${again#* }" = "${first:-x}" ]; echo $?)
check "the tasks computed $n1 items between them, as one process" \
    $(cat "$OUT"/logs/extract_"$others"_*.log "$OUT/logs/extract_$2_1.log" | sed -n 's/.* items: \([0-9]*\) computed.*/\1/p' |
        awk -v n="$n1" -v f="${first:-0}" '{ s += $1 } END { exit !(NR == 4 && s + f == n) }'; echo $?)
"$FC" export $DS --model "$M" $OPTS --cache "$OUT/cache" -o "$T/x_m" 2>"$T/err"
same=0
for f in features.npy labels.txt paths.txt splits.txt; do cmp -s "$T/x_one/$f" "$T/x_m/$f" || same=1; done
check "the merged cache of 4 shards exports bitwise what one process exports ($(wc -l <"$T/x_one/paths.txt") items)" $same
echo "  one-process extract + export $((t1 - t0)) s; Slurm part $(($(date +%s) - t1)) s"
