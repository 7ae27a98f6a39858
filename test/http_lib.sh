# Sourced by the end-to-end scripts of the HTTP endpoint (e2e_http.sh,
# e2e_page.sh), which run a cluster of their own; PGHOST and PGPORT name it.
#   q ARGS...                 psql, quiet, stopping at the first error
#   body SQL                  the exact bytes of a text result (psql would add a newline)
#   set_conf NAME VALUE       ALTER SYSTEM SET and reload
#   wait_for COMMAND...       until COMMAND succeeds, at most 15 s (a reload or a restart reaches the worker)
#   status_is CODE CURL_ARGS  curl answers with that HTTP status
#   hold_lock TABLE           statement_timeout = 1s for the worker, then an ACCESS EXCLUSIVE lock
#                             on TABLE held for 3 s in the background (its pid in $locker); returns
#                             once the lock is held.  release_lock waits for it and resets the timeout.
q() { PGOPTIONS="-c client_min_messages=warning" psql -qXAt -v ON_ERROR_STOP=1 "$@"; }
body() { q -c "SELECT encode(convert_to($1, 'UTF8'), 'base64')" | base64 -d; }
set_conf() { q -c "ALTER SYSTEM SET $1 = '$2'" -c "SELECT pg_reload_conf()" >/dev/null; }
wait_for() { for _ in $(seq 150); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }
status_is() { [[ $(curl -s -o /dev/null -w '%{http_code}' "${@:2}") == "$1" ]]; }
hold_lock() {
    set_conf statement_timeout 1s
    wait_for bash -c "[[ \$(psql -qXAt -c 'SHOW statement_timeout') == 1s ]]"
    sleep 0.5    # the worker rereads the settings on the same reload
    q -c "SET statement_timeout = 0" -c "BEGIN" -c "LOCK TABLE $1 IN ACCESS EXCLUSIVE MODE" \
      -c "SELECT pg_sleep(3)" -c "COMMIT" >/dev/null &
    locker=$!
    wait_for bash -c "[[ \$(psql -qXAt -c \"SELECT count(*) FROM pg_locks WHERE relation = '$1'::regclass AND mode = 'AccessExclusiveLock' AND granted\") == 1 ]]"
}
release_lock() {
    wait "$locker"
    q -c "ALTER SYSTEM RESET statement_timeout" -c "SELECT pg_reload_conf()" >/dev/null
}
