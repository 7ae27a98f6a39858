#!/usr/bin/env bash
# metrics_ex on Citus (issue 12): a coordinator and two workers on loopback
# ports, and a single node beside them.  distribute() refuses what it must
# (no Citus, a worker, a bad shard count, twice, a worker without
# metrics_ex or with metrics of its own) and moves the samples already
# stored; the same writes through every path go to the coordinator and to
# the single node (test/citus.d/writes.sql), and every read function gives
# the same answers on both (test/citus.d/reads.sql); EXPLAIN shows the
# aggregations partial on the workers; writes on a worker are refused and
# its maintenance does nothing; a delete of series in one session is seen by
# another; then the seeded differential test (test/differential.py) runs on
# a distributed database.  Builds and installs Citus from test/vendor/ when
# the PostgreSQL in use has none (test/citus_build.sh).
# Usage: test/e2e_citus.sh (PGPORT set: the test cluster's; this uses the
# next four ports from PGPORT + 40)
set -uo pipefail
cd "$(dirname "$0")/.."
. test/tap.sh
pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
bindir=${PG_BINDIR:-$("$pg_config" --bindir)}
base=$((${PGPORT:-55432} + 40))
declare -A port=([c]=$base [w1]=$((base + 1)) [w2]=$((base + 2)) [s]=$((base + 3)))

if ! bash test/citus_build.sh "$pg_config"; then
    tap_not_ok "Citus builds from test/vendor/citus-12.1.12.tar.gz"
    tap_done
    exit 1
fi

work=$(mktemp -d /tmp/metrics_ex_citus.XXXXXX)
chmod 755 "$work"
cleanup() {
    [[ -n ${METRICS_EX_CITUS_KEEP:-} ]] && { echo "# kept $work"; return; }
    for n in c w1 w2 s; do bash test/cluster.sh stop "$work/$n" 2>/dev/null; done
    rm -rf "$work"
}
trap cleanup EXIT

for n in c w1 w2; do
    bash test/cluster.sh start "$work/$n" "${port[$n]}" "shared_preload_libraries = 'citus,metrics_ex'" \
        "max_prepared_transactions = 20" "citus.log_distributed_deadlock_detection = off" || exit 1
done
bash test/cluster.sh start "$work/s" "${port[s]}" || exit 1

