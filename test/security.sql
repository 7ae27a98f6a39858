-- Security: no role gets more than it was granted (issue 10).  Each attack
-- that was reproduced against an earlier version is tried again here, with
-- its variants, and must fail or have no effect.
BEGIN;
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SET LOCAL timezone = 'UTC';
SELECT plan(49);

-- a writer with exactly the README's grants, a reader, a stranger
CREATE ROLE mx_sec_writer;
CREATE ROLE mx_sec_other;
GRANT USAGE ON SCHEMA metrics_ex TO mx_sec_writer, mx_sec_other;
GRANT INSERT ON metrics_ex.ingest TO mx_sec_writer, mx_sec_other;
-- what the writer's bait would do if it ever ran: leave a trace here
CREATE TABLE public.mx_sec_trace (who text, what text);
GRANT INSERT ON public.mx_sec_trace TO PUBLIC;

-- ---- attach(): the user's casts and types never run as the owner --------
SET LOCAL ROLE mx_sec_writer;
CREATE TYPE pg_temp.bait AS (x int);
CREATE FUNCTION pg_temp.bait_text(pg_temp.bait) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.mx_sec_trace VALUES (current_user, 'cast');
    BEGIN
        EXECUTE 'ALTER ROLE mx_sec_writer SUPERUSER';
    EXCEPTION WHEN insufficient_privilege THEN NULL;
    END;
    RETURN 'bait';
END $$;
CREATE FUNCTION pg_temp.bait_float8(pg_temp.bait) RETURNS float8 LANGUAGE sql AS
    $$ INSERT INTO public.mx_sec_trace VALUES (current_user, 'cast'); ALTER ROLE mx_sec_writer SUPERUSER; SELECT 1::float8 $$;
CREATE FUNCTION pg_temp.bait_ts(pg_temp.bait) RETURNS timestamptz LANGUAGE sql AS
    $$ INSERT INTO public.mx_sec_trace VALUES (current_user, 'cast'); ALTER ROLE mx_sec_writer SUPERUSER; SELECT now() $$;
CREATE CAST (pg_temp.bait AS text) WITH FUNCTION pg_temp.bait_text(pg_temp.bait);
CREATE CAST (pg_temp.bait AS float8) WITH FUNCTION pg_temp.bait_float8(pg_temp.bait);
CREATE CAST (pg_temp.bait AS timestamptz) WITH FUNCTION pg_temp.bait_ts(pg_temp.bait);
CREATE TEMP TABLE bait_rows (v float8, t timestamptz, tag pg_temp.bait, work_id pg_temp.bait);

SELECT throws_ok($$SELECT metrics_ex.attach('bait_rows', 'sec_bad', 'gauge', 'tag')$$, '42804', NULL,
                 'attach: a value column of a user type is refused');
SELECT throws_ok($$SELECT metrics_ex.attach('bait_rows', 'sec_bad_total', 'counter', time_column => 'tag')$$, '42804', NULL,
                 'attach: a time column of a user type is refused');
SELECT lives_ok($$SELECT metrics_ex.attach('bait_rows', 'sec_tag_total', 'counter', tag_columns => '{tag}')$$,
                'attach: a tag column of a user type is accepted');
SELECT lives_ok($$INSERT INTO bait_rows VALUES (1, now(), ROW(7), ROW(8))$$,
                'a row with the bait in the tag and lineage columns is recorded');
SELECT throws_ok($$SELECT tags FROM metrics_ex.points$$, '42501', NULL,
                 'the writer reads nothing back (no SELECT grant)');
RESET ROLE;
SELECT is((SELECT tags FROM metrics_ex.points WHERE name = 'sec_tag_total'),
          '{"tag": "(7)", "work_id": "(8)"}'::jsonb, 'tags come from the type''s output function, not the cast');
SET LOCAL ROLE mx_sec_writer;
SELECT lives_ok($$SELECT metrics_ex.attach('bait_rows', 'sec_value', 'histogram', 'v', time_column => 't')$$,
                'attach with number and time columns');
ALTER TABLE bait_rows ALTER COLUMN v TYPE pg_temp.bait USING NULL;
SELECT throws_ok($$INSERT INTO bait_rows VALUES (ROW(1), now(), NULL, NULL)$$, '42804', NULL,
                 'ALTER COLUMN TYPE after attach: the value column is checked when rows arrive');
ALTER TABLE bait_rows ALTER COLUMN v TYPE float8 USING 1, ALTER COLUMN t TYPE pg_temp.bait USING NULL;
SELECT throws_ok($$INSERT INTO bait_rows VALUES (1, ROW(1), NULL, NULL)$$, '42804', NULL,
                 'ALTER COLUMN TYPE after attach: the time column too');
