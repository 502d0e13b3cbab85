#!/usr/bin/env bash
# The Slurm campaign end to end on a real one-node Slurm cluster (Debian's
# slurmctld, slurmd and munge, started here as root in a few seconds):
# scripts/batch/slurm-campaign.sbatch is submitted as the README says (one
# job per node with --nodelist, run args with a comma through the
# environment) and pushes to a PostgreSQL server of its own (Debian's
# binaries, a private data directory and port), which is then stopped
# mid-campaign: the next job must end with exit 75 and its run file in the
# shared directory; with the server started again, the fallback files are
# pushed twice and land exactly once.
#
# Usage: scripts/check-slurm.sh [WORKDIR]   (as root; the server runs as the
# postgres user, which apt-get install postgresql creates)
# Traps met (see issue 19): slurmctld exits unless its state and log
# directories belong to SlurmUser; sinfo hangs while the controller is
# down (every call here has a timeout); slurmd ignores TERM while it cannot
# reach the controller (stopped with KILL); without slurmdbd sacct is empty,
# so job states come from the job completion file (jobcomp/filetxt).
set -euo pipefail
cd "$(dirname "$0")/.."
work="${1:-$(mktemp -d)}"
mkdir -p "$work"
work=$(cd "$work" && pwd)
# The postgres user must reach its data directory.
chmod 755 "$work"
repo=$(pwd)
pgbin=/usr/lib/postgresql/$(ls /usr/lib/postgresql 2> /dev/null | sort -n | tail -n 1)/bin
[ -x "$pgbin/pg_ctl" ] || { echo "check-slurm: no PostgreSQL server binaries (apt-get install postgresql)" >&2; exit 1; }
for c in slurmctld slurmd sbatch munged; do
    command -v "$c" > /dev/null || { echo "check-slurm: $c missing (apt-get install slurmctld slurmd slurm-client munge)" >&2; exit 1; }
done
cargo build --quiet --release --bin hetbench
binary="$repo/target/release/hetbench"

# The campaign's own PostgreSQL: trust on loopback, a port of its own.
pgdata="$work/pg"
pgport=${HETBENCH_SLURM_PG_PORT:-55432}
mkdir -p "$pgdata"
chown postgres "$pgdata"
su postgres -c "$pgbin/initdb -D '$pgdata' -A trust -U hetbench" > "$work/initdb.log"
pgctl() { # start|stop
    su postgres -c "$pgbin/pg_ctl -D '$pgdata' -l '$pgdata/server.log' -w -t 30 \
        -o '-p $pgport -k $pgdata -c listen_addresses=127.0.0.1' $1" > /dev/null
}
pgctl start
pg="postgres://hetbench@127.0.0.1:$pgport/postgres"

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
    pgctl stop 2> /dev/null || true
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
before=0
code=$(submit "$pg")
[ "$code" = 0 ] || fail "the campaign job ended with exit $code"
grep -q -- "-k stream_triad,gemm" "$work"/hetbench-*.out || fail "the comma list did not arrive whole"
grep -q "== hetbench campaign: job" "$work"/hetbench-*.out || fail "no log header"
after=$(count "SELECT COUNT(*) FROM results")
[ $((after - before)) -eq 2 ] || fail "$((after - before)) results pushed, not 2"

# The database server stopped mid-campaign, before the next job: its
# push fails (exit 75) and the run file stays in the shared directory.
pgctl stop
code=$(submit "$pg")
[ "$code" = 75 ] || fail "a job whose push failed ended with exit $code, not 75"
grep -q "Connection refused" "$work"/hetbench-*.out || fail "the failed push did not say why"
files=$(find "$shared/runs" -name '*.json' | wc -l)
[ "$files" -eq 2 ] || fail "$files run files in $shared/runs, not 2"
# The server back: the fallback files pushed twice, the missing run lands once.
pgctl start
"$binary" push --to "$pg" "$shared"/runs/*.json
"$binary" push --to "$pg" "$shared"/runs/*.json
final=$(count "SELECT COUNT(*) FROM results")
[ $((final - before)) -eq 4 ] || fail "$((final - before)) results after pushing the fallback files twice, not 4"
runs=$(count "SELECT COUNT(*) FROM runs WHERE status = 'finished'")
[ "$runs" -eq 2 ] || fail "$runs finished runs in the database, not 2"
echo "check-slurm: 2 Slurm jobs on $node: pushed (exit 0), database stopped (exit 75, run kept), restarted and fallback pushed once: $((final - before)) results"
