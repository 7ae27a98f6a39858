#!/usr/bin/env bash
# Series ids across sessions, end to end, with the shared dictionary (the test
# cluster preloads metrics_ex) and without it (a second cluster without
# shared_preload_libraries):
#   - a series made by one session is found by a new one in the dictionary:
#     writing 100 known series scans metrics_ex.series not once; with the
#     dictionary emptied, or without one, a new session reads the metric's
#     series with one query, not one per series
#   - after DELETE of a metric, DELETE of a series or TRUNCATE, a session
#     that had the old ids cached and a new session both write into one new
#     series, never into the deleted id; a DELETE rolled back changes nothing
#   - the series limit stays exact with two concurrent creators, in READ
#     COMMITTED and in REPEATABLE READ
#   - series made by a prepared transaction that rolls back are not used
#     afterwards (without preloading: with it, PREPARE after a DELETE of
#     series is refused)
#   - a dictionary too small for what is written stays within its memory,
#     empties itself for room, and every sample lands in its own series
# Scans are counted with pg_stat_xact_user_tables: this transaction's own.
# Usage: test/e2e_series.sh (PGHOST/PGPORT/PGUSER set: the test cluster)
set -uo pipefail
cd "$(dirname "$0")/.."
db=metrics_ex_series
work=$(mktemp -d /tmp/metrics_ex_series.XXXXXX)
chmod 777 "$work"
plain_dir=$work/plain
plain_port=$((${PGPORT:-55432} + 15))
small_dir=$work/small
small_port=$((${PGPORT:-55432} + 16))
sessions=()
cleanup() {
    for s in "${sessions[@]}"; do kill "$s" 2>/dev/null; done
    wait 2>/dev/null
    bash test/cluster.sh stop "$plain_dir" 2>/dev/null
    bash test/cluster.sh stop "$small_dir" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
. test/tap.sh
q() { PGOPTIONS="-c client_min_messages=warning" psql -qXAt -d "$db" -v ON_ERROR_STOP=1 "$@"; }

# ---- sessions that stay open: psql reading a FIFO ----
# open NAME: start; send NAME SQL: queue SQL; collect NAME: its output since
# the last collect, once everything sent has run; run NAME SQL: both
open_session() {
    rm -f "$work/$1.in"
    mkfifo "$work/$1.in"
    PGOPTIONS="-c client_min_messages=warning" psql -qXAt -d "$db" <"$work/$1.in" >"$work/$1.out" 2>&1 &
    sessions+=($!)
    eval "exec {fd_$1}>\"$work/$1.in\""
    : >"$work/$1.seen"
}
send() { local fd="fd_$1" sql=$2; [[ $sql == \\* ]] || sql="$sql;"; printf '%s\n' "$sql" >&${!fd}; }
collect() {
    local mark="__done_${RANDOM}_$RANDOM" waited=0
    send "$1" "\\echo $mark"
    until grep -q "^$mark\$" "$work/$1.out"; do
        sleep 0.1; waited=$((waited + 1))
        ((waited > 600)) && { echo "session $1 hangs" >&2; return 1; }
    done
    local seen; seen=$(wc -l <"$work/$1.seen")
    sed -n "$((seen + 1)),\$p" "$work/$1.out" | sed "/^$mark\$/,\$d"
    cp "$work/$1.out" "$work/$1.seen"
}
run() { send "$1" "$2"; collect "$1"; }
close_session() { local fd="fd_$1"; eval "exec ${!fd}>&-"; }

# 100 rows of metric $1, value $2, tags {"instance": "host-N", "job": "node"}
rows() {
    echo "INSERT INTO metrics_ex.ingest (name, value, tags, ts)
          SELECT '$1', $2, '{\"instance\": \"host-' || i || '\", \"job\": \"node\"}',
                 timestamptz '2026-11-20 10:00:00+00' + i * interval '1 second'
          FROM generate_series(1, 100) i"
}
series_scans="SELECT coalesce(sum(seq_scan + idx_scan), 0) FROM pg_stat_xact_user_tables
              WHERE relid = 'metrics_ex.series'::regclass"
# a new session writes the 100 known series in one transaction: its scans of series
new_session_scans() { q -c "BEGIN" -c "$(rows "$1" "$2")" -c "$series_scans" -c "COMMIT"; }
series_of_value() {
    q -c "SELECT string_agg(DISTINCT s.series_id::text, ',') FROM metrics_ex.samples s WHERE s.value = $1"
}
same() { if [[ $2 == "$3" ]]; then tap_ok "$1"; else tap_not_ok "$1" "got '$2', want '$3'"; fi; }

setup_db() {
    PGOPTIONS="-c client_min_messages=warning" psql -qX -d postgres \
        -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    q >/dev/null <<'SQL'
CREATE EXTENSION metrics_ex;
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
SELECT metrics_ex.define('dict_value', 'gauge');
SQL
}

# ---- after deletes, old and new sessions make one new series ----
deletes() {
    local label=$1 old_id new_id
    open_session old
    run old "SELECT metrics_ex.increment('del_total', 1001, '{\"k\": \"v\"}', '2026-11-20 10:00:00+00')" >/dev/null
    run old "INSERT INTO metrics_ex.ingest (name, value, tags, ts) VALUES ('del_total', 1002, '{\"k\": \"v\"}', '2026-11-20 10:00:01+00')" >/dev/null
    old_id=$(series_of_value 1002)
    same "$label: the old session wrote both samples into one series" "$(series_of_value 1001)" "$old_id"

    local what
    for what in "DELETE FROM metrics_ex.metrics WHERE name = 'del_total'" \
                "DELETE FROM metrics_ex.series WHERE tags = '{\"k\": \"v\"}'" \
                "TRUNCATE metrics_ex.metrics CASCADE"; do
        local before; before=$(q -c "SELECT count(*) FROM metrics_ex.samples WHERE series_id = $old_id")
        q -c "$what" >/dev/null
        run old "SELECT metrics_ex.increment('del_total', 1011, '{\"k\": \"v\"}', '2026-11-20 10:00:02+00')" >/dev/null
        run old "INSERT INTO metrics_ex.ingest (name, value, tags, ts) VALUES ('del_total', 1012, '{\"k\": \"v\"}', '2026-11-20 10:00:03+00')" >/dev/null
        q -c "INSERT INTO metrics_ex.ingest (name, value, tags, ts) VALUES ('del_total', 1013, '{\"k\": \"v\"}', '2026-11-20 10:00:04+00')"
        new_id=$(series_of_value 1011)
        same "$label, ${what%% WHERE*}: the old session's function call made a new series" \
             "$(q -c "SELECT $new_id <> $old_id AND EXISTS (SELECT 1 FROM metrics_ex.series WHERE id = $new_id)")" t
        same "$label, ${what%% WHERE*}: its COPY-path row and a new session's row went into it too" \
             "$(series_of_value 1012),$(series_of_value 1013)" "$new_id,$new_id"
        same "$label, ${what%% WHERE*}: nothing more was written into the deleted id" \
             "$(q -c "SELECT count(*) FROM metrics_ex.samples WHERE series_id = $old_id")" "$before"
        q -c "DELETE FROM metrics_ex.samples WHERE value IN (1011, 1012, 1013)"
        old_id=$new_id
    done

    # in one transaction, and a delete that rolls back
    run old "BEGIN" >/dev/null
    run old "SELECT metrics_ex.increment('del_total', 1021, '{\"k\": \"v\"}', '2026-11-20 10:00:05+00')" >/dev/null
    run old "DELETE FROM metrics_ex.metrics WHERE name = 'del_total'" >/dev/null
    run old "SELECT metrics_ex.increment('del_total', 1022, '{\"k\": \"v\"}', '2026-11-20 10:00:06+00')" >/dev/null
    run old "COMMIT" >/dev/null
    same "$label: a delete in the writer's own transaction: the next write makes a new series" \
         "$(q -c "SELECT $(series_of_value 1021) <> $(series_of_value 1022) AND EXISTS (SELECT 1 FROM metrics_ex.series WHERE id = $(series_of_value 1022))")" t
    old_id=$(series_of_value 1022)
    q -c "BEGIN" -c "DELETE FROM metrics_ex.metrics WHERE name = 'del_total'" -c "ROLLBACK"
    run old "SELECT metrics_ex.increment('del_total', 1023, '{\"k\": \"v\"}', '2026-11-20 10:00:07+00')" >/dev/null
    same "$label: a delete rolled back elsewhere: the same series goes on" "$(series_of_value 1023)" "$old_id"
    close_session old
}

# ---- two concurrent creators under a limit of 100 ----
limit() {
    local label=$1 iso=$2 out
    q -c "DELETE FROM metrics_ex.metrics WHERE name = 'lim_value'" \
      -c "DELETE FROM metrics_ex.samples WHERE value BETWEEN 2001 AND 2005" \
      -c "SELECT metrics_ex.define('lim_value', 'gauge', max_series => 100)" >/dev/null
    open_session a
    open_session b
    # b's transaction takes its snapshot before a commits
    run b "BEGIN ISOLATION LEVEL $iso" >/dev/null
    run b "SELECT count(*) FROM metrics_ex.series" >/dev/null
    run a "BEGIN" >/dev/null
    run a "$(rows lim_value 2001 | sed 's/1, 100/1, 60/')" >/dev/null
    send b "$(rows lim_value 2002 | sed "s/host-/other-/; s/1, 100/1, 50/")"
    sleep 1
    run a "COMMIT" >/dev/null
    out=$(collect b)
    run b "ROLLBACK" >/dev/null
    same "$label, $iso: the second creator waited for the first and was refused (60 + 50 > 100)" \
         "$(grep -c 'reached its limit of 100 series' <<<"$out")" 1
    same "$label, $iso: and made none: 60 series" \
         "$(q -c "SELECT count(*) FROM metrics_ex.series s JOIN metrics_ex.metrics m ON m.id = s.metric_id WHERE m.name = 'lim_value'")" 60
    run b "$(rows lim_value 2003 | sed "s/host-/other-/; s/1, 100/1, 40/")" >/dev/null
    same "$label, $iso: 40 more fit exactly" \
         "$(q -c "SELECT count(*) FROM metrics_ex.series s JOIN metrics_ex.metrics m ON m.id = s.metric_id WHERE m.name = 'lim_value'")" 100
    out=$(run a "$(rows lim_value 2004 | sed "s/host-/third-/; s/1, 100/1, 1/")")
    same "$label, $iso: the 101st is refused" "$(grep -c 'reached its limit of 100 series' <<<"$out")" 1
    run a "$(rows lim_value 2005 | sed 's/1, 100/1, 60/')" >/dev/null
    same "$label, $iso: known series keep recording" "$(q -c "SELECT count(*) FROM metrics_ex.samples WHERE value = 2005")" 60
    close_session a
    close_session b
}

# ================= with the shared dictionary =================
setup_db
same "the dictionary is there when preloaded" "$(q -c "SELECT enabled FROM metrics_ex.series_dictionary()")" t
same "it covers every database, so PUBLIC may not look at it" \
     "$(q -c "SELECT has_function_privilege('public', 'metrics_ex.series_dictionary()', 'EXECUTE')")" f
# one session makes 100 series, and writes them again in its next transaction
q -c "$(rows dict_value 1)" -c "$(rows dict_value 2)"
same "a new session finds 100 series made by another without scanning metrics_ex.series" \
     "$(new_session_scans dict_value 3)" 0
same "the same series ids" \
     "$(q -c "SELECT count(DISTINCT series_id) FROM metrics_ex.samples WHERE value IN (1, 2, 3)"),$(q -c "SELECT count(*) FROM metrics_ex.series")" 100,100
same "so do the record functions (canonical tags)" \
     "$(q -c "BEGIN" -c "SELECT count(metrics_ex.gauge('dict_value', 4, jsonb_build_object('instance', 'host-' || i, 'job', 'node'), '2026-11-20 11:00:00+00')) FROM generate_series(1, 100) i" -c "$series_scans" -c "COMMIT" | tail -1)" 0
# any removal of series empties the dictionary: a new session loads the metric at once
gen=$(q -c "SELECT generation FROM metrics_ex.series_dictionary()")
q -c "SELECT metrics_ex.gauge('unrelated', 99)" -c "DELETE FROM metrics_ex.metrics WHERE name = 'unrelated'" >/dev/null
same "a DELETE of series moves the dictionary to its next generation" \
     "$(q -c "SELECT generation > $gen FROM metrics_ex.series_dictionary()")" t
scans=$(new_session_scans dict_value 5)
same "with the dictionary emptied, a new session reads the metric's series at once (scans: $scans)" \
     "$(( scans >= 1 && scans <= 2 ))" 1
same "and puts them back: the next new session scans nothing" "$(new_session_scans dict_value 6)" 0
same "every sample in one of the 100 series" \
     "$(q -c "SELECT count(*), count(DISTINCT series_id) FROM metrics_ex.samples WHERE value BETWEEN 1 AND 6")" "600|100"
deletes "shared"
limit "shared" "READ COMMITTED"
limit "shared" "REPEATABLE READ"

# ================= without preloading =================
bash test/cluster.sh start "$plain_dir" "$plain_port" "shared_preload_libraries = ''" \
    "max_prepared_transactions = 2"
export PGHOST=$plain_dir PGPORT=$plain_port
setup_db
same "without preloading there is no dictionary" "$(q -c "SELECT enabled FROM metrics_ex.series_dictionary()")" f
q -c "$(rows dict_value 1)"
scans=$(new_session_scans dict_value 2)
same "a new session reads the metric's 100 series with one query, not 100 (scans: $scans)" \
     "$(( scans >= 1 && scans <= 2 ))" 1
scans=$(new_session_scans dict_value 3)
same "and so does the next one (scans: $scans)" "$(( scans >= 1 && scans <= 2 ))" 1
same "every sample in one of the 100 series" \
     "$(q -c "SELECT count(*), count(DISTINCT series_id) FROM metrics_ex.samples WHERE value BETWEEN 1 AND 3")" "300|100"
deletes "no preload"
limit "no preload" "READ COMMITTED"
limit "no preload" "REPEATABLE READ"

# a prepared transaction's series are not used after it rolls back
open_session p
run p "BEGIN" >/dev/null
run p "SELECT metrics_ex.increment('prep_total', 1, '{\"p\": \"1\"}', '2026-11-20 10:00:00+00')" >/dev/null
run p "PREPARE TRANSACTION 'mx_series'" >/dev/null
run p "ROLLBACK PREPARED 'mx_series'" >/dev/null
out=$(run p "SELECT metrics_ex.increment('prep_total', 2, '{\"p\": \"1\"}', '2026-11-20 10:00:01+00')")
same "after ROLLBACK PREPARED the session makes the metric and series again" \
     "$out|$(q -c "SELECT count(*) FROM metrics_ex.samples s JOIN metrics_ex.series se ON se.id = s.series_id JOIN metrics_ex.metrics m ON m.id = se.metric_id WHERE m.name = 'prep_total'")" "|1"
close_session p
PGOPTIONS="-c client_min_messages=warning" psql -qX -d postgres -c "DROP DATABASE $db" >/dev/null
bash test/cluster.sh stop "$plain_dir"

# ================= a dictionary too small =================
bash test/cluster.sh start "$small_dir" "$small_port" "metrics_ex.series_cache_size = 8MB"
export PGHOST=$small_dir PGPORT=$small_port
setup_db
# 20,000 series, each with an entry for its tags and one for their text: more than fits
big_rows() {
    echo "INSERT INTO metrics_ex.ingest (name, value, tags, ts)
          SELECT 'dict_value', i, '{\"instance\": \"host-' || i || '\", \"job\": \"node\"}',
                 timestamptz '2026-11-20 10:00:00+00' + $1 * interval '1 minute'
          FROM generate_series(1, 20000) i"
}
gen=$(q -c "SELECT generation FROM metrics_ex.series_dictionary()")
q -c "SELECT metrics_ex.define('dict_value', 'gauge', max_series => 20000)" -c "$(big_rows 0)" -c "$(big_rows 1)" >/dev/null
q -c "$(big_rows 2)"
same "a full dictionary stays within its memory" \
     "$(q -c "SELECT entries > 1000 AND bytes_used <= bytes_limit FROM metrics_ex.series_dictionary()")" t
same "and empties itself for room (its generation moved on)" \
     "$(q -c "SELECT generation > $gen FROM metrics_ex.series_dictionary()")" t
same "every sample in its own series, each written once a minute" \
     "$(q -c "SELECT count(*), count(DISTINCT s.series_id),
                     count(*) FILTER (WHERE se.tags ->> 'instance' <> 'host-' || s.value::int)
              FROM metrics_ex.samples s JOIN metrics_ex.series se ON se.id = s.series_id")" "60000|20000|0"
bash test/cluster.sh stop "$small_dir"
tap_done