RESET ROLE;
SELECT is((SELECT count(*) FROM public.mx_sec_trace), 0::bigint, 'no cast of the writer''s ever ran');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'mx_sec_writer'), false, 'the writer is no superuser');

-- the registry row is what makes a trigger ours, and attached_by is the caller
SELECT is((SELECT array_agg(DISTINCT attached_by::text) FROM metrics_ex.attachment_registry
            WHERE source = 'bait_rows'::regclass), '{mx_sec_writer}', 'attached_by is the real caller');
CREATE TABLE public.mx_sec_forged (v float8);
CREATE TRIGGER metrics_ex_forged AFTER INSERT ON public.mx_sec_forged REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION metrics_ex._attach_trigger();
SELECT throws_ok($$INSERT INTO public.mx_sec_forged VALUES (1)$$, '42501', NULL,
                 'a trigger on _attach_trigger() without a registry row records nothing');
-- samples are recorded on behalf of the table's owner, who must be allowed
CREATE TABLE public.mx_sec_owned (v float8);
SELECT metrics_ex.attach('public.mx_sec_owned', 'sec_owned_total', 'counter', 'v');
ALTER TABLE public.mx_sec_owned OWNER TO mx_sec_other;
REVOKE INSERT ON metrics_ex.ingest FROM mx_sec_other;
SELECT throws_ok($$INSERT INTO public.mx_sec_owned VALUES (1)$$, '42501', NULL,
                 'an owner who may not record cannot record through an attachment');
GRANT INSERT ON metrics_ex.ingest TO mx_sec_other;
SELECT lives_ok($$INSERT INTO public.mx_sec_owned VALUES (2)$$, 'once allowed, the owner''s inserts are recorded');

-- ---- jobs run as their owner, and only the owner changes them ----------
GRANT EXECUTE ON FUNCTION metrics_ex.add_job(text, text, interval, interval) TO mx_sec_writer;
SET LOCAL ROLE mx_sec_other;
SELECT throws_ok($$SELECT metrics_ex.add_job('sec_nope', 'SELECT 1', '1 hour')$$, '42501', NULL,
                 'add_job is not for PUBLIC');
SET LOCAL ROLE mx_sec_writer;
SELECT lives_ok($$SELECT metrics_ex.add_job('sec_escalate', 'ALTER ROLE mx_sec_writer SUPERUSER', '1 hour')$$,
                'a granted role adds a job');
SELECT lives_ok($$SELECT metrics_ex.add_job('sec_set_role', 'SET ROLE postgres; ALTER ROLE mx_sec_writer SUPERUSER', '1 hour')$$,
                'and another');
SELECT lives_ok($$SELECT metrics_ex.add_job('sec_settings', 'SET search_path = evil; SET work_mem = ''77MB''', '1 hour')$$,
                'and one that changes settings');
SELECT throws_ok($$SELECT metrics_ex.alter_job('materialize', enabled => false)$$, '42501', NULL,
                 'built-in jobs belong to the extension''s owner');
SELECT throws_ok($$SELECT metrics_ex.run_job('retention')$$, '42501', NULL, 'nor may the writer run them');
SET LOCAL ROLE mx_sec_other;
SELECT throws_ok($$SELECT metrics_ex.alter_job('sec_escalate', schedule => '1 second')$$, '42501', NULL,
                 'another role cannot alter the job');
SELECT throws_ok($$SELECT metrics_ex.remove_job('sec_escalate')$$, '42501', NULL, 'nor remove it');
SELECT throws_ok($$SELECT metrics_ex.run_job('sec_escalate')$$, '42501', NULL, 'nor run it');
RESET ROLE;
SELECT is((SELECT owner::text FROM metrics_ex.jobs WHERE job = 'sec_escalate'), 'mx_sec_writer', 'the job''s owner is recorded');
SELECT is(metrics_ex.run_job('sec_escalate'), 'failed', 'run by a superuser, the job still runs as its owner');
SELECT alike((SELECT last_error FROM metrics_ex.jobs WHERE job = 'sec_escalate'), '%must be superuser%', 'and is refused');
SELECT is(metrics_ex.run_job('sec_set_role'), 'failed', 'a job cannot SET ROLE');
SELECT is((SELECT rolsuper FROM pg_roles WHERE rolname = 'mx_sec_writer'), false, 'the writer is still no superuser');
SET LOCAL work_mem = '4MB';
SET LOCAL search_path = public, pg_temp;
SELECT is(metrics_ex.run_job('sec_settings'), 'succeeded', 'a job may change its own settings');
SELECT is(current_setting('work_mem') || ' ' || current_setting('search_path'), '4MB public, pg_temp',
          'and they are undone after it');
