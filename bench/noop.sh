#!/usr/bin/env bash
# No-op rebuild of the dqlitepy graph: everything is up to date, so `recipe`
# only loads, renders, plans, checks keys against stamps and exits.
# Goal: ≤ 30 ms. Usage: bench/noop.sh [target] [runs]
set -euo pipefail
cd "$(dirname "$0")/.."
target="${1:-armv7hf}"
runs="${2:-20}"
cargo build --release -q
bin=target/release/recipe
"$bin" build dqlitepy --target "$target" >/dev/null 2>&1   # make sure it is warm
times=()
for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    "$bin" build dqlitepy --target "$target" >/dev/null 2>&1
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
done
printf '%s\n' "${times[@]}" | sort -n | awk -v runs="$runs" '
    { t[NR] = $1 }
    END { printf "no-op rebuild of dqlitepy (%s runs): min %.1f ms, median %.1f ms, max %.1f ms\n",
          runs, t[1] / 1000, t[int((NR + 1) / 2)] / 1000, t[NR] / 1000 }'
