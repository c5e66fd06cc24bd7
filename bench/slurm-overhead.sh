#!/usr/bin/env bash
# What a batch on Slurm costs beyond the builds themselves (issue 15):
#  1. Slurm's own overhead per job on a private one-node cluster (munged,
#     slurmctld, slurmd on loopback, configured as tests/it/slurm_batch.rs
#     does): K empty jobs chained with afterok (dependency released → next
#     job started) and K independent ones (sbatch → started), in ms.
#  2. `recipe batch submit --slurm` of K tiny script recipes chained by
#     `depends`, with nginx as the remote cache: wall time per job against
#     the jobs' own build time (recipe start-up, dependency restores,
#     upload and record included).
#  3. Restore cost of real outputs from nginx: the dqlitepy graph for
#     armv7hf in an empty build tree, every package from the HTTP cache
#     (no local store), per package (bytes, ms) as the report gives them.
#     Part 3 needs the graph once (RECIPE_CACHE's local store or a build).
# Needs root and Debian's slurmctld slurmd slurm-client munge nginx.
# Usage: bench/slurm-overhead.sh [K [SCHEDULER_PARAMETERS]]   (K: 20)
# e.g. `bench/slurm-overhead.sh 20 batch_sched_delay=0`: Slurm then
# schedules a submitted or released job at its next 1 s tick instead of
# batching submissions for up to 3 s (the default).
set -euo pipefail
cd "$(dirname "$0")/.."
K="${1:-20}"
sched_params="${2:-}"
[ "$(id -u)" = 0 ] || { echo "needs root (slurmd starts jobs as their user)"; exit 1; }
for b in /usr/sbin/munged /usr/sbin/slurmctld /usr/sbin/slurmd /usr/bin/sbatch /usr/sbin/nginx; do
    [ -x "$b" ] || { echo "missing $b (apt-get install slurmctld slurmd slurm-client munge nginx)"; exit 1; }
