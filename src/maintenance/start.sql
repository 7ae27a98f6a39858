-- Last step of CREATE EXTENSION: with background workers, start this
-- database's scheduler now instead of at the launcher's next look.
SELECT metrics_ex._wake_launcher();
