-- metrics_ex on Citus: which node this is and whether the storage is
-- distributed (distributed.c; metrics_ex.distribute() is in distribute.sql).

-- Is metrics_ex.samples a Citus table here (distribute() has run)?
CREATE FUNCTION metrics_ex._distributed() RETURNS bool
    LANGUAGE c STABLE AS 'MODULE_PATHNAME', 'metrics_ex_distributed';

-- Is this database a Citus worker's (a node the coordinator added)?  Its
-- maintenance then does nothing: the coordinator makes the partitions,
-- rolls up and applies retention for the whole cluster.
CREATE FUNCTION metrics_ex._citus_worker() RETURNS bool
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
    IF to_regclass('pg_catalog.pg_dist_local_group') IS NULL THEN
        RETURN false;
    END IF;
    RETURN coalesce((SELECT g.groupid <> 0 FROM pg_catalog.pg_dist_local_group g), false);
END
$$;

-- Wait (up to lock_timeout) until no transaction is writing samples, and
-- keep new ones waiting until this transaction ends (watermark.c's lock).
CREATE FUNCTION metrics_ex._stop_writers() RETURNS void
    LANGUAGE c VOLATILE AS 'MODULE_PATHNAME', 'metrics_ex_stop_writers';

REVOKE ALL ON FUNCTION metrics_ex._distributed(), metrics_ex._citus_worker(),
    metrics_ex._stop_writers() FROM PUBLIC;