# q NODE [DB] psql-args...: as postgres over TCP on the node's port
q() {
    local n=$1 db=postgres; shift
    if [[ ${1:-} == db=* ]]; then db=${1#db=}; shift; fi
    "$bindir/psql" -qXAt -h 127.0.0.1 -p "${port[$n]}" -U postgres -d "$db" -v ON_ERROR_STOP=1 "$@"
}
# the SQLSTATE a statement fails with (empty when it succeeds)
state() { local n=$1; shift; q "$n" -c '\set VERBOSITY sqlstate' -c "$1" 2>&1 >/dev/null | sed -n 's/^ERROR: *//p' | head -1; }
expect_state() {
    local what=$1 want=$2 n=$3 sql=$4 got
    got=$(state "$n" "$sql")
    [[ $got == "$want" ]] && tap_ok "$what" || tap_not_ok "$what" "SQLSTATE '$got', wanted $want"
}
# Citus in database $1 of c, w1 and w2
citus_db() {
    local db=$1 n
    for n in c w1 w2; do
        [[ $db == postgres ]] || q "$n" -c "CREATE DATABASE $db" 2>/dev/null
        q "$n" db="$db" -c "CREATE EXTENSION citus" || return 1
    done
}
# ... and the workers in the coordinator's metadata
citus_nodes() {
    q c db="$1" -c "SELECT citus_set_coordinator_host('127.0.0.1', ${port[c]})" \
        -c "SELECT citus_add_node('127.0.0.1', ${port[w1]})" -c "SELECT citus_add_node('127.0.0.1', ${port[w2]})" >/dev/null
}
citus_db postgres || { tap_not_ok "Citus on three nodes"; tap_done; exit 1; }

# ---- distribute() refuses what it must -------------------------------------
q s -c "CREATE EXTENSION metrics_ex"
expect_state "distribute() without Citus is refused" 55000 s "SELECT metrics_ex.distribute()"
# the workers have metrics_ex before they join: their schedulers may make
# partitions, which distribute() removes (they are empty)
for n in w1 w2 c; do q "$n" -c "CREATE EXTENSION metrics_ex"; done
citus_nodes postgres || { tap_not_ok "a Citus cluster of three nodes"; tap_done; exit 1; }
expect_state "distribute() on a worker is refused" 55000 w1 "SELECT metrics_ex.distribute()"
expect_state "a bad shard count is refused" 22023 c "SELECT metrics_ex.distribute(0)"
q w2 -c "SET citus.enable_ddl_propagation = off" -c "DROP EXTENSION metrics_ex"
expect_state "a worker without metrics_ex is refused" 55000 c "SELECT metrics_ex.distribute()"
q w2 -c "SET citus.enable_ddl_propagation = off" -c "CREATE EXTENSION metrics_ex"
q w1 -c "SELECT metrics_ex.increment('cx_worker_total')" >/dev/null
expect_state "a worker with metrics of its own is refused (they would be hidden)" 55000 c "SELECT metrics_ex.distribute()"
q w1 -c "DELETE FROM metrics_ex.samples" -c "DELETE FROM metrics_ex.metrics" -c "DELETE FROM metrics_ex.rollup_pending"
tap_check "a worker's maintenance does nothing once it is in the cluster" \
    test "$(q w1 -c "SELECT metrics_ex.materialize() ->> 'skipped' IS NOT NULL, (SELECT count(*) FROM metrics_ex._partition_days_wanted())")" = "t|0"

# ---- the single node and the coordinator get the same writes ---------------
# a few samples before distribute(), which moves them into the shards
for n in c s; do
    q "$n" -c "SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs" \
        -c "SELECT metrics_ex.gauge('cx_early', v, '{\"phase\": \"before\"}', '2026-11-19 10:00:00+00'::timestamptz + v * interval '1 minute')
              FROM generate_series(1, 30) v" >/dev/null
done
got=$(q c -c "SELECT metrics_ex.distribute(4) - 'distributed' - 'reference'" 2>/dev/null)
[[ $got == '{"samples": 30, "shard_count": 4}' ]] && tap_ok "distribute(4) moves the samples stored so far" \
    || tap_not_ok "distribute(4) moves the samples stored so far" "$got"
tap_check "samples, rollups, totals and deltas are distributed by series_id and colocated; the catalog is reference tables" \
    test "$(q c -c "SELECT count(DISTINCT colocationid) FILTER (WHERE partmethod = 'h'),
                           string_agg(logicalrelid::text, ',' ORDER BY logicalrelid::text) FILTER (WHERE partmethod = 'n')
                      FROM pg_dist_partition
                     WHERE logicalrelid::text ~ '^metrics_ex\.(samples|rollup_|series_totals|metrics|series|raw_horizon|settings)'")" \
         = "1|metrics_ex.metrics,metrics_ex.raw_horizon,metrics_ex.rollup_state,metrics_ex.series,metrics_ex.settings"
expect_state "distribute() twice is refused" 55000 c "SELECT metrics_ex.distribute()"
expect_state "writes on a worker are refused" 0A000 w1 "SELECT metrics_ex.gauge('cx_depth', 1)"

for n in c s; do
    q "$n" -f test/citus.d/writes.sql 2>"$work/writes_$n.err" || { tap_not_ok "the writes on $n"; cat "$work/writes_$n.err"; }
done
# the coordinator's own tables (Citus' shells) stay empty: every row went
# through the executor to the shards
tap_check "nothing was written into the coordinator's shells of the Citus tables" \
    test "$(q c -c "SELECT sum(pg_relation_size(r)) FROM unnest('{metrics_ex.samples_default,metrics_ex.rollup_pending,
                        metrics_ex.rollup_hour,metrics_ex.series_totals,metrics_ex.series,metrics_ex.metrics}'::regclass[]) r")" = 0
for n in c s; do q "$n" -f test/citus.d/reads.sql > "$work/reads_$n.out" 2>&1; done
if python3 - "$work/reads_c.out" "$work/reads_s.out" <<'PY'
import re, sys
def sections(path):
    out, name = {}, None
    for line in open(path):
        if line.startswith('== '):
            name = line[3:].strip()
            out[name] = []
        elif name is not None:
            out[name].append(line.rstrip('\n'))
    return out
num = re.compile(r'-?\d+(?:\.\d+)?(?:e[-+]?\d+)?')
def close(a, b):
    na, nb = num.split(a), num.split(b)
    if na != nb:
        return False
    for x, y in zip(num.findall(a), num.findall(b)):
        x, y = float(x), float(y)
        if x != y and abs(x - y) > 1e-12 * max(abs(x), abs(y)):
            return False
    return True
c, s = sections(sys.argv[1]), sections(sys.argv[2])
bad = 0
for name in s:
    if name not in c:
        print(f'# section {name}: missing on the coordinator'); bad += 1; continue
    rows_c, rows_s = c[name], s[name]
    same = (len(rows_c) == len(rows_s) and
            all(x == y or (name.startswith('~') and close(x, y)) for x, y in zip(rows_c, rows_s)))
    if same and rows_s:
        print(f'ok - {name}: {len(rows_s)} lines the same')
    else:
        bad += 1
        print(f'not ok - {name}: {len(rows_c)} lines on the coordinator, {len(rows_s)} on the single node')
        for x, y in zip(rows_c, rows_s):
            if x != y:
                k = next((i for i, (a, b) in enumerate(zip(x, y)) if a != b), min(len(x), len(y)))
                k = max(0, k - 120)
                print(f'#   coordinator: ...{x[k:k + 300]}\n#   single node: ...{y[k:k + 300]}'); break
        else:
            print('#   ' + (rows_c[len(rows_s):] or rows_s[len(rows_c):] or ['(no rows)'])[0][:300])
sys.exit(1 if bad else 0)
PY
then tap_ok "every read function gives the single node's answers (exact; stddev to 1e-12)"
else tap_not_ok "every read function gives the single node's answers (exact; stddev to 1e-12)"
fi

# ---- maintenance over many connections -----------------------------------
# a slow build makes Citus open more connections per worker; forced here:
# materialize() builds twice in one transaction over the same shards
got=$(q c -c "SET citus.force_max_query_parallelization = on" \
          -c "INSERT INTO metrics_ex.ingest (name, value, tags, ts)
              SELECT 'cx_late_many', i, jsonb_build_object('i', (i % 40)::text), '2026-11-18 00:00:00+00'::timestamptz + i * interval '10 s'
                FROM generate_series(1, 2000) i" \
          -c "SELECT (metrics_ex.materialize() ->> 'late')::int >= 2000" \
          -c "SELECT count(*), sum(value) FROM metrics_ex.query('cx_late_many', 'count', '{i}', since => '2026-11-18', until => '2026-11-19')" 2>&1 | tail -2 | tr '\n' ' ')
[[ $got == "t 40|2000 " ]] && tap_ok "materialize() of late samples with a connection per shard task: every sample rolled up" \
    || tap_not_ok "materialize() of late samples with a connection per shard task: every sample rolled up" "$got"

# ---- the write path's one connection per worker ---------------------------
# each flush runs with Citus held to one connection per worker, scoped to
# its INSERT: in a transaction whose reads use a connection per shard task,
# with a statement of more than one flush (10,000 rows) and a savepoint
# rolled back, every row is stored once, and the session's settings stay
got=$(q c -c "SET citus.max_adaptive_executor_pool_size = 7" -c "BEGIN" \
          -c "SET LOCAL citus.force_max_query_parallelization = on" \
          -c "SELECT count(metrics_ex.gauge('cx_conn', 1, jsonb_build_object('i', (i % 40)::text), '2026-11-18 00:00:00+00')) FROM generate_series(1, 40) i" \
          -c "SELECT count(*) FROM metrics_ex.points WHERE name = 'cx_conn'" \
          -c "INSERT INTO metrics_ex.ingest (name, value, tags, ts)
              SELECT 'cx_conn', 2, jsonb_build_object('i', (i % 40)::text), '2026-11-18 00:00:00+00'::timestamptz + i * interval '1 s'
                FROM generate_series(1, 12000) i" \
          -c "SAVEPOINT a" -c "SELECT count(metrics_ex.gauge('cx_conn', 100, jsonb_build_object('i', i::text), '2026-11-18 01:00:00+00')) FROM generate_series(1, 40) i" \
          -c "SELECT count(*) FROM metrics_ex.points WHERE name = 'cx_conn'" -c "ROLLBACK TO a" \
          -c "SELECT count(metrics_ex.gauge('cx_conn', 3, jsonb_build_object('i', i::text), '2026-11-18 02:00:00+00')) FROM generate_series(1, 40) i" \
          -c "COMMIT" -c "SELECT count(*), sum(value) FROM metrics_ex.points WHERE name = 'cx_conn'" \
          -c "SHOW citus.max_adaptive_executor_pool_size" -c "SHOW citus.force_max_query_parallelization" 2>&1 | tr '\n' ' ')
[[ $got == "40 40 40 12080 40 12080|24160 7 off " ]] \
    && tap_ok "writes around parallel reads, over 10,000 rows and in a rolled-back savepoint: every row once; the session's Citus settings kept" \
    || tap_not_ok "writes around parallel reads, over 10,000 rows and in a rolled-back savepoint: every row once; the session's Citus settings kept" "$got"

# ---- new series wait for their statement's end -----------------------------
for n in c s; do q "$n" -f test/citus.d/series.sql > "$work/series_$n.out" 2>&1; done
if diff "$work/series_c.out" "$work/series_s.out" >/dev/null && grep -q '^cs_inner|5|' "$work/series_s.out"; then
    tap_ok "new series in rolled-back subtransactions, savepoints and at the limit: the single node's series and samples"
else
    tap_not_ok "new series in rolled-back subtransactions, savepoints and at the limit: the single node's series and samples"
    diff "$work/series_c.out" "$work/series_s.out" | sed 's/^/#   /' | head -10
fi

# two sessions making overlapping series at once: each series made once
# (the second waits for the metric's lock, then finds the first's)
q c -c "SELECT metrics_ex.define('cx_race', 'gauge')" >/dev/null
for part in 0 1; do
    q c -c "BEGIN" \
        -c "INSERT INTO metrics_ex.ingest (name, value, tags, ts)
            SELECT 'cx_race', 1, jsonb_build_object('k', i::text), '2026-11-18 00:00:00+00'
              FROM generate_series($part * 200 + 1, $part * 200 + 300) i ORDER BY i * (1 - 2 * $part)" \
        -c "SELECT pg_sleep(0.5)" -c "COMMIT" >/dev/null &
done
wait
got=$(q c -c "SELECT (SELECT count(*) FROM metrics_ex.points WHERE name = 'cx_race'),
                     count(*), count(DISTINCT s.tags)
                FROM metrics_ex.series s JOIN metrics_ex.metrics m ON m.id = s.metric_id WHERE m.name = 'cx_race'")
[[ $got == "600|500|500" ]] && tap_ok "two sessions making overlapping series at once: 500 series, 600 samples" \
    || tap_not_ok "two sessions making overlapping series at once: 500 series, 600 samples" "$got"

# ---- EXPLAIN: the aggregations run on the workers --------------------------
# test/citus.d/explain.sql builds the statements of query(), rollup() and
# time_series() with their own builders and EXPLAINs them: each Task must
# aggregate on its worker, so the coordinator combines partial states
q c -f test/citus.d/explain.sql > "$work/explain.txt" 2>&1
if python3 - "$work/explain.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
sections = re.split(r'^== ', text, flags=re.M)[1:]
bad = 0
for sec in sections:
    title = sec.splitlines()[0]
    lines = sec.splitlines()
    # the first plan node under each Task's "Node:" line
    firsts = [next((l.strip() for l in lines[i + 1:] if l.strip().startswith('->')), '')
              for i, l in enumerate(lines) if l.strip().startswith('Node: host=')]
    ok = ('Custom Scan (Citus Adaptive)' in sec and firsts and
          all(re.match(r'->  (Partial |Finalize )?(Hash|Group|Mixed)?Aggregate', f) for f in firsts))
    print(f'# {title}: {len(firsts)} task(s) shown, first nodes {sorted(set(f.split("  (")[0] for f in firsts))}')
    bad += not ok
sys.exit(1 if bad or len(sections) < 4 else 0)
PY
then tap_ok "EXPLAIN: the statements of query(), rollup() and time_series() aggregate in each task, on the workers"
else tap_not_ok "EXPLAIN: the statements of query(), rollup() and time_series() aggregate in each task, on the workers"
    sed 's/^/#   /' "$work/explain.txt" | head -60
fi
# the read functions themselves: every command the coordinator sends to a
# shard of samples or rollups aggregates there (partial states, or whole
# groups), none fetches rows to aggregate on the coordinator
q c -c "SET citus.log_remote_commands = on" -c "SET client_min_messages = notice" \
    -c "SELECT count(*) FROM metrics_ex.query('cx_lat_ms', 'p95', '{host}', since => '2026-11-20', until => '2026-11-21')" \
    -c "SELECT count(*) FROM metrics_ex.query('cx_req_total', 'sum', '{host,code}', since => '2026-11-20', until => '2026-11-23')" \
    -c "SELECT count(*) FROM metrics_ex.time_series('cx_bulk_total', 'minute', 'sum', since => '2026-11-20 12:00', until => '2026-11-20 13:00', group_by => '{instance}')" \
    -c "SELECT count(*) FROM metrics_ex.time_series('cx_record', 'hour', 'p99', since => '2026-11-20', until => '2026-11-21', group_by => '{model}')" \
    -c "SELECT count(*) FROM metrics_ex.rollup('cx_req_total', '{host}', '{count,mean,p99}', since => '2026-11-20', until => '2026-11-23')" \
    > "$work/remote.txt" 2>&1
if python3 - "$work/remote.txt" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
cmds = [l[len('NOTICE:  issuing '):] for l in text.splitlines()
        if l.startswith('NOTICE:  issuing ') and re.search(r'metrics_ex\.(samples\w*|rollup_\w+|series_totals)_\d+', l)]
bad = [c for c in cmds if not re.search(r'worker_partial_agg|GROUP BY', c)]
print(f'# {len(cmds)} commands on shards of samples and rollups, {len(bad)} without aggregation')
for c in bad[:2]:
    print('#   ' + c[:400].replace('\n', ' '))
sys.exit(0 if cmds and not bad else 1)
PY
then tap_ok "query(), time_series() and rollup() send each shard an aggregation, never a fetch of rows"
else tap_not_ok "query(), time_series() and rollup() send each shard an aggregation, never a fetch of rows"
fi

# ---- a delete in one session is seen by another ----------------------------
out=$(q c <<SQL
\set inv 'SELECT s.id FROM metrics_ex.series s JOIN metrics_ex.metrics m ON m.id = s.metric_id WHERE m.name = ''cx_inv_total'''
SELECT metrics_ex.increment('cx_inv_total', 1, '{"a": "1"}', '2026-11-20 19:00:00+00');
SELECT id AS old_id FROM (:inv) i \gset
\! "$bindir/psql" -qXAt -h 127.0.0.1 -p ${port[c]} -U postgres -d postgres -c "DELETE FROM metrics_ex.metrics WHERE name = 'cx_inv_total'"
SELECT count(*) FROM metrics_ex.series WHERE id = :old_id;
SELECT metrics_ex.increment('cx_inv_total', 1, '{"a": "1"}', '2026-11-20 19:00:01+00');
SELECT count(*) = 1 AND min(id) <> :old_id FROM (:inv) i;
SELECT x.series_id = (SELECT id FROM (:inv) i) FROM metrics_ex.samples x WHERE x.ts = '2026-11-20 19:00:01+00';
SQL
)
[[ $(echo "$out" | grep -v '^$' | tail -3 | tr '\n' ' ') == "0 t t " ]] \
    && tap_ok "deleting a metric deletes its series; a session that cached one hears of it (no trigger, no key: the hooks)" \
    || tap_not_ok "deleting a metric deletes its series; a session that cached one hears of it (no trigger, no key: the hooks)" "$out"

# ---- the seeded differential test on a distributed database ----------------
if citus_db diff && citus_nodes diff && PGHOST=127.0.0.1 PGPORT=${port[c]} PGUSER=postgres PATH="$bindir:$PATH" \
    python3 test/differential.py --db diff --seed "${METRICS_EX_DIFF_SEED:-12}" \
        --cases "${METRICS_EX_DIFF_CASES:-1000}" --batches 120 --distribute 4 2>"$work/diff.err" | sed 's/^/# /'
then
    tap_ok "the differential test passes on Citus"
else
    tap_not_ok "the differential test passes on Citus"; grep -v '^NOTICE\|^DETAIL\|^HINT' "$work/diff.err" | head -20
fi

tap_done
