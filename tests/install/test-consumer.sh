#!/bin/sh
# Installs a build tree into a fresh prefix, builds examples/consumer against it (a separate CMake project that only
# sees the prefix) and runs it on a bundled trace: the installed odf package is usable by another project.
#   test-consumer.sh BUILD_DIR WORK_DIR CXX_COMPILER [CXX_FLAGS]
# CXX_FLAGS: what the consumer must add to link the installed libraries (the sanitizers of an ODF_SANITIZE build).
set -eu
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$1
work=$2
cxx=$3
flags=${4:-}
trace=$src/traces/difftest/odf-tables.trace

rm -rf "$work"
mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log"
for f in bin/odf-sim include/odf/replay.hpp include/odf/trace/io.hpp; do
	test -e "$work/prefix/$f" || { echo "test-consumer: $f not installed" >&2; exit 1; }
done
ls "$work"/prefix/lib*/cmake/odf/odfConfig.cmake "$work"/prefix/lib*/cmake/odf/odfConfigVersion.cmake >/dev/null

cmake -S "$src/examples/consumer" -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
	-DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_CXX_FLAGS="$flags" >"$work/configure.log" ||
	{ cat "$work/configure.log"; exit 1; }
cmake --build "$work/build" >"$work/build.log" || { cat "$work/build.log"; exit 1; }

"$work/build/odf-consumer" "$trace" | tee "$work/out.txt"
# ODF shares the PTE tables that classic fork copies.
grep -Eq '^classic: forks 3, .*ptes_copied [1-9][0-9]*, tables_shared 0,' "$work/out.txt"
grep -Eq '^odf: forks 3, .*tables_shared [1-9]' "$work/out.txt"
# The installed odf-sim runs too.
"$work/prefix/bin/odf-sim" replay "$trace" --modes classic,odf --check >/dev/null
echo "test-consumer: passed"
