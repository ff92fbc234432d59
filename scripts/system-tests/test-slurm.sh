#!/usr/bin/env bash
# End-to-end test of `w2s sweep --executor slurm` against a real single-node Slurm
# (Debian's slurm-wlm and munge), started here in a temporary folder and stopped at the end.
# Needs root (munge key, daemons). Usage: scripts/system-tests/test-slurm.sh PATH/TO/w2s
set -euo pipefail
W2S="$(realpath "$1")"
if ! command -v slurmctld >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge >/dev/null
fi
T="$(mktemp -d /tmp/w2s-slurm.XXXXXX)"
HOST="$(hostname -s)"
mkdir -p "$T/state" "$T/spool" "$T/log"
cat > "$T/slurm.conf" <<CONF
ClusterName=w2stest
SlurmctldHost=$HOST
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/log/slurmctld.log
SlurmdLogFile=$T/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
NodeName=$HOST CPUs=$(nproc) State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF="$T/slurm.conf"
mkdir -p /etc/munge /run/munge /var/log/munge /var/lib/munge
if [ ! -s /etc/munge/munge.key ]; then
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
fi
chown -R munge: /etc/munge /run/munge /var/log/munge /var/lib/munge 2>/dev/null || true
chmod 400 /etc/munge/munge.key
pgrep -x munged >/dev/null || su -s /bin/sh munge -c "munged --force" || munged --force
stop() {
    for f in "$T/slurmd.pid" "$T/slurmctld.pid"; do
        [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
    done
}
trap stop EXIT
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 60); do
    sinfo -h -o %T 2>/dev/null | grep -q idle && break
    sleep 1
done
sinfo

cat > "$T/sweep.toml" <<TOML
results = "$T/results"
datasets = ["demo"]
models = ["bow"]
losses = ["xent", "logconf"]
seeds = [0, 1]
n_docs = 400
n_test_docs = 200
bootstrap = [["bow", "bow", "bow"]]
TOML
"$W2S" sweep "$T/sweep.toml" --executor slurm --sbatch=--cpus-per-task=1
for _ in $(seq 300); do
    [ -z "$(squeue -h 2>/dev/null)" ] && break
    sleep 1
done
plan="$("$W2S" sweep "$T/sweep.toml" --dry-run)"
left="${plan%%$'\n'*}"
echo "$left"
if echo "$left" | grep -q "10 complete (reused), 0 to run"; then
    echo "slurm: 1 passed, 0 failed"
else
    echo "--- slurmctld log"; tail -20 "$T/log/slurmctld.log" || true
    echo "--- job logs"; tail -5 "$T"/results/.sweep/slurm/logs/* 2>/dev/null || true
    echo "slurm: 0 passed, 1 failed"
    exit 1
fi
