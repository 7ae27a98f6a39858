#!/usr/bin/env bash
# metrics_ex.notify: a second connection LISTENs and receives the samples a
# writer records, only after the writer commits, batched below NOTIFY's
# payload limit.  Usage: test/e2e_notify.sh (PGHOST/PGPORT/PGUSER set)
set -euo pipefail
cd "$(dirname "$0")/.."
db=metrics_ex_notify
psql -qX -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
psql -qX -d "$db" -c "CREATE EXTENSION metrics_ex" >/dev/null

passed=0 failed=0
check() {   # check NAME EXPECTED ACTUAL
    if [[ $2 == "$3" ]]; then echo "ok - $1"; passed=$((passed + 1))
    else echo "not ok - $1: expected [$2], got [$3]"; failed=$((failed + 1)); fi
}

# The listener: a psql session fed through a fifo, so that it can LISTEN
# first and then be asked to print what arrived.  psql prints notifications
# as: Asynchronous notification "chan" with payload "..." received from ...
tmp=$(mktemp -d)
trap 'exec 3>&- 2>/dev/null || true; rm -rf "$tmp"' EXIT
mkfifo "$tmp/in"
psql -qX -d "$db" <"$tmp/in" >"$tmp/out" 2>&1 &
listener=$!
exec 3>"$tmp/in"
echo 'LISTEN metrics_ex; LISTEN "metrics_ex_Per_Metric";' >&3
sleep 1

# 1. a sample announced at commit, with its fields
psql -qX -d "$db" -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET metrics_ex.notify = on;
BEGIN;
SELECT metrics_ex.gauge('notify_depth', 42, '{"queue": "q,1", "trace_id": "t-9"}', '2026-11-20 10:00:00+00');
COMMIT;
SQL
# ... and one in a transaction that rolls back: never announced
psql -qX -d "$db" -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET metrics_ex.notify = on;
BEGIN;
SELECT metrics_ex.gauge('notify_rolled_back', 1);
ROLLBACK;
SQL
# 2. notify off (the default): nothing
psql -qX -d "$db" -v ON_ERROR_STOP=1 -c "SELECT metrics_ex.gauge('notify_silent', 1)" >/dev/null
# 3. a bulk load of 5000 rows: batched, every sample announced once
psql -qX -d "$db" -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET metrics_ex.notify = on;
INSERT INTO metrics_ex.ingest (name, value, tags)
SELECT 'notify_bulk_total', 1, '{"host": "a"}' FROM generate_series(1, 5000);
SQL
# ... and through the COPY fast path
for i in $(seq 1 2000); do printf 'notify_copy_total\t1\t{"host": "c", "work_id": "w%d"}\n' "$i"; done |
    PGOPTIONS='-c metrics_ex.notify=on' psql -qX -d "$db" -v ON_ERROR_STOP=1 \
        -c "COPY metrics_ex.ingest (name, value, tags) FROM STDIN" >/dev/null
# 4. per-metric channel
psql -qX -d "$db" -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
SET metrics_ex.notify = per_metric;
SELECT metrics_ex.increment('Per_Metric', 3);
SQL
sleep 1
echo 'SELECT 1 AS flush;' >&3
sleep 1
exec 3>&-
wait "$listener" || true

# The payloads, one per line, decoded with Perl's JSON::PP
perl -MJSON::PP -ne '
    next unless /^Asynchronous notification "([^"]+)" with payload "(.*)" received from server process/;
    my ($ch, $p) = ($1, $2);
    my $d = decode_json($p);
    printf "%s\t%d\t%d\t%s\n", $ch, length($p), $d->{seq},
        join(";", map { join("|", $_->{name}, $_->{kind}, $_->{value}, $_->{ts},
                             JSON::PP->new->canonical->encode($_->{tags})) } @{$d->{samples}});
' "$tmp/out" >"$tmp/decoded" || true

check "the gauge arrives with name, kind, value, ts, tags and lineage" \
    'notify_depth|gauge|42|2026-11-20T10:00:00+00:00|{"queue":"q,1","trace_id":"t-9"}' \
    "$(grep -o 'notify_depth[^;]*' "$tmp/decoded" | head -1 | cut -f1)"
check "a rolled-back sample is not announced" 0 "$(grep -c notify_rolled_back "$tmp/decoded" || true)"
check "nothing is announced with metrics_ex.notify off" 0 "$(grep -c notify_silent "$tmp/decoded" || true)"
check "every bulk sample is announced once, with its tags" 5000 \
    "$(tr ';' '\n' <"$tmp/decoded" | grep -c 'notify_bulk_total|counter|1|[^|]*|{"host":"a"}$' || true)"
check "every COPY sample is announced once, with tags and lineage" 2000 \
    "$(tr ';' '\n' <"$tmp/decoded" | grep -E 'notify_copy_total\|counter\|1\|[^|]*\|\{"host":"c","work_id":"w[0-9]+"\}$' | sort -u | wc -l)"
nbulk=$(grep -c 'notify_bulk_total' "$tmp/decoded" || true)
check "the bulk load is batched (fewer than 100 notifications)" yes "$( ((nbulk > 0 && nbulk < 100)) && echo yes || echo "no: $nbulk")"
check "no payload reaches 8000 bytes" 0 "$(awk -F'\t' '$2 >= 8000' "$tmp/decoded" | wc -l)"
check "per_metric sends on metrics_ex_<name>" 'metrics_ex_Per_Metric' \
    "$(grep 'Per_Metric|counter|3|' "$tmp/decoded" | cut -f1)"

psql -qX -d postgres -c "DROP DATABASE $db" >/dev/null
echo "$passed passed, $failed failed"
((failed == 0))
