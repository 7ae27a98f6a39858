#!/usr/bin/env bash
# The launcher and schedulers under an operator's conditions, on a cluster of
# its own with metrics_ex.max_workers = 2 (the port after the test cluster's,
# plus 12):
#   - four databases, two without the extension: both that have it get their
#     jobs run; a fifth with the extension is left out with a WARNING and
#     shows in workers()
#   - ALTER DATABASE ... RENAME and CREATE DATABASE ... TEMPLATE succeed while
#     a scheduler is connected, and it comes back
#   - a job over its time limit is cancelled; a run the server did not
#     survive is recorded as crashed and waits longer
#   - no job runs while pg_restore is connected
#   - nothing starts under pg_upgrade
# Usage: test/e2e_scheduler.sh (PGPORT set: the test cluster's port)
set -uo pipefail
cd "$(dirname "$0")/.."
bindir=${PG_BINDIR:-/usr/lib/postgresql/15/bin}
port=$((${PGPORT:-55432} + 12))
dir=$(mktemp -d /tmp/metrics_ex_sched.XXXXXX)
chmod 755 "$dir"
new=
cleanup() {
    bash test/cluster.sh stop "$dir" 2>/dev/null
    [[ -n $new && -f $new/data/postmaster.pid ]] && runuser -u postgres -- "$bindir/pg_ctl" -D "$new/data" -m fast -w stop >/dev/null 2>&1
    rm -rf "$dir" ${new:+"$new"}
}
trap cleanup EXIT
[[ -n ${KEEP:-} ]] && trap - EXIT
. test/tap.sh
host=$dir cport=$port
conn() { psql -qXAt -h "$host" -p "$cport" -U postgres -v ON_ERROR_STOP=1 -d "$@"; }
check() { tap_wait "$1" "${4:-0}" conn "$2" -c "$3"; }   # check DESC DB SQL [timeout]

bash test/cluster.sh start "$dir" "$port" "metrics_ex.max_workers = 2" "log_min_messages = info"
for db in a_plain b_plain c_metrics d_metrics; do conn postgres -c "CREATE DATABASE $db"; done
for db in c_metrics d_metrics; do
    conn "$db" -c "CREATE EXTENSION metrics_ex" -c "SELECT metrics_ex.alter_job('materialize', '1 second')" >/dev/null
done
ran="SELECT count(*) > 0 FROM metrics_ex.job_runs WHERE job = 'materialize' AND status = 'succeeded'"
check "with max_workers = 2 and two databases without the extension, c_metrics gets its jobs run" c_metrics "$ran" 60
check "and so does d_metrics" d_metrics "$ran" 30
check "workers() shows the two running schedulers" c_metrics \
      "SELECT count(*) = 2 FROM metrics_ex.workers() w JOIN pg_database d ON d.oid = w.datid
        WHERE w.state = 'running' AND d.datname IN ('c_metrics', 'd_metrics')" 10

conn postgres -c "CREATE DATABASE e_metrics"
conn e_metrics -c "CREATE EXTENSION metrics_ex"
check "a third database with the extension is left out and shows in workers()" c_metrics \
      "SELECT EXISTS (SELECT 1 FROM metrics_ex.workers() w JOIN pg_database d ON d.oid = w.datid
                      WHERE d.datname = 'e_metrics' AND w.state = 'no slot')" 20
for _ in 1 2 3 4 5; do grep -q 'database "e_metrics" has metrics_ex but gets no scheduler' "$dir/server.log" && break; sleep 1; done
if grep -q 'database "e_metrics" has metrics_ex but gets no scheduler' "$dir/server.log"; then
    tap_ok "with a WARNING in the log"
else
    tap_not_ok "with a WARNING in the log"
fi
conn postgres -c "DROP DATABASE e_metrics"

# ---- commands that need the database to themselves ----
if out=$(conn postgres -c "ALTER DATABASE c_metrics RENAME TO c_renamed" 2>&1); then
    tap_ok "ALTER DATABASE RENAME succeeds while its scheduler runs"
else
    tap_not_ok "ALTER DATABASE RENAME: $out"
fi
check "and the scheduler comes back" c_renamed \
      "SELECT EXISTS (SELECT 1 FROM metrics_ex.workers() w WHERE w.datid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND w.state = 'running')" 30
if out=$(conn postgres -c "CREATE DATABASE d_copy TEMPLATE d_metrics" 2>&1); then
    tap_ok "CREATE DATABASE ... TEMPLATE succeeds while its scheduler runs"
else
    tap_not_ok "CREATE DATABASE ... TEMPLATE: $out"
