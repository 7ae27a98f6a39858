#!/usr/bin/env bash
# Citus for the tests and benchmarks that need it (test/e2e_citus.sh,
# bench/90_citus.sh): when the PostgreSQL that PG_CONFIG names has no Citus,
# build and install it from the tarball in test/vendor/ (Citus 12.1.12, the
# newest release that builds against PostgreSQL 15 here; AGPL-3.0, a test
# dependency only: metrics_ex never links against it).  The build happens in
# a temporary directory that is removed afterwards; about 2.5 minutes on 2
# cores.  Its build dependencies come from test/setup.sh.
# Usage: test/citus_build.sh [PG_CONFIG]
set -euo pipefail
cd "$(dirname "$0")/.."
pg_config=${1:-${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}}
tarball=test/vendor/citus-12.1.12.tar.gz
libdir=$("$pg_config" --pkglibdir)
sharedir=$("$pg_config" --sharedir)

if [[ -f $libdir/citus.so && -f $sharedir/extension/citus.control ]]; then
    exit 0
fi
echo "citus_build: no Citus in $libdir; building it from $tarball"
(cd test/vendor && sha256sum --quiet -c citus-12.1.12.tar.gz.sha256) || {
    echo "citus_build: $tarball does not match its sha256" >&2; exit 1; }
src=$(mktemp -d /tmp/metrics_ex_citus_build.XXXXXX)
trap 'rm -rf "$src"' EXIT
tar xzf "$tarball" -C "$src"
cd "$src/citus-12.1.12"
./configure PG_CONFIG="$pg_config" > "$src/configure.log" 2>&1 || {
    tail -20 "$src/configure.log" >&2; exit 1; }
make -j"$(nproc)" > "$src/make.log" 2>&1 || { tail -20 "$src/make.log" >&2; exit 1; }
make install > "$src/install.log" 2>&1 || { tail -20 "$src/install.log" >&2; exit 1; }
echo "citus_build: installed into $libdir"
