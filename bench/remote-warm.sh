#!/usr/bin/env bash
# Nightly batch with a shared remote cache: a cold batch (empty build tree,
# uploads every output) against a second batch in another empty build tree
# that gets everything from the remote cache. Goal: warm ≤ 5 % of cold.
# The remote is a minimal bazel-remote-compatible server (GET/HEAD/PUT on
# /cas/ and /ac/) on loopback, written in Python's standard library.
# Usage: bench/remote-warm.sh [targets]
set -euo pipefail
cd "$(dirname "$0")/.."
targets="${1:-armv7hf,aarch64,x86_64}"
cargo build --release -q
bin=$PWD/target/release/recipe
work=$(mktemp -d /tmp/recipe-remote.XXXXXX)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT

mkdir -p "$work/store"
python3 - "$work/store" <<'PY' &
import http.server, os, sys, re
store = sys.argv[1]
ok = re.compile(r"^/(ac|cas)/[0-9a-f]{64}$")
class H(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def path_for(self):
        return os.path.join(store, self.path[1:].replace("/", "_")) if ok.match(self.path) else None
    def do_GET(self, head=False):
        p = self.path_for()
        if not p or not os.path.exists(p):
            self.send_response(404); self.send_header("Content-Length", "0"); self.end_headers(); return
        data = open(p, "rb").read()
        self.send_response(200); self.send_header("Content-Length", str(len(data))); self.end_headers()
        if not head: self.wfile.write(data)
    def do_HEAD(self): self.do_GET(head=True)
    def do_PUT(self):
        p = self.path_for()
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if p: open(p + ".tmp", "wb").write(data); os.replace(p + ".tmp", p)
        self.send_response(200 if p else 400); self.send_header("Content-Length", "0"); self.end_headers()
http.server.ThreadingHTTPServer(("127.0.0.1", 18089), H).serve_forever()
PY
server=$!
sleep 1
url=http://127.0.0.1:18089

run() { # tree
    local t0 t1
    t0=$(date +%s%N)
    # --no-local-store: the machine's local store would serve both runs
    # (after one run of this script, even the cold one); only the remote may.
    "$bin" build --all --target "$targets" --keep-going --remote-cache "$url" --no-local-store \
        --build-dir "$work/$1/build" --out-dir "$work/$1/out" --report "$work/$1/report" >"$work/$1.log" 2>&1 || true
    t1=$(date +%s%N)
    echo $(( (t1 - t0) / 1000000 ))
}
# Sources and toolchains are warm for both runs (they are not package outputs).
"$bin" fetch --all >/dev/null 2>&1 || true
cold=$(run cold)
warm=$(run warm)
built=$(grep -c '"status": "built"' "$work/warm/report/report.json" || true)
from_remote=$(grep -c '"status": "cached"' "$work/warm/report/report.json" || true)
echo "batch over every recipe for $targets"
echo "cold (empty remote):           $(awk -v t="$cold" 'BEGIN { printf "%.1f s", t / 1000 }')"
echo "warm (remote hits, cold tree): $(awk -v t="$warm" 'BEGIN { printf "%.1f s", t / 1000 }'), packages rebuilt: $built, from the remote: $from_remote"
awk -v c="$cold" -v w="$warm" 'BEGIN { printf "warm / cold: %.1f %% (goal ≤ 5 %%)\n", 100 * w / c }'
