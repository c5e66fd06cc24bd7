#!/usr/bin/env bash
# Runs the coverage-guided fuzzing campaign: seeds every target's corpus from
# the repository (recipes, target files, the hostile archive suite), then runs
# each target for SECONDS_PER_TARGET seconds on one core and keeps the logs.
# Needs cargo-fuzz (`cargo install cargo-fuzz`); runs on stable with
# `-s none` (no sanitizer: the code under test is safe Rust).
#   fuzz/campaign.sh [SECONDS_PER_TARGET] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-780}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(recipe_text target_text source_archive deb remote_entry)
corpus=$PWD/fuzz/corpus
logs=${FUZZ_LOGS:-$PWD/fuzz/logs}
mkdir -p "$corpus/recipe_text" "$corpus/target_text" "$logs"
find recipes -name recipe.kdl | while read -r f; do
    cp "$f" "$corpus/recipe_text/seed-$(echo "$f" | tr / _)"
done
find toolchains -name '*.kdl' | while read -r f; do
    cp "$f" "$corpus/target_text/seed-$(echo "$f" | tr / _)"
done
RECIPE_FUZZ_CORPUS=$corpus cargo test -q --test it -- --ignored unpack_hostile::write_fuzz_seed_corpora
cargo fuzz build -s none -O
for t in "${targets[@]}"; do
    echo "== $t: ${seconds}s"
    start=$(date +%s)
    # The built binary itself, so the CPU time measured is fuzzing only
    # (`cargo fuzz run` would rebuild first when the code changed).
    mkdir -p "fuzz/artifacts/$t"
    /usr/bin/time -f 'cpu seconds: %U user, %S system' -o "$logs/$t.time" \
        "fuzz/target/x86_64-unknown-linux-gnu/release/$t" "$corpus/$t" \
        -artifact_prefix="fuzz/artifacts/$t/" \
        -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 >"$logs/$t.log" 2>&1 || echo "$t: stopped with a finding, see $logs/$t.log"
    echo "wall seconds: $(( $(date +%s) - start ))" >>"$logs/$t.log"
    cat "$logs/$t.time" >>"$logs/$t.log"
    grep -E '^stat::|DONE|seconds' "$logs/$t.log" | tail -10
done
