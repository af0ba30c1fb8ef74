#!/usr/bin/env bash
# Installs build/ into a temporary prefix and builds two small programs against the installed
# tree alone: examples/stylize.c with find_package(nst) (shared and static) and with
# pkg-config, then runs each on tiny images for a few iterations, with the real weights.
#   .ci/consumers.sh BUILD_DIR WEIGHTS
set -euo pipefail
build=$1
weights=$2
src=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix

cmake --install "$build" --prefix "$prefix" >/dev/null
# Tiny PPM images (random pixels).
{ printf 'P6\n40 32\n255\n'; head -c $((40 * 32 * 3)) /dev/urandom; } >"$tmp/content.ppm"
{ printf 'P6\n32 32\n255\n'; head -c $((32 * 32 * 3)) /dev/urandom; } >"$tmp/style.ppm"

# 1. find_package(nst): nst::nst (shared) and nst::nst_static.
cmake -S "$src/examples/consumer" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$tmp/cmake-build" >/dev/null
# 2. pkg-config, nothing but the compiler.
PKG_CONFIG_PATH=$prefix/lib/pkgconfig
export PKG_CONFIG_PATH
cc -std=c99 -pedantic -Wall -Werror -o "$tmp/stylize_pc" "$src/examples/stylize.c" $(pkg-config --cflags --libs nst) \
  -Wl,-rpath,"$prefix/lib"

for prog in "$tmp/cmake-build/stylize" "$tmp/cmake-build/stylize_static" "$tmp/stylize_pc"; do
  rm -f "$tmp/out.ppm"
  "$prog" "$weights" "$tmp/content.ppm" "$tmp/style.ppm" "$tmp/out.ppm" 2 2>"$tmp/log"
  grep -q "iteration 2/2" "$tmp/log"
  head -c 15 "$tmp/out.ppm" | grep -q "P6"
  echo "consumer ok: $(basename "$prog")"
done
# The shared-library consumers resolve libnst from the installed tree.
ldd "$tmp/cmake-build/stylize" | grep -q "$prefix/lib/libnst.so.1"
