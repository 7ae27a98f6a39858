-- metrics_ex background workers: wake-ups and a monitoring view.  Without
-- shared_preload_libraries these do nothing and report false.

CREATE FUNCTION metrics_ex._wake_launcher() RETURNS bool
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'metrics_ex_wake_launcher';
CREATE FUNCTION metrics_ex._wake_scheduler() RETURNS bool
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'metrics_ex_wake_scheduler';

CREATE FUNCTION metrics_ex.workers(OUT datid oid, OUT state text, OUT pid int)
RETURNS SETOF record
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'metrics_ex_workers';
COMMENT ON FUNCTION metrics_ex.workers() IS
    'The scheduler of each database as the launcher sees it (empty without shared_preload_libraries)';