RESET search_path;
SET LOCAL ROLE mx_sec_writer;
SELECT lives_ok($$SELECT metrics_ex.alter_job('sec_escalate', enabled => false)$$, 'the owner alters its job');
SELECT lives_ok($$SELECT metrics_ex.remove_job('sec_escalate')$$, 'and removes it');
RESET ROLE;

-- ---- internal helpers --------------------------------------------------
SET LOCAL ROLE mx_sec_writer;
SELECT throws_ok($$SELECT metrics_ex._wake_launcher()$$, '42501', NULL, 'the workers cannot be signalled by PUBLIC');
SELECT throws_ok($$SELECT metrics_ex._create_day_partition(now())$$, '42501', NULL, 'nor partitions made');
SELECT throws_ok($$SELECT metrics_ex._drop_partition('metrics_ex.samples_default', 0)$$, '42501', NULL, 'nor dropped');
SELECT throws_ok($$SELECT metrics_ex._job_finish('materialize', now(), 'succeeded', NULL, NULL)$$, '42501', NULL,
                 'nor job runs faked');
SELECT throws_ok($$SELECT metrics_ex._add_total('samples_pruned', -1000)$$, '42501', NULL, 'nor totals changed');
RESET ROLE;
-- what runs as its owner, each with the reason it must
SELECT is((SELECT array_agg(p.proname ORDER BY p.proname) FROM pg_proc p
            WHERE p.pronamespace = 'metrics_ex'::regnamespace AND p.prosecdef),
          ARRAY[
            -- one fixed primary-key lookup of the experiment registry, no user
            -- expression: emit() asks it for writers, who cannot read the registry
            'experiment_status'
          ]::name[],
          'SECURITY DEFINER only where no user expression is evaluated, each for its reason');
