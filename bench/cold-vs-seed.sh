#!/usr/bin/env bash
# The issue's measure of the cold reference build: `recipe build dqlitepy
# --target armv7hf` in an empty build tree with every target package forced
# (host tools restored from the local store; toolchain, Go and sources
# warm; Go's build cache is per package, so cold too), against the plain
# serial vendor script it replaces (libuv → lz4 → sqlite → dqlite → a cgo
# c-shared library → a wheel, `make -j$(nproc)` inside each package).
# Prints both wall times, CPU seconds, wall ÷ (CPU ÷ cores) and the ratio
# (goals: ≤ 1.10 and ≤ 0.60).
#
# Usage: bench/cold-vs-seed.sh SEED_SCRIPT SEED_DIR
#   SEED_SCRIPT: the baseline script (its own README says what it needs: a
#   host cross gcc, autotools, tclsh); run `SEED_SCRIPT fetch SEED_DIR` once
#   before, it downloads what its build step uses.
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${1:?usage: bench/cold-vs-seed.sh SEED_SCRIPT SEED_DIR}
seed_dir=${2:?usage: bench/cold-vs-seed.sh SEED_SCRIPT SEED_DIR}
seed=$(realpath "$seed")
cargo build --release -q
bin=$PWD/target/release/recipe
target=armv7hf
jobs=$(nproc)
cache=${RECIPE_CACHE:-$HOME/.cache/recipe}
work=$(mktemp -d /tmp/recipe-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Warm: toolchain, Go, sources, host tools.
"$bin" build dqlitepy --target "$target" >/dev/null 2>&1
export GOROOT
GOROOT=$(find "$cache/go" -maxdepth 4 -type d -path '*/usr/lib/go-1.*' | head -1)

recipe_cold() {
    local force=()
    for p in lz4 libuv sqlite dqlite go-dqlite dqlitepy-shim dqlitepy; do force+=(--force "$p"); done
    "$bin" build dqlitepy --target "$target" -j "$jobs" --build-dir "$work/tree" --out-dir "$work/out" "${force[@]}"
}
seed_build() { bash "$seed" build "$seed_dir"; }
export -f recipe_cold seed_build
export bin target jobs seed seed_dir work
echo "cold reference build for $target on $jobs cores"
python3 bench/measure.py recipe "$jobs" "$work" bash -c recipe_cold
python3 bench/measure.py seed "$jobs" "$work" bash -c seed_build
awk '{ w[$1] = $2 } END { printf "recipe / seed script wall time: %.2f (goal ≤ 0.60)\n", w["recipe"] / w["seed"] }' "$work/walls"
