#!/usr/bin/env bash
# Issue 12 figures: metrics_ex distributed on Citus (a coordinator and two
# workers) beside one node, the same data loaded the same way in the same run.
#
# On this one 2-core machine the three Citus nodes and the single node share
# the same two cores: these figures measure what Citus costs (routing every
# sample through the executor, planning and running one task per shard,
# combining partial aggregates on the coordinator), NOT what it gains by
# scaling out.  Read them as overhead; a cluster on separate machines adds a
# worker's cores and disks per node, which this cannot show.
#
# Two data shapes, both loaded "on time" (the rollup watermark is put before
# them, as 50_rollups does) into day partitions made beforehand:
#   - dense: DENSE_ROWS samples of DENSE_SERIES series (tags host, region)
#     over the 7 days before the run, one COPY FROM a file into
#     metrics_ex.ingest;
#   - monitoring: MON_SERIES series (tags instance, job, region) scraped
#     MON_SCRAPES times one minute apart, each scrape one COPY FROM STDIN of
#     every series, from one session that stays open.
# Figures (cluster beside the single node, ratio = cluster / single node):
#   1. ingest rows/s (dense; monitoring: the first scrape, which creates the
#      series, and the other scrapes);
#   2. a week-long time_series (hourly, grouped by region) after
#      materialize(): mean (read from the rollups), p95 as time_series()
#      reads it while raw samples cover the range (exact, from raw samples),
#      p95 from the rollups (the statement time_series() runs once retention
#      has cut the raw samples: ddsketch states of the hour rows, built here
#      with the same internal functions), and the mean by hand over raw
#      samples (metrics_ex.points);
#   3. the bytes the coordinator receives per task (one task per shard) for
#      both p95 statements, beside the bytes of the raw samples (and of the
#      hour rollup rows) each shard holds for that range.  EXPLAIN ANALYZE
#      would count them ("Tuple data received from node"), but Citus cannot
#      EXPLAIN ANALYZE a custom aggregate's worker_partial_agg()
#      (citusdata/citus#4043): so each task's query, as EXPLAIN (VERBOSE,
#      FORMAT JSON) with citus.explain_all_tasks lists it, is run again on its
#      worker as COPY (...) TO STDOUT (FORMAT binary), and its bytes counted:
#      the tuple data of the results, in the binary format Citus fetches them
#      in (citus.enable_binary_protocol), without the protocol's framing.
#      What the shards hold is sum(pg_column_size(row)) of their samples and
#      hour rollup rows in the range (tuple bytes, no page or index overhead).
# Every answer is compared between the two (the samples counted, each
# time_series' rows as text); a difference prints a line "DIFFERENT".
#
# Ports: the Citus nodes listen on METRICS_EX_BENCH_CITUS_PORT (default
# PGPORT + 40) and the next two; the single node is the bench cluster that
# bench/run starts (PGHOST/PGPORT), in a database of its own.  Both are
# reached over TCP on 127.0.0.1.  Citus is built first when the PostgreSQL
# in use has none (test/citus_build.sh, ~2.5 minutes once).  Everything this
# starts is stopped on exit.  About 3 minutes with the defaults.
set -euo pipefail
cd "$(dirname "$0")/.."
DENSE_ROWS=${BENCH_CITUS_DENSE_ROWS:-1000000}
DENSE_SERIES=${BENCH_CITUS_DENSE_SERIES:-1000}
MON_SERIES=${BENCH_CITUS_MON_SERIES:-20000}
MON_SCRAPES=${BENCH_CITUS_MON_SCRAPES:-10}
SHARDS=${BENCH_CITUS_SHARDS:-32}
QUERY_ROUNDS=${BENCH_CITUS_QUERY_ROUNDS:-3}
pg_config=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
bindir=${PG_BINDIR:-$("$pg_config" --bindir)}
base=${METRICS_EX_BENCH_CITUS_PORT:-$((${PGPORT:-55434} + 40))}
declare -A port=([s]=${PGPORT:-55434} [c]=$base [w1]=$((base + 1)) [w2]=$((base + 2)))
db=bench_citus

bash test/citus_build.sh "$pg_config"

