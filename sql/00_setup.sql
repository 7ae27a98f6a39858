-- The regression tests record samples at fixed times in the past and run
-- maintenance by hand: keep the scheduler's jobs out of this database and
-- retention from expiring the samples, whatever the date.
SET client_min_messages = warning;
SELECT count(*) FROM (SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs) j;
SELECT metrics_ex.set_retention(NULL, '1000 years');
