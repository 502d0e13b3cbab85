#!/usr/bin/env bash
# The Slurm campaign end to end on a real one-node Slurm cluster (Debian's
# slurmctld, slurmd and munge, started here as root in a few seconds):
# scripts/batch/slurm-campaign.sbatch is submitted as the README says (one
# job per node with --nodelist, run args with a comma through the
# environment), pushes to PostgreSQL, and then a second job runs while the
# database is unreachable: it must end with exit 75 and its run file in the
# shared directory, which is then pushed exactly once.
#
# Usage: scripts/check-slurm.sh ADMIN_PG_URL [WORKDIR]   (a role that may create
# a database: the campaign pushes into a new one, hetbench_slurm_PID)
# Traps met (see issue 19): slurmctld exits unless its state and log
# directories belong to SlurmUser; sinfo hangs while the controller is
# down (every call here has a timeout); slurmd ignores TERM while it cannot
# reach the controller (stopped with KILL); without slurmdbd sacct is empty,
# so job states come from the job completion file (jobcomp/filetxt).
set -euo pipefail
cd "$(dirname "$0")/.."
admin=${1:?usage: $0 ADMIN_PG_URL [WORKDIR]}
db="hetbench_slurm_$$"
psql "$admin" -qc "CREATE DATABASE $db" || { echo "check-slurm: could not create database $db" >&2; exit 1; }
pg="${admin%/*}/$db"
work="${2:-$(mktemp -d)}"
mkdir -p "$work"
work=$(cd "$work" && pwd)
repo=$(pwd)
for c in slurmctld slurmd sbatch munged; do
    command -v "$c" > /dev/null || { echo "check-slurm: $c missing (apt-get install slurmctld slurmd slurm-client munge)" >&2; exit 1; }
done
cargo build --quiet --release --bin hetbench
binary="$repo/target/release/hetbench"

node=$(hostname -s)
cpus=$(nproc)
mem=$(awk '/MemTotal/ {print int($2 / 1024) - 512}' /proc/meminfo)
state="$work/slurm"
mkdir -p "$state/ctld" "$state/d" "$state/log" /run/munge /var/log/munge /var/lib/munge /etc/munge
conf=/etc/slurm/slurm.conf
mkdir -p /etc/slurm
cat > "$conf" <<EOF
ClusterName=hetbench-ci
SlurmctldHost=$node
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$state/ctld
SlurmdSpoolDir=$state/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/log/slurmctld.log
SlurmdLogFile=$state/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
JobCompType=jobcomp/filetxt
JobCompLoc=$state/jobcomp.txt
ReturnToService=2
MpiDefault=none
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$node CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=ci Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
# munge: a key of its own, run as root (the package's user is for systemd).
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key 2> /dev/null
chmod 400 /etc/munge/munge.key
chown root:root /etc/munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge
pkill -x munged 2> /dev/null || true
munged --force --key-file=/etc/munge/munge.key --socket=/run/munge/munge.socket.2 \
    --pid-file=/run/munge/munged.pid --log-file=/var/log/munge/munged.log
pkill -x slurmctld 2> /dev/null || true
pkill -9 -x slurmd 2> /dev/null || true
slurmctld -f "$conf"
slurmd -f "$conf"
cleanup() {
    pkill -x slurmctld 2> /dev/null || true
    pkill -9 -x slurmd 2> /dev/null || true
    pkill -x munged 2> /dev/null || true
    psql "$admin" -qc "DROP DATABASE IF EXISTS $db" 2> /dev/null || true
}
trap cleanup EXIT
fail() {
    echo "check-slurm: $1" >&2
    for f in "$state"/log/*.log "$state/jobcomp.txt" "$work"/hetbench-*.out; do
        [ -f "$f" ] && { echo "--- $f" >&2; tail -20 "$f" >&2; }
    done
    exit 1
}
for _ in $(seq 100); do
    if timeout 5 sinfo -h -N -o '%N %t' 2> /dev/null | grep -Eq "^$node (idle|mix|alloc)"; then break; fi
    sleep 0.2
done
timeout 5 sinfo -h -N -o '%N %t' | grep -Eq "^$node idle" || fail "the node did not come up idle"

# One job, as scripts/batch/README.md submits it; its exit from jobcomp.
shared="$work/shared"
export HETBENCH="$binary" HETBENCH_SHARED="$shared" HETBENCH_RUN_ARGS="--quick -b cpu -k stream_triad,gemm"
submit() { # DB -> the job's exit code
    local id
    id=$(cd "$work" && HETBENCH_SITE_DB="$1" timeout 10 sbatch --parsable --nodelist="$node" \
        --partition=ci --export=ALL --time=10 "$repo/scripts/batch/slurm-campaign.sbatch")
    for _ in $(seq 600); do
        if grep -q "JobId=$id " "$state/jobcomp.txt" 2> /dev/null; then
            # ExitCode=EXIT:SIGNAL (DerivedExitCode is another field).
            grep "JobId=$id " "$state/jobcomp.txt" | sed -n 's/.* ExitCode=\([0-9]*\):.*/\1/p'
            return
        fi
        sleep 0.2
    done
    fail "job $id did not end within 120 s"
}
count() { psql "$pg" -tAc "$1"; }
before=$(count "SELECT COUNT(*) FROM results" 2> /dev/null || echo 0)
code=$(submit "$pg")
[ "$code" = 0 ] || fail "the campaign job ended with exit $code"
grep -q -- "-k stream_triad,gemm" "$work"/hetbench-*.out || fail "the comma list did not arrive whole"
grep -q "== hetbench campaign: job" "$work"/hetbench-*.out || fail "no log header"
after=$(count "SELECT COUNT(*) FROM results")
[ $((after - before)) -eq 2 ] || fail "$((after - before)) results pushed, not 2"

# The database unreachable (a port nothing listens on): exit 75, run file kept.
code=$(submit "postgres://nobody@127.0.0.1:9/hetbench")
[ "$code" = 75 ] || fail "a job whose push failed ended with exit $code, not 75"
files=$(find "$shared/runs" -name '*.json' | wc -l)
[ "$files" -eq 2 ] || fail "$files run files in $shared/runs, not 2"
# The fallback files pushed afterwards: exactly the missing run lands, once.
"$binary" push --to "$pg" "$shared"/runs/*.json
"$binary" push --to "$pg" "$shared"/runs/*.json
final=$(count "SELECT COUNT(*) FROM results")
[ $((final - before)) -eq 4 ] || fail "$((final - before)) results after pushing the fallback files twice, not 4"
echo "check-slurm: 2 Slurm jobs on $node: pushed (exit 0), database down (exit 75, run kept), fallback pushed once: $((final - before)) results"
