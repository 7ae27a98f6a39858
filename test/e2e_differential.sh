#!/usr/bin/env bash
# Seeded differential test (issue 11): random samples through every write
# path, late data, maintenance at random points and raw retention, then
# random query(), time_series() and rollup() calls, rolling(), get_metrics(),
# the exposition, get_stats() and points compared with plain SQL over a
# mirror table of every sample (test/differential.py says what is compared
# and how closely).  The seed is fixed so that a run can be replayed; set
# METRICS_EX_DIFF_SEED to try others and METRICS_EX_DIFF_CASES for more or
# fewer random calls.  Usage: test/e2e_differential.sh (PGHOST/PGPORT/PGUSER set)
set -euo pipefail
cd "$(dirname "$0")/.."
db=metrics_ex_differential
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
python3 test/differential.py --db "$db" --seed "${METRICS_EX_DIFF_SEED:-11}" \
    --cases "${METRICS_EX_DIFF_CASES:-1000}" --batches "${METRICS_EX_DIFF_BATCHES:-120}"
