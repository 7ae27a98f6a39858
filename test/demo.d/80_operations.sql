-- metrics_ex demo: living in a production database.  Who runs what, how
-- maintenance keeps out of the way, what a writer cannot do.
SET client_min_messages = warning;

\echo '== the write path runs no DDL: a sample of a day without a partition waits in the default partition'
SELECT metrics_ex.gauge('demo_far_future', 1, '{}', '2099-01-01 00:00:00+00');
SELECT tableoid::regclass AS stored_in, ts, value FROM metrics_ex.samples WHERE ts >= '2099-01-01';
\echo '== maintenance made the day partitions ahead of time (and moves waiting samples into theirs)'
SELECT partition, lower_bound, upper_bound FROM metrics_ex.partitions() ORDER BY lower_bound DESC LIMIT 4;
SELECT metrics_ex.prune() - 'rollup_rows_deleted' AS prune;

\echo '== jobs run as their owner; the built-in ones as the extension''s owner'
DROP ROLE IF EXISTS demo_etl;
CREATE ROLE demo_etl;
GRANT USAGE ON SCHEMA metrics_ex TO demo_etl;
GRANT EXECUTE ON FUNCTION metrics_ex.add_job(text, text, interval, interval) TO demo_etl;
SET ROLE demo_etl;
SELECT metrics_ex.add_job('demo_try_superuser', 'ALTER ROLE demo_etl SUPERUSER', '1 day', timeout => '1 minute');
RESET ROLE;
SELECT metrics_ex.run_job('demo_try_superuser') AS run_by_a_superuser;
SELECT job, owner, schedule, timeout, last_status, last_error FROM metrics_ex.jobs ORDER BY job;
SELECT rolsuper AS demo_etl_is_superuser FROM pg_roles WHERE rolname = 'demo_etl';
SELECT metrics_ex.remove_job('demo_try_superuser');
DROP OWNED BY demo_etl;
DROP ROLE demo_etl;

\echo '== the schedulers: one per database with the extension (workers() also lists those left without one)'
SELECT d.datname, w.state FROM metrics_ex.workers() w JOIN pg_database d ON d.oid = w.datid ORDER BY 1;

\echo '== tables the write path writes by hand are checked before each write'
BEGIN;
ALTER TABLE metrics_ex.samples ADD COLUMN note text NOT NULL DEFAULT 'n';
\set ON_ERROR_STOP 0
SELECT metrics_ex.gauge('demo_shape', 1);
\set ON_ERROR_STOP 1
ROLLBACK;

\echo '== what runs with its owner''s rights: exactly one function, for its reason (see test/security.sql)'
SELECT p.oid::regprocedure AS security_definer FROM pg_proc p
 WHERE p.pronamespace = 'metrics_ex'::regnamespace AND p.prosecdef;
