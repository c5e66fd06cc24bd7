#!/usr/bin/env bash
# Cold build of the C stack of the reference graph (lz4, libuv, sqlite, dqlite
# for armv7hf) by `recipe` against a plain serial shell script doing the same
# steps with the same provisioned toolchain, the same host autotools and the
# same cached sources (`make -j2` inside each package, one package at a time).
# Toolchain provisioning and host tools are warm for both; only the four
# packages are timed. Prints wall time, CPU seconds and utilisation.
# Usage: bench/cold-vs-serial.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -q
bin=$PWD/target/release/recipe
target=armv7hf
jobs=$(nproc)
work=$(mktemp -d /tmp/recipe-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

# Warm: toolchain, sources, host tools (built into the project's build dir).
"$bin" build dqlite --target "$target" >/dev/null 2>&1
host_prefix=$(find "$PWD/build/host" -maxdepth 1 -name 'prefix*' -type d | head -1)  # padded: see src/outputs/relocate.rs
src_of() { # the cached download for a recipe's file name
    find "${RECIPE_CACHE:-$HOME/.cache/recipe}/downloads/sha256" -name "$1" | head -1
}

measure() { # label, command...
    python3 bench/measure.py "$1" "$jobs" "$work" "${@:2}"
}

recipe_cold() {
    # The project's build tree (warm host tools), the four packages forced.
    "$bin" build dqlite --target "$target" -j "$jobs" --force lz4 --force libuv --force sqlite --force dqlite
}

serial_script() {
    set -e
    eval "$("$bin" env --target "$target")"
    local root=$work/serial sr=$work/serial/sysroot
    mkdir -p "$root"
    cp -a "$RECIPE_SYSROOT/." "$sr"
    export RECIPE_SYSROOT=$sr PKG_CONFIG_SYSROOT_DIR=$sr
    export PKG_CONFIG_LIBDIR=$sr/usr/lib/pkgconfig:$sr/usr/share/pkgconfig
    export PATH=$host_prefix/bin:$PATH
    local host=$CONFIGURE_HOST build=$CONFIGURE_BUILD
    conf=(--host="$host" --build="$build" --prefix=/usr --libdir=/usr/lib --disable-static)
    unpack() { mkdir -p "$root/$1" && tar xf "$(src_of "$2")" -C "$root/$1" --strip-components=1 && cd "$root/$1"; }
    unpack lz4 lz4_1.10.0.orig.tar.gz
    make -j"$jobs" -C lib PREFIX=/usr BUILD_STATIC=no && make -C lib install PREFIX=/usr BUILD_STATIC=no DESTDIR="$sr"
    unpack libuv libuv1_1.50.0.orig.tar.gz
    sh autogen.sh && ./configure "${conf[@]}" && make -j"$jobs" && make install DESTDIR="$sr"
    unpack sqlite sqlite3_3.46.1.orig.tar.xz
    BUILD_CC=gcc TCLSH_CMD=tclsh ./configure "${conf[@]}" --disable-tcl --disable-readline --enable-threadsafe
    make -j"$jobs" libsqlite3.la sqlite3.h sqlite3.pc && make lib_install DESTDIR="$sr"
    install -D -m 0644 sqlite3.h src/sqlite3ext.h -t "$sr/usr/include"
    install -D -m 0644 sqlite3.pc -t "$sr/usr/lib/pkgconfig"
    unpack dqlite dqlite_1.18.7.orig.tar.gz
    autoreconf -fi && ./configure "${conf[@]}" --enable-build-raft --disable-backtrace
    make -j"$jobs" && make install DESTDIR="$sr"
}
export -f serial_script src_of recipe_cold
export bin target work jobs host_prefix

echo "cold build of lz4, libuv, sqlite and dqlite for $target on $jobs cores"
measure recipe bash -c recipe_cold
measure serial bash -c serial_script
awk '{ w[$1] = $2 } END { printf "recipe / serial wall time: %.2f (goal ≤ 0.75)\n", w["recipe"] / w["serial"] }' "$work/walls"