fi
conn postgres -c "DROP DATABASE IF EXISTS d_copy" >/dev/null
check "and that scheduler comes back too" d_metrics \
      "SELECT EXISTS (SELECT 1 FROM metrics_ex.workers() w WHERE w.datid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND w.state = 'running')" 30

# ---- time limits, crashes, restores ----
conn c_renamed -c "SELECT metrics_ex.add_job('sleepy', 'SELECT pg_sleep(30)', '1 second', timeout => '1 second')" >/dev/null
check "a job over its time limit is cancelled and logged" c_renamed \
      "SELECT EXISTS (SELECT 1 FROM metrics_ex.job_runs WHERE job = 'sleepy' AND status = 'failed'
                      AND error = 'the job ran longer than its timeout')" 60
conn c_renamed -c "SELECT metrics_ex.remove_job('sleepy')" >/dev/null

conn d_metrics -c "SELECT metrics_ex.add_job('crashy', 'SELECT pg_sleep(600)', '1 second')" >/dev/null
check "a long job is running" d_metrics "SELECT running_since IS NOT NULL FROM metrics_ex.jobs WHERE job = 'crashy'" 60
# the test cluster commits asynchronously (synchronous_commit = off): the
# mark of the running job must reach the WAL on disk before the crash
conn d_metrics -c "CHECKPOINT" >/dev/null
runuser -u postgres -- "$bindir/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null
bash test/cluster.sh start "$dir" "$port"
check "after a crash its run is recorded as crashed" d_metrics \
      "SELECT EXISTS (SELECT 1 FROM metrics_ex.job_runs WHERE job = 'crashy' AND status = 'crashed')" 60
check "and it waits longer before the next try" d_metrics \
      "SELECT next_run > now() + interval '3 minutes' AND running_since IS NULL FROM metrics_ex.jobs WHERE job = 'crashy'"
conn d_metrics -c "SELECT metrics_ex.remove_job('crashy')" >/dev/null

check "materialize runs again after the restart" c_renamed "$ran" 60
PGAPPNAME=pg_restore conn c_renamed -c "SELECT pg_sleep(8)" >/dev/null &
sleep 2
before=$(conn c_renamed -c "SELECT count(*) FROM metrics_ex.job_runs")
sleep 4
after=$(conn c_renamed -c "SELECT count(*) FROM metrics_ex.job_runs")
if [[ $before == "$after" ]]; then tap_ok "no job runs while pg_restore is connected"
else tap_not_ok "jobs ran while pg_restore was connected ($before -> $after)"; fi
wait
check "and jobs run again when it is gone" c_renamed \
      "SELECT count(*) > $after FROM metrics_ex.job_runs" 15

# ---- pg_upgrade: nothing may start while it copies the catalogs ----
bash test/cluster.sh stop "$dir"
new=$(mktemp -d /tmp/metrics_ex_upgrade.XXXXXX)
chown postgres: "$new"
runuser -u postgres -- "$bindir/initdb" -D "$new/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 >/dev/null
cat >> "$new/data/postgresql.conf" <<CONF
shared_preload_libraries = 'metrics_ex'
max_worker_processes = 16
log_min_messages = info
unix_socket_directories = '$new'
listen_addresses = ''
CONF
if (cd "$new" && runuser -u postgres -- "$bindir/pg_upgrade" -b "$bindir" -B "$bindir" -d "$dir/data" -D "$new/data" \
        -p $((port + 1)) -P $((port + 2)) -s "$new" >"$new/upgrade.out" 2>&1); then
    tap_ok "pg_upgrade succeeds with metrics_ex preloaded"
else
    tap_not_ok "pg_upgrade succeeds with metrics_ex preloaded" "$(tail -20 "$new/upgrade.out")"
fi
if grep -rqs "metrics_ex scheduler\|metrics_ex launcher" "$new/data/pg_upgrade_output.d" "$new"/*.log 2>/dev/null; then
    tap_not_ok "a metrics_ex worker ran under pg_upgrade"
else
    tap_ok "no metrics_ex worker ran under pg_upgrade"
fi
upgraded_at=$(date -u +'%Y-%m-%d %H:%M:%S+00')
# on its socket only (the tests reach it there): no TCP port to find taken
runuser -u postgres -- "$bindir/pg_ctl" -D "$new/data" -o "-p $((port + 2))" -l "$new/server.log" -w start >/dev/null ||
    { echo "# the upgraded cluster did not start:"; tail -20 "$new/server.log" | sed 's/^/#   /'; }
host=$new cport=$((port + 2))
check "the upgraded cluster runs its jobs" c_renamed \
      "SELECT count(*) > 0 FROM metrics_ex.job_runs WHERE started_at > '$upgraded_at'" 60

tap_done