done
cargo build --release -q
bin=$PWD/target/release/recipe
work=$(mktemp -d /tmp/recipe-slurm-bench.XXXXXX)
chmod 755 "$work"
cleanup() {
    for p in "$work"/slurmd.pid "$work"/slurmctld.pid "$work"/munge/munged.pid "$work"/nginx/nginx.pid; do
        [ -s "$p" ] && kill "$(cat "$p")" 2>/dev/null || true
    done
    sleep 1
    rm -rf "$work"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
# median, p90, max of the numbers on stdin
stats() { sort -n | awk '{ v[NR] = $1 } END { if (NR == 0) { print "n/a"; exit }
    printf "median %d ms, p90 %d ms, max %d ms (%d jobs)", v[int((NR + 1) / 2)], v[int(NR * 0.9 + 0.5)], v[NR], NR }'; }

# --- the cluster -----------------------------------------------------------
mkdir -p "$work"/{state,spool,log,munge,t}
head -c 1024 /dev/urandom > "$work/munge/munge.key"
chmod 600 "$work/munge/munge.key"
/usr/sbin/munged --force --key-file="$work/munge/munge.key" --socket="$work/munge/munge.sock" \
    --pid-file="$work/munge/munged.pid" --log-file="$work/munge/munged.log" --seed-file="$work/munge/seed"
cat > "$work/slurm.conf" <<EOF
ClusterName=recipebench
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$(port)
SlurmdPort=$(port)
AuthType=auth/munge
AuthInfo=socket=$work/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/builtin
${sched_params:+SchedulerParameters=$sched_params}
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
MpiDefault=none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
NodeName=localhost NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$work/slurm.conf
/usr/sbin/slurmctld -f "$SLURM_CONF"
sleep 0.5
/usr/sbin/slurmd -f "$SLURM_CONF" -N localhost
for _ in $(seq 1 120); do
    [ "$(sinfo -h -o %T 2>/dev/null)" = idle ] && break
    sleep 0.5
done
[ "$(sinfo -h -o %T)" = idle ] || { echo "the node did not come up"; tail "$work/log/slurmctld.log"; exit 1; }
wait_idle() { while [ -n "$(squeue -h 2>/dev/null)" ]; do sleep 0.2; done; }

# --- nginx as the cache ----------------------------------------------------
ng=$work/nginx
mkdir -p "$ng"/{data/ac,data/cas,tmp,logs}
chmod -R 777 "$ng"
nport=$(port)
loc='dav_methods PUT; create_full_put_path on; dav_access user:rw group:rw all:r;'
cat > "$ng/nginx.conf" <<EOF
pid $ng/nginx.pid;
error_log $ng/logs/error.log;
events { worker_connections 256; }
http {
    access_log off;
    client_max_body_size 0;
    client_body_temp_path $ng/tmp/body;
    proxy_temp_path $ng/tmp/proxy;
    fastcgi_temp_path $ng/tmp/fastcgi;
    uwsgi_temp_path $ng/tmp/uwsgi;
    scgi_temp_path $ng/tmp/scgi;
    server {
        listen 127.0.0.1:$nport;
        root $ng/data;
        location /ac/ { $loc }
        location /cas/ { $loc }
    }
}
EOF
/usr/sbin/nginx -p "$ng" -c "$ng/nginx.conf" -e "$ng/logs/error.log"
url=http://127.0.0.1:$nport
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"

# --- 1. Slurm alone --------------------------------------------------------
stamp='date +%s%N | cut -c1-13'
prev=""
for i in $(seq 1 "$K"); do
    id=$(sbatch --parsable -o /dev/null ${prev:+--dependency=afterok:$prev} \
        --wrap="$stamp > $work/t/chain.$i.start; $stamp > $work/t/chain.$i.end")
    prev=$id
done
wait_idle
chain=$(for i in $(seq 2 "$K"); do
    echo $(( $(cat "$work/t/chain.$i.start") - $(cat "$work/t/chain.$((i - 1)).end") ))
done | stats)
# One at a time on an idle node: sbatch → start.
for i in $(seq 1 "$K"); do
    now_ms > "$work/t/one.$i.submit"
    sbatch --parsable -o /dev/null --wrap="$stamp > $work/t/one.$i.start" >/dev/null
    while [ ! -s "$work/t/one.$i.start" ]; do sleep 0.05; done
    wait_idle
done
one=$(for i in $(seq 1 "$K"); do
    echo $(( $(cat "$work/t/one.$i.start") - $(cat "$work/t/one.$i.submit") ))
done | stats)
# All at once: throughput of empty jobs on the node's 2 CPUs.
t0=$(now_ms)
for i in $(seq 1 "$K"); do sbatch --parsable -o /dev/null --wrap=true >/dev/null; done
wait_idle
t1=$(now_ms)
echo "1. Slurm alone (one node, 2 CPUs, sched/builtin${sched_params:+, $sched_params}):"
echo "   afterok chain, previous job's end → next job's start: $chain"
echo "   one job at a time on an idle node, sbatch → start:   $one"
echo "   $K empty jobs at once: $((t1 - t0)) ms until all ended, $(( (t1 - t0) / K )) ms per job"

# --- 2. recipe jobs through Slurm ------------------------------------------
p=$work/project
mkdir -p "$p"/toolchains "$p"/sysroots
for i in $(seq -w 1 "$K"); do
    mkdir -p "$p/recipes/c$i"
    dep=""
    [ "$i" -gt 1 ] && dep="depends c$(printf "%0${#K}d" $((10#$i - 1)))"
    cat > "$p/recipes/c$i/recipe.kdl" <<EOF
package c$i {
    version "1.0"
    license "MIT"
}
$dep
build script {
    step "mkdir -p \$DESTDIR/usr/share && seq 1 20000 > \$DESTDIR/usr/share/c$i.txt"
}
EOF
done
t0=$(now_ms)
(cd "$p" && env -i PATH=/usr/bin:/bin:/usr/sbin:/sbin HOME="$p" SLURM_CONF="$SLURM_CONF" \
    RECIPE_CACHE="$p/cache" RECIPE_CONFIG="$p/no-config.kdl" NO_COLOR=1 \
    "$bin" --no-sandbox batch submit --slurm --all --target host --records "$p/records" \
    --remote-cache "$url" >/dev/null 2>"$work/submit.log") || { cat "$work/submit.log"; exit 1; }
t1=$(now_ms)
wait_idle
t2=$(now_ms)
built=$(cat "$p"/records/jobs/*.json | grep -c '"status": "built"' || true)
own=$(cat "$p"/records/jobs/*.json | sed -n 's/.*"duration_ms": \([0-9]*\).*/\1/p' | awk '{ s += $1 } END { print s + 0 }')
echo "2. recipe batch submit --slurm, a chain of $K script recipes, nginx as the cache:"
echo "   submit $((t1 - t0)) ms; submit → last job done $((t2 - t1)) ms; $built/$K built"
echo "   per job: $(( (t2 - t1) / K )) ms wall, of which build $(( own / K )) ms; overhead $(( (t2 - t1 - own) / K )) ms (Slurm + recipe start, restores, upload, record)"

# The same jobs without Slurm, one after another (new keys: fresh builds).
sed -i 's/seq 1 20000/seq 1 20001/' "$p"/recipes/*/recipe.kdl
(cd "$p" && env -i PATH=/usr/bin:/bin HOME="$p" RECIPE_CACHE="$p/cache" RECIPE_CONFIG="$p/no-config.kdl" \
    "$bin" --no-sandbox batch plan --all --target host --records "$p/records-2" --remote-cache "$url" >/dev/null 2>&1)
direct=$(cd "$p" && env -i PATH=/usr/bin:/bin HOME="$p" RECIPE_CACHE="$p/cache" RECIPE_CONFIG="$p/no-config.kdl" \
    python3 - "$p/records-2/plan.json" <<'PY'
import json, subprocess, sys, time
jobs = json.load(open(sys.argv[1]))["jobs"]
t0 = time.monotonic()
for j in jobs:
    subprocess.run(j["command"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(int((time.monotonic() - t0) * 1000 / len(jobs)))
PY
)
echo "   the same jobs run one after another without Slurm: $direct ms each (so Slurm adds $(( (t2 - t1) / K - direct )) ms per chained job)"

# --- 3. restores of real outputs from nginx --------------------------------
report() { # tree → "name bytes ms" per package restored from the remote cache
    python3 - "$1/report/report.json" <<'PY'
import json, re, sys
for p in json.load(open(sys.argv[1]))["packages"]:
    for r in p["reasons"]:
        m = re.search(r"remote hit \((\d+) bytes, (\d+) ms\)", r)
        if m:
            print(f'{p["name"]}@{p["target"]} {m.group(1)} {m.group(2)}')
PY
}
build() { # tree, extra flags…
    local tree=$work/$1; shift
    "$bin" build dqlitepy --target armv7hf --remote-cache "$url" --build-dir "$tree/build" \
        --out-dir "$tree/out" --report "$tree/report" "$@" >"$tree.log" 2>&1
}
mkdir -p "$work/fill" "$work/empty"
build fill || { echo "3. skipped: the dqlitepy graph did not build (see below)"; tail -5 "$work/fill.log"; exit 0; }
t0=$(now_ms)
build empty --no-local-store || { tail -5 "$work/empty.log"; exit 1; }
t1=$(now_ms)
echo "3. restores from nginx into an empty tree (dqlitepy graph, armv7hf + host tools), wall $((t1 - t0)) ms:"
report "$work/empty" | sort -k3 -n | awk '{ printf "   %-28s %10d bytes %6d ms\n", $1, $2, $3; b += $2; t += $3; n++ }
    END { if (n) printf "   %d packages, %.1f MB, %d ms of restores: %d ms per package\n", n, b / 1e6, t, t / n }'
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