work=$(mktemp -d /tmp/metrics_ex_bench_citus.XXXXXX)
chmod 755 "$work"
cleanup() {
    for n in c w1 w2; do bash test/cluster.sh stop "$work/$n" 2>/dev/null || true; done
    "$bindir/psql" -qXAt -h 127.0.0.1 -p "${port[s]}" -U postgres -d postgres \
        -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
for n in c w1 w2; do
    bash test/cluster.sh start "$work/$n" "${port[$n]}" "shared_preload_libraries = 'citus,metrics_ex'" \
        "max_prepared_transactions = 20" "citus.log_distributed_deadlock_detection = off"
done
mkdir -p "$work/data"
chown postgres: "$work/data"

export PGOPTIONS="${PGOPTIONS:-} -c client_min_messages=warning"
# q NODE psql-args...: as postgres over TCP, in the bench database
q() { local n=$1; shift; "$bindir/psql" -qXAt -h 127.0.0.1 -p "${port[$n]}" -U postgres -d "$db" -v ON_ERROR_STOP=1 "$@"; }
# per-statement times (ms) of a psql script on NODE, after a preamble
timings() {
    local n=$1 pre=${2:-/dev/null}
    { cat "$pre"; echo '\timing on'; echo '\o /dev/null'; cat; } | q "$n" | awk '/^Time:/ { print $2 }'
}
best_ms() {  # best_ms NODE PREAMBLE SQL: best of QUERY_ROUNDS runs in one session
    for _ in $(seq "$QUERY_ROUNDS"); do echo "$3;"; done | timings "$1" "$2" | sort -g | head -1
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

# ---- the two databases: the cluster's, distributed, and the single node's
"$bindir/psql" -qXAt -h 127.0.0.1 -p "${port[s]}" -U postgres -d postgres \
    -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
for n in c w1 w2; do
    "$bindir/psql" -qXAt -h 127.0.0.1 -p "${port[$n]}" -U postgres -d postgres -c "CREATE DATABASE $db" >/dev/null
    q "$n" -c "CREATE EXTENSION citus"
done
for n in w1 w2; do q "$n" -c "CREATE EXTENSION metrics_ex"; done
q c -c "SELECT citus_set_coordinator_host('127.0.0.1', ${port[c]})" \
    -c "SELECT citus_add_node('127.0.0.1', ${port[w1]})" -c "SELECT citus_add_node('127.0.0.1', ${port[w2]})" >/dev/null
for n in c s; do
    # maintenance is done by hand here: the jobs are off from the start
    q "$n" -c "BEGIN" -c "CREATE EXTENSION metrics_ex" \
        -c "SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs" -c "COMMIT" >/dev/null
done
q c -c "SELECT metrics_ex.distribute($SHARDS)" >/dev/null

# The end of the data: the last whole hour; the week before it is what the
# queries read.  Fixed once, the same literals for both.
END=$(q s -c "SELECT date_trunc('hour', now() - interval '2 minutes')")
W0=$(q s -c "SELECT '$END'::timestamptz - interval '7 days'")
MON_T0=$(q s -c "SELECT '$END'::timestamptz - interval '2 hours'")
for n in c s; do
    # the watermark before the loads (their samples are on time), and the
    # day partitions the scheduler would have made
    q "$n" -c "SET metrics_ex.rollup_delay = '30 days'" -c "SELECT metrics_ex.prune()" \
        -c "SELECT metrics_ex._create_day_partition('$END'::timestamptz - d * interval '1 day') FROM generate_series(0, 8) d" \
        -c "SELECT metrics_ex.define('bench_citus_dense', 'gauge')" \
        -c "SELECT metrics_ex.define('bench_citus_mon', 'gauge', max_series => 10000000)" >/dev/null
done

# ---- the rows, once, from the single node: a COPY file (dense) and a psql
# script of one COPY FROM STDIN block per scrape (monitoring)
echo "generating $DENSE_ROWS dense samples of $DENSE_SERIES series, $MON_SERIES series x $MON_SCRAPES scrapes"
q s -c "SELECT setseed(0.12)" -c "
    COPY (SELECT 'bench_citus_dense', round((random() * 100)::numeric, 2),
                 '{\"host\": \"host-' || i % $DENSE_SERIES || '\", \"region\": \"r' || i % $DENSE_SERIES % 10 || '\"}',
                 '$END'::timestamptz - (i::float8 / $DENSE_ROWS) * interval '7 days'
            FROM generate_series(1, $DENSE_ROWS) i) TO '$work/data/dense.copy'" >/dev/null
q s -c '\set FETCH_COUNT 100000' -c "
    SELECT line FROM (
        SELECT k, 0 AS part, 0 AS i, 'COPY metrics_ex.ingest (name, value, tags, ts) FROM STDIN;' AS line
          FROM generate_series(0, $MON_SCRAPES - 1) k
        UNION ALL
        SELECT k, 1, i, 'bench_citus_mon' || E'\t' || round((random() * 100)::numeric, 2) || E'\t' ||
                        '{\"instance\": \"host-' || i || '\", \"job\": \"node\", \"region\": \"r' || i % 10 || '\"}' || E'\t' ||
                        ('$MON_T0'::timestamptz + k * interval '1 minute')
          FROM generate_series(0, $MON_SCRAPES - 1) k, generate_series(0, $MON_SERIES - 1) i
        UNION ALL
        SELECT k, 2, 0, '\.' FROM generate_series(0, $MON_SCRAPES - 1) k) x
     ORDER BY k, part, i" > "$work/data/mon.sql"

# ---- 1. ingest: the cluster first, then the single node, each after a checkpoint
declare -A DENSE_MS MON_FIRST_MS MON_WARM_MS
for n in c s; do
    q "$n" -c "CHECKPOINT"
    DENSE_MS[$n]=$(echo "COPY metrics_ex.ingest (name, value, tags, ts) FROM '$work/data/dense.copy';" | timings "$n")
    q "$n" -c "CHECKPOINT"
    mapfile -t t < <(timings "$n" < "$work/data/mon.sql")
    MON_FIRST_MS[$n]=${t[0]}
    MON_WARM_MS[$n]=$(printf '%s\n' "${t[@]:1}" | awk '{ s += $1 } END { print s + 0 }')
    echo "ingest on $n: dense ${DENSE_MS[$n]} ms; monitoring first scrape ${MON_FIRST_MS[$n]} ms, the other $((MON_SCRAPES - 1)) ${MON_WARM_MS[$n]} ms"
done
rm -f "$work/data/dense.copy" "$work/data/mon.sql"

declare -A MAT_MS
for n in c s; do
    MAT_MS[$n]=$(echo "SELECT metrics_ex.materialize();" | timings "$n")
    [[ $(q "$n" -c "SELECT count(*) FROM metrics_ex.rollup_pending") == 0 ]] ||
        echo "DIFFERENT: late deltas on $n after an on-time load (the watermark was wrong)"
    q "$n" -c "VACUUM ANALYZE"
done
count_c=$(q c -c "SELECT count(*) FROM metrics_ex.samples")
count_s=$(q s -c "SELECT count(*) FROM metrics_ex.samples")
expected=$((DENSE_ROWS + MON_SERIES * MON_SCRAPES))
[[ $count_c == "$count_s" && $count_s == "$expected" ]] ||
    echo "DIFFERENT: $count_c samples on the cluster, $count_s on the single node, $expected written"
echo "samples: cluster $count_c, single node $count_s; materialize(): cluster ${MAT_MS[c]} ms, single node ${MAT_MS[s]} ms"

# ---- 2. week-long time_series, by region
# pg_temp.ts_sql(): the statement time_series() runs, with its parameters
# written in (so that it can be EXPLAINed and re-run as it is); source raw:
# as time_series() picks its source for this aggregation (p95 while raw
# samples cover the range: exact, from raw samples); rollups: from the
# rollups, which is what time_series() reads for a percentile once raw
# samples are cut by retention
cat > "$work/fn.sql" <<'SQL'
SET client_min_messages = error;
CREATE FUNCTION pg_temp.ts_sql(name text, width interval, aggregation text, group_by text[],
                               since timestamptz, until timestamptz, source text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    g record := metrics_ex._group_sql(group_by);
    mid int := metrics_ex._metric_id(name);
    src record := metrics_ex._source(mid, since, until, width,
                      CASE WHEN source = 'rollups' THEN '{mean}'::text[] ELSE ARRAY[aggregation] END, false);
    sql text;
BEGIN
    -- width NULL: query()'s statement, one value per group
    sql := format('SELECT %s AS t, %s AS m, %s AS v %s GROUP BY 1, %s',
                  CASE WHEN width IS NULL THEN 'NULL::timestamptz'
                       ELSE format('date_bin(%L::interval, %s, ''1970-01-01 00:00:00+00''::timestamptz)', width,
                                   CASE WHEN src.mode = 'raw' THEN 'x.ts' ELSE 'u.t' END) END,
                  g.key_sql, metrics_ex._aggregate_sql(aggregation, format('%s::float8', extract(epoch FROM coalesce(width, until - since))), src.mode),
                  src.from_sql, g.group_sql);
    sql := regexp_replace(sql, '\$1\M', mid::text, 'g');
    sql := regexp_replace(sql, '\$2\M', quote_literal(since) || '::timestamptz', 'g');
    sql := regexp_replace(sql, '\$3\M', quote_literal(until) || '::timestamptz', 'g');
    RETURN regexp_replace(sql, '\$[45]\M', 'NULL::jsonb', 'g');
END $$;
CREATE FUNCTION pg_temp.run(sql text) RETURNS SETOF record LANGUAGE plpgsql AS $$
BEGIN
    RETURN QUERY EXECUTE sql;
END $$;
CREATE FUNCTION pg_temp.explain(sql text) RETURNS json LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (VERBOSE, FORMAT JSON) ' || sql INTO plan;
    RETURN plan;
END $$;
RESET client_min_messages;
SQL
declare -A SQL
for d in dense mon; do
    M=bench_citus_$d
    R="since => '$W0', until => '$END', group_by => '{region}'"
    SQL[${d}_mean]="SELECT * FROM metrics_ex.time_series('$M', 'hour', 'mean', $R)"
    SQL[${d}_p95]="SELECT * FROM metrics_ex.time_series('$M', 'hour', 'p95', $R)"
    SQL[${d}_sk95]="SELECT * FROM pg_temp.run(pg_temp.ts_sql('$M', '1 hour', 'p95', '{region}', '$W0', '$END', 'rollups'))
                     AS r(t timestamptz, m text, v float8) ORDER BY 1, 2"
    SQL[${d}_q95]="SELECT NULL::timestamptz, labels ->> 'region', value FROM metrics_ex.query('$M', 'p95', '{region}', since => '$W0', until => '$END')"
    SQL[${d}_qsk95]="SELECT * FROM pg_temp.run(pg_temp.ts_sql('$M', NULL, 'p95', '{region}', '$W0', '$END', 'rollups'))
                     AS r(t timestamptz, m text, v float8) ORDER BY 2"
    SQL[${d}_rawmean]="SELECT date_trunc('hour', ts), tags ->> 'region', avg(value) FROM metrics_ex.points
                       WHERE name = '$M' AND ts >= '$W0' AND ts < '$END' GROUP BY 1, 2 ORDER BY 1, 2"
done
declare -A MS SAME ROWS
declare -A DESC=([mean]="time_series(hour, mean) from rollups"
                 [p95]="time_series(hour, p95): exact, from raw samples"
                 [sk95]="hourly p95 from the rollups (ddsketch)"
                 [q95]="query(p95), the week as one value: exact, raw samples"
                 [qsk95]="query(p95) from the rollups (ddsketch)"
                 [rawmean]="by hand: date_trunc/avg over points")
KEYS="dense_mean dense_p95 dense_sk95 dense_q95 dense_qsk95 dense_rawmean mon_mean mon_p95 mon_sk95 mon_q95 mon_qsk95 mon_rawmean"
for k in $KEYS; do
    for n in c s; do
        MS[${k}_$n]=$(best_ms "$n" "$work/fn.sql" "${SQL[$k]}")
        q "$n" -f "$work/fn.sql" -c "${SQL[$k]}" > "$work/$k.$n"
    done
    ROWS[$k]=$(wc -l < "$work/$k.s")
    # metrics_ex's answers are the same bits; avg() over points adds in
    # whatever order the rows come, so to rounding there
    tol=$([[ $k == *rawmean ]] && echo 1e-12 || echo 0)
    if paste -d'|' "$work/$k.c" "$work/$k.s" | awk -F'|' -v tol="$tol" '
            { e = $3 - $6; if (e < 0) e = -e; m = $6 < 0 ? -$6 : $6
              if ($1 != $4 || $2 != $5 || (tol == 0 ? $3 != $6 : e > tol * m)) bad++ }
            END { exit bad || NR == 0 }' && [[ $(wc -l < "$work/$k.c") == "${ROWS[$k]}" ]]; then
        SAME[$k]=$([[ $tol == 0 ]] && echo same || echo "same to $tol")
    else
        SAME[$k]=DIFFERENT
        echo "DIFFERENT: $k: $(wc -l < "$work/$k.c") rows on the cluster, ${ROWS[$k]} on the single node; first difference:"
        diff "$work/$k.c" "$work/$k.s" | head -3 || true
    fi
    echo "$k: cluster ${MS[${k}_c]} ms, single node ${MS[${k}_s]} ms, ${ROWS[$k]} rows (${SAME[$k]})"
done
# the hand-written raw mean is the rollups' mean, to rounding (avg() adds
# in another order than xavg())
for d in dense mon; do
    for n in c s; do
        paste -d'|' "$work/${d}_mean.$n" "$work/${d}_rawmean.$n" | awk -F'|' -v w="$d on $n" '
            { e = $3 - $6; if (e < 0) e = -e; m = $6 < 0 ? -$6 : $6
              if ($1 != $4 || $2 != $5 || e > 1e-9 * m) bad++ }
            END { if (bad || NR == 0) print "DIFFERENT: " w ": " bad " of " NR " rows of time_series(mean) differ from avg() over points" }'
    done
done

# ---- 3. bytes per task for the two p95 statements
BYTE_KEYS="dense_p95 dense_sk95 dense_q95 dense_qsk95 mon_p95 mon_sk95 mon_q95 mon_qsk95"
for k in $BYTE_KEYS; do
    d=${k%%_*}
    src=$([[ $k == *sk95 ]] && echo rollups || echo raw)
    width=$([[ $k == *_q* ]] && echo NULL || echo "'1 hour'")
    q c -f "$work/fn.sql" -c "SET citus.explain_all_tasks = on" \
        -c "SELECT pg_temp.explain(pg_temp.ts_sql('bench_citus_$d', $width, 'p95', '{region}', '$W0', '$END', '$src'))" \
        > "$work/$k.plan.json"
done
# what each shard holds of the range: raw samples, and hour rollup rows
for d in dense mon; do
    mid=$(q c -c "SELECT id FROM metrics_ex.metrics WHERE name = 'bench_citus_$d'")
    for t in samples rollup_hour; do
        col=$([[ $t == samples ]] && echo ts || echo bucket)
        q c -c "SELECT shardid, result FROM run_command_on_shards('metrics_ex.$t', \$c\$
                    SELECT count(*) || ' ' || coalesce(sum(pg_column_size(x.*)), 0) FROM %s x
                     WHERE x.$col >= '$W0' AND x.$col < '$END'
                       AND x.series_id IN (SELECT id FROM metrics_ex.series WHERE metric_id = $mid)\$c\$)" \
            > "$work/${d}_$t.held"
    done
done
python3 - "$work" "$bindir/psql" "$db" $BYTE_KEYS <<'PY' > "$work/bytes.txt"
import json, re, statistics, subprocess, sys
work, psql, db = sys.argv[1:4]
keys = sys.argv[4:]

def tasks(plan):
    out = []
    def walk(node):
        if isinstance(node, dict):
            for t in node.get('Tasks', []) if isinstance(node.get('Tasks'), list) else []:
                out.append(t)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(plan)
    return out

def copy_bytes(node, sql):
    m = re.search(r'host=(\S+) port=(\d+)', node)
    res = subprocess.run([psql, '-qXAt', '-h', m.group(1), '-p', m.group(2), '-U', 'postgres', '-d', db,
                          '-v', 'ON_ERROR_STOP=1', '-c', f'COPY ({sql}) TO STDOUT (FORMAT binary)'],
                         capture_output=True, check=True)
    data = res.stdout
    # binary COPY: 11-byte signature, flags, header extension; then tuples, -1 at the end
    pos = 19 + int.from_bytes(data[15:19], 'big')
    header, rows = pos, 0
    while True:
        n = int.from_bytes(data[pos:pos + 2], 'big', signed=True)
        pos += 2
        if n == -1:
            break
        rows += 1
        for _ in range(n):
            ln = int.from_bytes(data[pos:pos + 4], 'big', signed=True)
            pos += 4 + max(ln, 0)
    return rows, len(data) - header - 2

def held(path):
    rows = [l.split('|') for l in open(path).read().split('\n') if l]
    return [tuple(map(int, r[1].split())) for r in rows]

for k in keys:
    d = k.split('_')[0]
    ts = tasks(json.load(open(f'{work}/{k}.plan.json')))
    got = [copy_bytes(t['Node'], t['Query']) for t in ts]
    raw = held(f'{work}/{d}_samples.held')
    hours = held(f'{work}/{d}_rollup_hour.held')
    print(k, len(ts), sum(r for r, _ in got), sum(b for _, b in got), max(b for _, b in got),
          len(raw), sum(r for r, _ in raw), sum(b for _, b in raw), sum(b for _, b in hours))
PY
cat "$work/bytes.txt" | sed 's/^/bytes: /'

# ---- the table
awk -v dr="$DENSE_ROWS" -v ds="$DENSE_SERIES" -v ms="$MON_SERIES" -v sc="$MON_SCRAPES" -v sh="$SHARDS" \
    -v dc="${DENSE_MS[c]}" -v dsn="${DENSE_MS[s]}" -v fc="${MON_FIRST_MS[c]}" -v fs="${MON_FIRST_MS[s]}" \
    -v wc="${MON_WARM_MS[c]}" -v ws="${MON_WARM_MS[s]}" -v mc="${MAT_MS[c]}" -v mss="${MAT_MS[s]}" \
    -v samples="$count_s" \
    -v q="$(for k in $KEYS; do
               printf '%s#%s#%s#%s#%s#%s;' "$k" "${MS[${k}_c]}" "${MS[${k}_s]}" "${ROWS[$k]}" "${SAME[$k]}" "${DESC[${k#*_}]}"; done)" \
    -v bdesc="$(for k in $BYTE_KEYS; do printf '%s;' "${DESC[${k#*_}]}"; done)" \
    -v bytes="$(tr '\n' ';' < "$work/bytes.txt")" 'BEGIN {
    f = "%-100s %10s %10s %7s\n"
    printf "\n" f, "figure (1 coordinator + 2 workers, " sh " shards, vs 1 node; best of rounds)", "Citus", "1 node", "ratio"
    printf f, "dense ingest, COPY of " dr " samples of " ds " series, rows/s", sprintf("%.0f", dr / dc * 1000),
           sprintf("%.0f", dr / dsn * 1000), sprintf("%.2f", dsn / dc)
    printf f, "monitoring: first scrape, creating " ms " series, s", sprintf("%.2f", fc / 1000), sprintf("%.2f", fs / 1000),
           sprintf("%.1fx", fc / fs)
    printf f, "monitoring: " sc - 1 " more scrapes of " ms " series, rows/s", sprintf("%.0f", ms * (sc - 1) / wc * 1000),
           sprintf("%.0f", ms * (sc - 1) / ws * 1000), sprintf("%.2f", ws / wc)
    printf f, "materialize() of both loads (" samples " samples), s", sprintf("%.2f", mc / 1000), sprintf("%.2f", mss / 1000),
           sprintf("%.1fx", mc / mss)
    n = split(q, qs, ";")
    for (i = 1; i < n; i++) {
        split(qs[i], a, "#")
        dd = (a[1] ~ /^dense/) ? "dense" : "mon."
        printf f, sprintf("%s, 7 d by region, %s, ms (%s, %d rows)", dd, a[6], a[5], a[4]),
               sprintf("%.1f", a[2]), sprintf("%.1f", a[3]), sprintf("%.1fx", a[2] / a[3])
    }
    print ""
    g = "%-62s %6s %10s %11s %12s %12s\n"
    printf g, "p95 by region over 7 days: what a task returns", "tasks", "rows/task", "bytes/task", "raw B/shard", "hour rows B"
    n = split(bytes, bs, ";")
    split(bdesc, bd, ";")
    for (i = 1; i < n; i++) {
        split(bs[i], b, " ")
        # b: key tasks rows bytes maxbytes shards rawrows rawbytes hourbytes
        name = (b[1] ~ /^dense/ ? "dense, " : "mon., ") bd[i]
        printf g, name, b[2], sprintf("%.0f", b[3] / b[2]), sprintf("%.0f", b[4] / b[2]),
               sprintf("%.0f", b[8] / b[6]), sprintf("%.0f", b[9] / b[6])
        printf "%-8s %s\n", "", sprintf("coordinator received %.1f KB in all (max %.1f KB a task), %.1f%% of the %.1f MB of raw samples (%d rows) the shards hold",
               b[4] / 1024, b[5] / 1024, 100 * b[4] / b[8], b[8] / 1048576, b[7])
    }
    print "ratio: Citus / 1 node for times (above 1 is slower on Citus), 1 node / Citus for rows/s (below 1 is slower)"
    print "on one 2-core machine these are Citus overheads, not scale-out"
}'