-- what PUBLIC may run of the internal functions: each with its reason
CREATE TEMP TABLE public_internal (name text, why text);
INSERT INTO public_internal VALUES
    -- the trigger manager calls it; CREATE TRIGGER (attach() and pg_restore,
    -- as the table's owner) needs EXECUTE; it records only behind a registry row
    ('_attach_trigger', 'trigger function'),
    -- called by start/stop/pause/resume_experiment as the caller; checks the
    -- writer's right itself, like them
    ('_experiment_call', 'checks the caller'),
    -- pure helpers of the reader functions, which run as the caller: they
    -- build SQL text or compute a value and read nothing the caller could not
    ('_aggregate_sql', 'pure'), ('_bucket_width', 'pure'), ('_check_writer', 'pure'),
    ('_csv_field', 'pure'), ('_experiment_must_exist', 'pure'), ('_experiment_samples', 'pure'),
    ('_get_stats_base', 'pure'), ('_group_sql', 'pure'), ('_merge_select_sql', 'pure'),
    ('_merge_upsert_sql', 'pure'), ('_metric_id', 'pure'), ('_percentile_q', 'pure'),
    ('_prom_check_name', 'pure'), ('_prom_family', 'pure'), ('_prom_label_value', 'pure'),
    ('_prom_lines', 'pure'), ('_prom_number', 'pure'), ('_samples_sql', 'pure'),
    ('_prom_body', 'pure'), ('_prom_text', 'pure'),
    ('_sketch_of', 'pure'), ('_source', 'pure'), ('_split_filter', 'pure'),
    ('_time_range', 'pure'), ('_raw_from', 'pure'), ('_raw_piece_sql', 'pure'), ('_stddev_fix', 'pure'),
    ('_default_buckets', 'pure'),
    -- the aggregates that make and merge rollup rows (queries merge rollup
    -- rows and raw samples with them too) and their support functions
    ('_rollup_agg', 'pure'), ('_rollup_agg_add', 'pure'), ('_rollup_merge', 'pure'),
    ('_rollup_merge_add', 'pure'), ('_rollup_final', 'pure'), ('_m2_merge', 'pure'),
    ('_sketch_merge', 'pure'), ('_stddev_merge', 'pure'), ('_stddev_merge_add', 'pure'),
    ('_stddev_merge_final', 'pure'),
    -- the parts of the charts (sparkline, chart, chart_svg, dashboard_html):
    -- scales, labels, grids and markup; _chart_source reads time_series()
    -- as the caller
    ('_chart_axis', 'pure'), ('_chart_bucket', 'pure'), ('_chart_duration', 'pure'),
    ('_chart_frac', 'pure'), ('_chart_grid', 'pure'), ('_chart_number', 'pure'), ('_chart_points', 'pure'),
    ('_chart_scale', 'pure'), ('_chart_size', 'pure'), ('_chart_source', 'pure'), ('_chart_steps', 'pure'), ('_chart_svg', 'pure'),
    ('_chart_text', 'pure'), ('_chart_ticks', 'pure'), ('_chart_time_arg', 'pure'),
    ('_dashboard_aggregation', 'pure'), ('_svg_num', 'pure'), ('_svg_polyline', 'pure'), ('_xml', 'pure'),
    -- validators of emit() and log_step(), and the check of the row-security
    -- policies of telemetry_handlers and run_steps (policies run as the caller)
    ('_check_event', 'pure'), ('_event_number', 'pure'), ('_event_first_number', 'pure'),
    ('_check_ts', 'pure'), ('_writer_row', 'pure');
SELECT set_eq($$SELECT p.proname::text FROM pg_proc p
                 WHERE p.pronamespace = 'metrics_ex'::regnamespace AND p.proname LIKE '\_%'
                   AND has_function_privilege('public', p.oid, 'EXECUTE')$$,
              $$SELECT name FROM public_internal$$,
              'PUBLIC may run exactly the internal functions listed with their reason');
SELECT is((SELECT array_agg(p.proname ORDER BY p.proname) FROM pg_proc p JOIN public_internal i ON i.name = p.proname
            WHERE p.pronamespace = 'metrics_ex'::regnamespace AND i.why = 'pure' AND p.provolatile = 'v'),
          NULL::name[], 'and the pure ones are not VOLATILE');

-- ---- the series limit is the administrator's ---------------------------
SET LOCAL ROLE mx_sec_writer;
SELECT throws_ok($$SELECT metrics_ex.define('sec_wide', 'gauge', max_series => 100000000)$$, '42501', NULL,
                 'a writer cannot lift the series limit above the server''s');
SELECT lives_ok($$SELECT metrics_ex.define('sec_wide', 'gauge', max_series => 10)$$, 'but may lower it');
RESET ROLE;
GRANT UPDATE ON metrics_ex.metrics TO mx_sec_other;
SET LOCAL ROLE mx_sec_other;
SELECT lives_ok($$SELECT metrics_ex.define('sec_wide', 'gauge', max_series => 100000000)$$,
                'the administrator''s grant (UPDATE on metrics_ex.metrics) may');
RESET ROLE;

-- ---- tables the write path writes by hand are checked first -------------
-- (a late sample, older than the rollup watermark, writes a delta there)
SELECT metrics_ex._publish_watermark('2021-01-01');
ALTER TABLE metrics_ex.rollup_pending ALTER COLUMN sum TYPE numeric;
SELECT throws_like($$SELECT metrics_ex.increment('sec_shape_total', 1, '{}', '2020-01-01')$$,
                   '%rollup_pending%column "sum" is of type numeric, not float8%',
                   'a changed column type of rollup_pending is refused, not written');
ALTER TABLE metrics_ex.rollup_pending ALTER COLUMN sum TYPE float8;
ALTER TABLE metrics_ex.samples ADD COLUMN note text NOT NULL DEFAULT 'n';
SELECT throws_like($$SELECT metrics_ex.gauge('sec_shape', 1)$$, '%column "note" is not one of its own%',
                   'an added column of samples is refused, not left NULL');
ALTER TABLE metrics_ex.samples DROP COLUMN note;
ALTER TABLE metrics_ex.samples_default ADD CONSTRAINT sec_positive CHECK (value > 0);
SELECT throws_like($$SELECT metrics_ex.gauge('sec_shape', -1)$$, '%CHECK constraint%',
                   'a CHECK constraint the write would bypass is refused');
ALTER TABLE metrics_ex.samples_default DROP CONSTRAINT sec_positive;
CREATE FUNCTION pg_temp.sec_noop() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER sec_noop BEFORE INSERT ON metrics_ex.samples_default FOR EACH ROW EXECUTE FUNCTION pg_temp.sec_noop();
SELECT throws_like($$SELECT metrics_ex.gauge('sec_shape', 1)$$, '%has a trigger%',
                   'so is a trigger');
DROP TRIGGER sec_noop ON metrics_ex.samples_default;
SELECT lives_ok($$SELECT metrics_ex.gauge('sec_shape', 1)$$, 'the table as it should be is written');

SELECT * FROM finish();
ROLLBACK;
