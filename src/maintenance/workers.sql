-- metrics_ex background workers: the wake-up of CREATE EXTENSION and a
-- monitoring view.  Without shared_preload_libraries they do nothing.

-- Called by the install script only (it runs as the extension's owner).
CREATE FUNCTION metrics_ex._wake_launcher() RETURNS bool
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'metrics_ex_wake_launcher';
REVOKE ALL ON FUNCTION metrics_ex._wake_launcher() FROM PUBLIC;

CREATE FUNCTION metrics_ex.workers(OUT datid oid, OUT state text, OUT pid int)
RETURNS SETOF record
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'metrics_ex_workers';
COMMENT ON FUNCTION metrics_ex.workers() IS
    'Schedulers as the launcher sees them (starting, running, stopped) and databases left without one (no slot, unchecked)';
