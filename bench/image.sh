#!/usr/bin/env bash
# Image build and boot times: one image (busybox, Debian's python3.13 and the
# lz4 recipe's staged files) as an initramfs and as an ext4 disk, per target.
# Cold: the image's out/ is empty (the Debian root, kernel, qemu-system and
# e2fsprogs are provisioned in the cache, lz4 built or in the local store).
# No-op: nothing changed — `recipe` checks lz4's key and the image's key and
# writes nothing (goal: milliseconds). Boot: qemu start → the image's init.
# Usage: bench/image.sh [targets] [runs]   e.g. bench/image.sh armv7hf,aarch64 10
set -euo pipefail
cd "$(dirname "$0")/.."
targets="${1:-armv7hf,aarch64}"
runs="${2:-10}"
cargo build --release -q
bin="$PWD/target/release/recipe"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ln -s "$PWD/toolchains" "$PWD/sysroots" "$work/"
mkdir -p "$work/recipes"
ln -s "$PWD/recipes/lz4" "$work/recipes/lz4"
for format in initramfs ext4; do
    dir="$work/recipes/bench-$format"
    mkdir -p "$dir"
    size=""
    [ "$format" = ext4 ] && size=' size="256M"'
    cat >"$dir/image.kdl" <<KDL
image bench-$format {
    packages "busybox-static" "python3.13"
    install "lz4"
    format "$format"$size
    init "init.sh"
    timeout 300
}
KDL
    echo 'python3.13 -c "import ctypes; print(ctypes.CDLL(\"liblz4.so.1\").LZ4_versionNumber())"' >"$dir/init.sh"
done
ms() { echo $(( ($2 - $1) / 1000000 )); }
recipe() { "$bin" --recipes "$work/recipes" "$@"; }
for target in ${targets//,/ }; do
    for format in initramfs ext4; do
        name="bench-$format"
        recipe boot "$name" --target "$target" --no-boot >/dev/null 2>&1   # provision, build lz4
        rm -rf "$work/out/$target/$name".* "$work/out/$target/.$name".*
        start=$(date +%s%N)
        recipe boot "$name" --target "$target" --no-boot >/dev/null 2>&1
        cold=$(ms "$start" "$(date +%s%N)")
        size=$(du -k --apparent-size "$work/out/$target/$name".* | awk '{s += $1} END {printf "%.1f MB", s / 1024}')
        times=()
        for _ in $(seq "$runs"); do
            start=$(date +%s%N)
            recipe boot "$name" --target "$target" --no-boot >/dev/null 2>&1
            times+=($(( ($(date +%s%N) - start) / 1000 )))
        done
        noop=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ t[NR] = $1 } END { printf "min %.1f ms, median %.1f ms, max %.1f ms", t[1] / 1000, t[int((NR + 1) / 2)] / 1000, t[NR] / 1000 }')
        line=$(recipe boot "$name" --target "$target" --quiet 2>&1 | grep 'init started' || echo "boot failed")
        boot=$(echo "$line" | sed -E 's/.*init started ([0-9.]+ s) after qemu \(guest uptime ([0-9.]+) s\).*/\1 (guest uptime \2 s)/')
        echo "$target $format ($size): cold build $cold ms; no-op ($runs runs) $noop; qemu start → init $boot"
    done
done
