#!/usr/bin/env bash
# The four extension wheels of the Python part (markupsafe, msgpack,
# pyyaml over libyaml, argon2-cffi-bindings) for armv7hf, two ways, side by
# side in one run:
#  (a) cross: `recipe build` (the build Python of the target's version with
#      the target's cross gcc and sysconfigdata, crossenv style);
#  (b) emulated, the cibuildwheel way: the target's own Debian Python and gcc
#      run under qemu-user, `pip wheel --no-build-isolation --no-deps` on
#      each sdist, one after another.
# (b)'s root (python3-dev, gcc, libc6-dev, pip, setuptools, Cython, cffi,
# setuptools-scm, libyaml-dev: Debian's armhf packages) is provisioned by
# recipe itself, as the root of a helper recipe's `test` step (no root
# needed). Without binfmt_misc a program running under qemu-user cannot
# start another target program (pip → gcc → cc1, as, ld): bench/emu-exec.c,
# cross-compiled by the helper and preloaded into every emulated process,
# runs them through the same qemu, as binfmt_misc does for cibuildwheel.
# qemu's -L covers the loader and open() but not stat(), so the emulated
# compiler is named by its path on this machine with --sysroot set to the
# root. Same sdists (the same pinned files), warm caches on both sides; root
# provisioning, sources and toolchains are not timed. libyaml: (a) builds
# the graph's libyaml before timing, (b) takes Debian's libyaml-dev.
# Usage: bench/pywheels-vs-emulated.sh   (RECIPE_CACHE as for any build)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${RECIPE:-}" ]; then
    cargo build --release -q
fi
bin=${RECIPE:-$PWD/target/release/recipe}
target=armv7hf
pkgs=(markupsafe msgpack pyyaml argon2-cffi-bindings)
work=$(mktemp -d /tmp/recipe-bench.XXXXXX)
# KEEP=1 keeps the work dir (logs, both projects) for a look afterwards.
[ -n "${KEEP:-}" ] || trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

# Warm for (a): sources, toolchain, build Python, libyaml, host tools.
"$bin" build "${pkgs[@]}" --target "$target" >/dev/null 2>&1

# (b)'s project: the real targets, sysroots and lock file, and one helper
# recipe whose sources are the same sdists (pins read from the real recipes).
emu=$work/emulated
helper=$emu/recipes/emulated-wheels
mkdir -p "$helper/files"
cp -R toolchains sysroots python "$emu/"
cp bench/emu-exec.c "$helper/files/"
cat >"$helper/files/emulated.sh" <<'SH'
# In the test step: each sdist built by the target's pip under qemu-user,
# one after another; target programs the build starts go through qemu too.
set -eu
eval "set -- $RUN_PLAIN"
qemu=$1
r=$SYSROOT
py=$(cd "$r/usr/bin" && ls python3.[0-9]* | grep -v -- - | sort -V | tail -1)
cc="$r/usr/bin/arm-linux-gnueabihf-gcc --sysroot=$r"
out=$TMPDIR/wheels
mkdir -p "$out"
: >"$TMPDIR/times"
for sdist in "$DESTDIR"/opt/sdists/*.tar.gz; do
    start=$(date +%s.%N)
    env -i PATH="$r/usr/bin:/usr/bin:/bin" HOME="$TMPDIR" TMPDIR="$TMPDIR" \
        CC="$cc" LDSHARED="$cc -shared" CFLAGS="-I$r/usr/include/$py" \
        "$qemu" -L "$r" -E LD_PRELOAD="$DESTDIR/opt/emu-exec.so" -E EMU_QEMU="$qemu" -E EMU_ROOT="$r" \
        -E PYTHONHOME="$r/usr" -E PYYAML_FORCE_LIBYAML=1 \
        "$r/usr/bin/$py" -m pip wheel --no-build-isolation --no-deps --no-index -w "$out" "$sdist"
    end=$(date +%s.%N)
    echo "$(basename "$sdist") $(echo "$end - $start" | bc)" >>"$TMPDIR/times"
done
# A build that fell back to pure Python would not be the same work.
for w in "$out"/*.whl; do
    python3 -m zipfile -l "$w" | grep -q '\.so ' || { echo "$w has no extension module" >&2; exit 1; }
done
ls "$out"/*.whl
SH
{
    printf 'package emulated-wheels {\n    version "1.0"\n    license "MIT"\n}\n'
    for p in "${pkgs[@]}"; do
        r=recipes/$p/recipe.kdl
        version=$(sed -n 's/^ *version "\(.*\)"/\1/p' "$r" | head -1)
        file=$(sed -n 's/^ *file "\(.*\)"/\1/p' "$r" | head -1 | sed "s/{{ version }}/$version/")
        sha=$(sed -n 's/^ *sha256 "\(.*\)"/\1/p' "$r" | head -1)
        printf 'source pypi="%s" {\n    file "%s"\n    sha256 "%s"\n    extract #false\n    dest "sdists"\n}\n' "$p" "$file" "$sha"
    done
    printf 'source path="files" {\n    dest "files"\n}\n'
    printf 'build script {\n    step "mkdir -p \\"$DESTDIR/opt\\" && cp -R sdists \\"$DESTDIR/opt/\\""\n'
    printf '    step "$CC -O2 -shared -fPIC -o \\"$DESTDIR/opt/emu-exec.so\\" files/emu-exec.c -ldl"\n}\n'
    printf 'test {\n    requires "python3-dev" "gcc" "libc6-dev" "python3-pip" "python3-setuptools" "python3-wheel" "cython3" "python3-cffi" "python3-setuptools-scm" "libyaml-dev"\n'
    printf '    run "sh \\"$RECIPE_DIR/files/emulated.sh\\""\n}\n'
} >"$helper/recipe.kdl"

wall() { # command... → seconds on stdout, its output in $work/last.log
    local t0 t1
    t0=$(date +%s.%N)
    if ! "$@" >"$work/last.log" 2>&1; then
        tail -40 "$work/last.log" >&2
        exit 1
    fi
    t1=$(date +%s.%N)
    echo "$t1 - $t0" | bc
}

# (a) The four wheels rebuilt (everything else warm).
force=()
for p in "${pkgs[@]}"; do force+=(--force "$p"); done
cross=$(wall "$bin" build "${pkgs[@]}" --target "$target" "${force[@]}")

# (b) The same sdists under emulation; the root is provisioned by the test
# run itself, so only the pip builds (timed inside the step) count.
(cd "$emu" && wall "$bin" test emulated-wheels --target "$target" --build-dir "$work/emu-build" --out-dir "$work/emu-out") >/dev/null
times=$(find "$work/emu-build" -name times -path '*emulated-wheels*' | head -1)
emulated=$(awk '{ s += $2 } END { print s }' "$times")

echo "per sdist, emulated (s):"
sed 's/^/  /' "$times"
printf 'cross    (recipe build, %d wheels)       %7.1f s\n' "${#pkgs[@]}" "$cross"
printf 'emulated (pip wheel under qemu-user)   %7.1f s\n' "$emulated"
printf 'ratio cross / emulated                 %7.3f   (goal <= 0.25)\n' "$(echo "$cross / $emulated" | bc -l)"
