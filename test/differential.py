#!/usr/bin/env python3
"""Seeded differential test of the read path against a plain mirror table.

Writes random samples of three counters, three gauges and three histograms
through every write path (record, increment/gauge/histogram, INSERT and COPY
into metrics_ex.ingest on both COPY paths, attach() on a table), keeping
each sample in diff_mirror (ts, metric, tags, lineage, value, in write
order), with maintenance (materialize, prune, the retention job) at random
points, late samples into minutes already rolled up, and raw retention on
one metric of each kind.  Then compares random query(), time_series() and
rollup() calls, rolling(), get_metrics(), the Prometheus exposition,
get_stats() and the points view with plain SQL over the mirror.

Every mismatch is printed with the seed, the call and both values; the exit
status is non-zero on any.  Replay a run with the seed it prints:
    python3 test/differential.py --db DB --seed N --cases N
(DB: an empty database; the script creates the extension, jobs off).

Only the standard library; psql does the talking (PGHOST/PGPORT/PGUSER).
"""
import argparse
import datetime
import decimal
import json
import random
import subprocess
import sys
import time

US = 1
SEC = 1_000_000
MIN = 60 * SEC
HOUR = 60 * MIN
DAY = 24 * HOUR

# the default raw retention the test sets before any write, and the
# shorter ones one metric of each kind gets at a random point
DEFAULT_KEEP = ('3 days', 3 * DAY)
SHORT_KEEPS = [('2 hours', 2 * HOUR), ('20 hours', 20 * HOUR), ('30 hours', 30 * HOUR),
               ('2 days', 2 * DAY)]

METRICS = {  # name: (kind, buckets)
    'diff_c1_total': ('counter', None), 'diff_c2_total': ('counter', None), 'diff_c3': ('counter', None),
    'diff_g1': ('gauge', None), 'diff_g2': ('gauge', None), 'diff_g3': ('gauge', None),
    'diff_h1': ('histogram', [0.5, 1, 5, 10, 50, 100, 500]),
    'diff_h2': ('histogram', [1, 10, 100, 1000]),
    'diff_h3': ('histogram', None),     # the default buckets
}
SHORT = ['diff_c2_total', 'diff_g2', 'diff_h2']           # get a short retention
ATTACHED = {'counter': 'diff_c3', 'gauge': 'diff_g3', 'histogram': 'diff_h3'}
AGGS = ['count', 'sum', 'mean', 'avg', 'min', 'max', 'last', 'rate', 'stddev',
        'p50', 'p90', 'p95', 'p99', 'p999', 'p75', 'p99.9']
GROUPS = [[], [], ['instance'], ['region'], ['region', 'shard'], ['zone'], ['work_id']]
FILTERS = [{}, {}, {}, {'region': 'r0'}, {'shard': 1}, {'instance': 'host-2', 'region': 'r0'},
           {'instance': 'nope'}, {'work_id': 'w1'}]
BUCKETS = {'minute': MIN, '5m': 5 * MIN, 'hour': HOUR, 'day': DAY}
BUCKET_SPAN = {'minute': 6 * HOUR, '5m': 2 * DAY, 'hour': 5 * DAY, 'day': 10 * DAY}
LINEAGE = ('work_id', 'trace_id', 'plan_id', 'step_id')
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def lit(s):
    return "'" + str(s).replace("'", "''") + "'"


def ts_text(us):
    return (EPOCH + datetime.timedelta(microseconds=us)).strftime('%Y-%m-%d %H:%M:%S.%f+00')


def ts_lit(us):
    return lit(ts_text(us)) + '::timestamptz'


def jlit(obj):
    return lit(json.dumps(obj, sort_keys=True)) + '::jsonb'


def floor_to(us, unit):
    return us - us % unit


def psql(db, script, check=True):
    p = subprocess.run(['psql', '-qXAt', '-F', '\t', '-v', 'ON_ERROR_STOP=1', '-d', db],
                       input=script, capture_output=True, text=True)
    if check and p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit(f'psql failed (exit {p.returncode})')
    return p.stdout


class Writer:
    """Generates the write phase: SQL scripts, one psql session each."""

    def __init__(self, rnd, now0):
        self.rnd = rnd
        self.now0 = now0
        self.day0 = floor_to(now0, DAY)
        self.start = self.day0 - 4 * DAY
        self.end = now0 - 3 * MIN
        # No sample falls on the UTC day where the default retention's cutoff
        # lies while the test runs: there, whether a sample older than the
        # cutoff survives depends on whether it sits in a day partition (kept
        # up to a day longer) or in the default partition (deleted).
        lo = floor_to(now0 - DEFAULT_KEEP[1], DAY)
        hi = floor_to(now0 + 20 * MIN - DEFAULT_KEEP[1], DAY) + DAY
        self.excluded = (lo, hi)
        self.series = {}
        for name in METRICS:
            n = rnd.randint(2, 4)
            self.series[name] = [{'instance': f'host-{i}', 'region': f'r{i % 2}', 'shard': str(i % 3)}
                                 for i in range(n)]
        self.hot = {}           # minutes written per series: late data goes there
        self.keep = {name: DEFAULT_KEEP for name in METRICS}
        self.paths = {}         # writes per path
        self.log = []           # maintenance and retention, in order

    def ts(self, name, tags):
        """A sample time: often in a minute the series already has (after a
        materialize, late data into rolled-up buckets), else recent or
        anywhere in the last four days."""
        key = (name, json.dumps(tags, sort_keys=True))
        r = self.rnd.random()
        if key in self.hot and r < 0.35:
            us = self.rnd.choice(self.hot[key]) + self.rnd.randrange(MIN)
        elif r < 0.6:
            us = self.end - self.rnd.randrange(6 * HOUR)
        else:
            us = self.start + self.rnd.randrange(self.end - self.start)
        if self.excluded[0] <= us < self.excluded[1] or us >= self.end:
            return self.ts(name, tags)
        self.hot.setdefault(key, []).append(floor_to(us, MIN))
        return us

    def value(self, kind):
        if kind == 'counter':
            return self.rnd.choice([1, 1, 1, 2, 5, 0.5, 0, round(self.rnd.uniform(0, 100), 3)])
        if self.rnd.random() < 0.03:
            return 0
        return round(self.rnd.lognormvariate(2.5, 1.8), 3)

    def sample(self, name=None, kind=None):
        """One random sample: (name, kind, tags, lineage, value, ts)."""
        if name is None:
            name = self.rnd.choice([n for n in METRICS if kind is None or METRICS[n][0] == kind])
        kind = METRICS[name][0]
        tags = self.rnd.choice(self.series[name])
        lineage = {'work_id': f'w{self.rnd.randrange(3)}'} if self.rnd.random() < 0.2 else None
        return name, kind, tags, lineage, self.value(kind), self.ts(name, tags)

    @staticmethod
    def mirror(rows):
        """INSERT of mirror rows; a row's ts may be the SQL 'now()'."""
        vals = ', '.join(f"({ts if isinstance(ts, str) else ts_lit(ts)}, {lit(n)}, {jlit(t)}, "
                         f"{jlit(l) if l else 'NULL'}, {v!r})" for n, _, t, l, v, ts in rows)
        return f'INSERT INTO diff_mirror (ts, metric, tags, lineage, value) VALUES {vals};\n'

    def op(self):
        """One random write through one path, with its mirror rows."""
        rnd = self.rnd
        path = rnd.choice(['record', 'function', 'function', 'insert', 'copy', 'copy_where',
                           'attach', 'gauge_tie_now', 'gauge_tie'])
        if path == 'record':
            name, kind, tags, lin, v, us = s = self.sample()
            payload = {'value': v, 'tags': {**tags, **(lin or {})}, 'ts': ts_text(us).replace(' ', 'T')}
            return path, f"SELECT metrics_ex.record({lit(name)}, {jlit(payload)});\n" + self.mirror([s])
        if path == 'function':
            name, kind, tags, lin, v, us = s = self.sample()
            fn = {'counter': 'increment', 'gauge': 'gauge', 'histogram': 'histogram'}[kind]
            return path, (f"SELECT metrics_ex.{fn}({lit(name)}, {v!r}, {jlit({**tags, **(lin or {})})}, "
                          f"{ts_lit(us)});\n" + self.mirror([s]))
        if path in ('insert', 'copy', 'copy_where'):
            rows = [self.sample() for _ in range(rnd.choice([1, 5, 20, 100, 300]))]
            if path == 'insert':
                vals = ', '.join(f"({lit(n)}, {v!r}, {lit(json.dumps({**t, **(l or {})}))}, {ts_lit(us)})"
                                 for n, _, t, l, v, us in rows)
                sql = f'INSERT INTO metrics_ex.ingest (name, value, tags, ts) VALUES {vals};\n'
            else:
                # WHERE makes COPY take the row-trigger path instead of the fast one
                sql = ('COPY metrics_ex.ingest (name, value, tags, ts) FROM STDIN'
                       + (' WHERE true' if path == 'copy_where' else '') + ';\n'
                       + ''.join(f"{n}\t{v!r}\t{json.dumps({**t, **(l or {})})}\t{ts_text(us)}\n"
                                 for n, _, t, l, v, us in rows) + '\\.\n')
            return path, sql + self.mirror(rows)
        if path == 'attach':
            kind = rnd.choice(['counter', 'gauge', 'histogram'])
            rows = [self.sample(ATTACHED[kind]) for _ in range(rnd.choice([1, 3, 30]))]
            vals = ', '.join(f"({lit(t['instance'])}, {lit(t['region'])}, {lit(t['shard'])}, "
                             f"{lit(l['work_id']) if l else 'NULL'}, {v!r}, {ts_lit(us)})"
                             for n, _, t, l, v, us in rows)
            return path, (f'INSERT INTO diff_src_{kind} (instance, region, shard, work_id, v, at) '
                          f'VALUES {vals};\n' + self.mirror(rows))
        # two values of one gauge series at one timestamp: the last written must win
        name = rnd.choice(['diff_g1', 'diff_g2', 'diff_g3'])
        tags = rnd.choice(self.series[name])
        v1, v2 = self.value('gauge'), self.value('gauge')
        if path == 'gauge_tie_now':     # one transaction, ts now()
            rows = [(name, 'gauge', tags, None, v, 'now()') for v in (v1, v2)]
            return path, ('BEGIN;\n' + ''.join(f"SELECT metrics_ex.gauge({lit(name)}, {v!r}, {jlit(tags)});\n"
                                               for v in (v1, v2)) + self.mirror(rows) + 'COMMIT;\n')
        us = self.ts(name, tags)
        rows = [(name, 'gauge', tags, None, v, us) for v in (v1, v2)]
        return path, (''.join(f"SELECT metrics_ex.gauge({lit(name)}, {v!r}, {jlit(tags)}, {ts_lit(us)});\n"
                              for v in (v1, v2)) + self.mirror(rows))

    def prune_sql(self, call):
        """Retention in the caller's transaction, and the same on the mirror
        with the same now(): samples older than their metric's retention go
        (per-metric DELETE, whole expired partitions, expired samples in the
        default partition); rollups and totals stay."""
        cases = ' '.join(f"WHEN {lit(n)} THEN interval {lit(k[0])}" for n, k in self.keep.items())
        return (f'BEGIN;\nSELECT {call};\n'
                f'UPDATE diff_mirror SET pruned = true WHERE NOT pruned AND ts < now() - CASE metric {cases} END;\n'
                'COMMIT;\n')

    def maintenance(self):
        what = self.rnd.choice(['materialize', 'materialize', 'run_job_materialize', 'prune', 'run_job_retention'])
        self.log.append(what)
        if what == 'materialize':
            return 'SELECT metrics_ex.materialize();\n'
        if what == 'run_job_materialize':
            return "SELECT diff_job(metrics_ex.run_job('materialize'));\n"
        if what == 'prune':
            return self.prune_sql('metrics_ex.prune()')
        return self.prune_sql("diff_job(metrics_ex.run_job('retention'))")

    def sessions(self, batches):
        """The write phase as scripts, each run by a new session."""
        scripts, cur = [], []
        retention_at = self.rnd.randrange(batches // 3, 2 * batches // 3)
        for b in range(batches):
            if b == retention_at:
                for name in SHORT:
                    self.keep[name] = self.rnd.choice(SHORT_KEEPS)
                    cur.append(f"SELECT metrics_ex.set_retention({lit(name)}, {lit(self.keep[name][0])});\n")
                    self.log.append(f'set_retention({name}, {self.keep[name][0]})')
            in_tx = self.rnd.random() < 0.2
            ops = [self.op() for _ in range(self.rnd.randint(1, 4))]
            for p, _ in ops:
                self.paths[p] = self.paths.get(p, 0) + 1
            body = ''.join(s for _, s in ops)
            if in_tx:               # several writes in one transaction
                body = 'BEGIN;\n' + body.replace('BEGIN;\n', '').replace('COMMIT;\n', '') + 'COMMIT;\n'
            cur.append(body)
            if self.rnd.random() < 0.3:
                cur.append(self.maintenance())
            if self.rnd.random() < 0.2 or b == batches - 1:
                scripts.append(''.join(cur))
                cur = []
        return scripts


SETUP = """
BEGIN;
CREATE EXTENSION metrics_ex;
-- maintenance runs only where the test says
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
COMMIT;
SELECT metrics_ex.set_retention(NULL, %(keep)s);
CREATE TABLE diff_mirror (id bigserial PRIMARY KEY, ts timestamptz NOT NULL, metric text NOT NULL,
                          tags jsonb NOT NULL, lineage jsonb, value float8 NOT NULL,
                          pruned bool NOT NULL DEFAULT false);
CREATE INDEX ON diff_mirror (metric, ts);
-- run_job() reports a failure instead of raising it
CREATE FUNCTION diff_job(status text) RETURNS void LANGUAGE plpgsql AS $f$
BEGIN
    IF status IS DISTINCT FROM 'succeeded' THEN
        RAISE EXCEPTION 'run_job: %%', status;
    END IF;
END
$f$;
-- a mismatch unless both NULL, equal, or within rel (relative to the
-- expected b) or the absolute floor fl
CREATE FUNCTION diff_close(a float8, b float8, rel float8, fl float8) RETURNS bool
LANGUAGE sql IMMUTABLE
RETURN (a IS NULL AND b IS NULL)
    OR (a IS NOT NULL AND b IS NOT NULL AND (a = b OR abs(a - b) <= rel * abs(b) OR abs(a - b) <= fl));
-- one comparison: rows (k, ours_present, expected_present, ours, expected)
-- for every mismatch, or one row naming the error the call raised
CREATE FUNCTION diff_run(q text) RETURNS TABLE (k text, o bool, e bool, ov float8, ev float8)
LANGUAGE plpgsql AS $f$
BEGIN
    RETURN QUERY EXECUTE q;
EXCEPTION WHEN others THEN
    RETURN QUERY SELECT 'ERROR ' || SQLSTATE || ': ' || SQLERRM, NULL::bool, NULL::bool, NULL::float8, NULL::float8;
END
$f$;
"""


def setup_sql(distribute=0):
    sql = SETUP % {'keep': lit(DEFAULT_KEEP[0])}
    if distribute:      # on a Citus coordinator (test/e2e_citus.sh): before any write
        sql = sql.replace('COMMIT;\n', f'COMMIT;\nSELECT metrics_ex.distribute({int(distribute)});\n', 1)
    for name, (kind, buckets) in METRICS.items():
        b = f", buckets => '{{{','.join(map(str, buckets))}}}'" if buckets else ''
        sql += f"SELECT metrics_ex.define({lit(name)}, {lit(kind)}{b});\n"
    for kind, name in ATTACHED.items():
        sql += (f'CREATE TABLE diff_src_{kind} (instance text, region text, shard text, work_id text, '
                f'v float8, at timestamptz);\n'
                f"SELECT metrics_ex.attach('diff_src_{kind}', {lit(name)}, {lit(kind)}, 'v', "
                f"'{{instance,region,shard}}', 'at');\n")
    return sql


# ---- the checks ------------------------------------------------------------

def agg_sql(agg, seconds):
    """An aggregation over mirror rows m, in plain SQL."""
    q = percentile_q(agg)
    if q is not None:
        return f'percentile_cont({q}) WITHIN GROUP (ORDER BY m.value)'
    return {'count': 'count(*)::float8', 'sum': 'coalesce(sum(m.value), 0)', 'mean': 'avg(m.value)',
            'avg': 'avg(m.value)', 'min': 'min(m.value)', 'max': 'max(m.value)',
            'last': '(array_agg(m.value ORDER BY m.ts DESC, m.id DESC))[1]',
            'rate': f'coalesce(sum(m.value), 0) / {seconds}', 'stddev': 'stddev_samp(m.value)'}[agg]


def percentile_q(agg):
    """The fraction of pNN, pNN.N or p999, as SQL numeric text (exact, as
    the extension reads it: p99.9 is 0.999, not 99.9 / 100 in floats)."""
    if not agg.startswith('p'):
        return None
    digits = agg[1:]
    if digits == '999':
        return '0.999'
    return str(decimal.Decimal(digits) / 100)


def compare(ours, expected):
    """The mismatches of one check: ours (k, v) against expected (k, v, rel,
    fl, skip), joined on k."""
    return (f'SELECT coalesce(o.k, e.k), o.k IS NOT NULL, e.k IS NOT NULL, o.v, e.v '
            f'FROM ({ours}) o FULL JOIN ({expected}) e ON o.k = e.k '
            f'WHERE o.k IS NULL OR e.k IS NULL OR (NOT e.skip AND NOT diff_close(o.v, e.v, e.rel, e.fl))')


class Case:
    def __init__(self, cid, fn, name, since, until, rnd, writer):
        self.cid, self.fn, self.name, self.since, self.until = cid, fn, name, since, until
        self.group_by = rnd.choice(GROUPS)
        self.filter = rnd.choice(FILTERS)
        self.lineage = 'work_id' in self.group_by or 'work_id' in self.filter
        self.keep = writer.keep[name]
        self.call = ''

    def tolerance(self, agg):
        """(relative, absolute floor) of an aggregation, as SQL."""
        if agg in ('count', 'min', 'max', 'last'):
            return '0', '0'
        if agg in ('sum', 'mean', 'avg', 'rate'):
            return '1e-9', '0'
        if agg == 'stddev':     # cancellation: relative to the values' size too
            return '1e-9', '1e-9 * coalesce(max(abs(m.value)), 0)'
        # percentiles: exact over raw samples, within the ddsketch's 1% beyond
        # raw retention (decided with the same now() as the call)
        if self.lineage:
            return '0', '0'
        return (f"CASE WHEN {ts_lit(self.since)} >= now() - interval {lit(self.keep[0])} "
                "THEN 0 ELSE 0.01 END"), '0'

    def cut(self):
        """Where this metric's raw samples are complete, to the hour: before
        it, retention may have deleted samples, and the rollups answer at
        their finest level (the hour: the test's metrics have no minute
        rollups), each hour row counting whole and sitting at its start."""
        return (f"(SELECT date_bin('1 hour', c, '1970-01-01 00:00:00+00') + CASE WHEN date_bin('1 hour', c, "
                f"'1970-01-01 00:00:00+00') < c THEN interval '1 hour' ELSE interval '0' END "
                f"FROM metrics_ex._raw_from(metrics_ex._metric_id({lit(self.name)})) c)")

    def old(self):
        """Does mirror row m count at the hour's resolution?  Before the cut,
        except in the hour where the range starts when the range starts
        where raw samples are complete (that edge is read from them)."""
        h = "date_bin('1 hour', %s, '1970-01-01 00:00:00+00')"
        return (f"(m.ts < {self.cut()} AND ({h % 'm.ts'} <> {h % ts_lit(self.since)} OR "
                f"{ts_lit(self.since)} < metrics_ex._raw_from(metrics_ex._metric_id({lit(self.name)}))))")

    def pos(self):
        """Where a mirror row counts: its time, or its hour's start (see old())."""
        if self.lineage:
            return 'm.ts'
        return f"CASE WHEN {self.old()} THEN date_bin('1 hour', m.ts, '1970-01-01 00:00:00+00') ELSE m.ts END"

    def rows(self):
        """FROM/WHERE of the mirror rows the call covers.  Rollups keep what
        raw retention deleted, so every written sample counts, except where
        lineage ids filter or group: those calls read raw samples only.
        Before the cut (see cut()), a row counts where its hour starts, and
        its hour counts when the range starts in it."""
        if self.lineage:
            cond = [f'm.metric = {lit(self.name)}', f'm.ts >= {ts_lit(self.since)}', f'm.ts < {ts_lit(self.until)}']
        else:
            cond = [f'm.metric = {lit(self.name)}',
                    f"CASE WHEN {self.old()} "
                    f"THEN date_bin('1 hour', m.ts, '1970-01-01 00:00:00+00') >= "
                    f"date_bin('1 hour', {ts_lit(self.since)}, '1970-01-01 00:00:00+00') "
                    f"AND date_bin('1 hour', m.ts, '1970-01-01 00:00:00+00') < {ts_lit(self.until)} "
                    f"ELSE m.ts >= {ts_lit(self.since)} AND m.ts < {ts_lit(self.until)} END"]
        if self.filter:
            cond.append(f"(m.tags || coalesce(m.lineage, '{{}}')) @> "
                        f"{jlit({k: str(v) for k, v in self.filter.items()})}")
        if self.lineage:
            cond.append('NOT m.pruned')
        return 'FROM diff_mirror m WHERE ' + ' AND '.join(cond)

    def group_exprs(self):
        return [f"((m.tags || coalesce(m.lineage, '{{}}')) ->> {lit(k)})" for k in self.group_by]

    def labels_sql(self):
        g = self.group_exprs()
        if not g:
            return "'{}'::jsonb"
        return 'jsonb_build_object(' + ', '.join(f'{lit(k)}, {e}' for k, e in zip(self.group_by, g)) + ')'

    def key_sql(self):
        g = self.group_exprs()
        return "''" if not g else "concat_ws('/', " + ', '.join(f"coalesce({e}, '')" for e in g) + ')'

    def group_clause(self, first=()):
        g = list(first) + self.group_exprs()
        return (' GROUP BY ' + ', '.join(g)) if g else ''

    def args(self):
        a = [f'since => {ts_lit(self.since)}', f'until => {ts_lit(self.until)}']
        if self.filter:
            a.append(f"tags => {jlit(self.filter)}")
        return a


def query_case(c, rnd):
    agg = rnd.choice(AGGS)
    c.agg = agg
    secs = f'{(c.until - c.since) / SEC!r}::float8'
    gb = "'{" + ','.join(c.group_by) + "}'"
    c.call = (f"metrics_ex.query({lit(c.name)}, {lit(agg)}, group_by => {gb}, " + ', '.join(c.args()) + ')')
    rel, fl = c.tolerance(agg)
    ours = f'SELECT q.labels::text AS k, q.value AS v FROM {c.call} q'
    exp = (f'SELECT {c.labels_sql()}::text AS k, {agg_sql(agg, secs)} AS v, {rel}::float8 AS rel, '
           f'{fl}::float8 AS fl, false AS skip {c.rows()}{c.group_clause()}')
    return compare(ours, exp)


def time_series_case(c, rnd):
    agg = rnd.choice(AGGS)
    c.agg = agg
    bucket = rnd.choice(list(BUCKETS))
    c.bucket = bucket
    c.until = min(c.until, c.since + BUCKET_SPAN[bucket])
    width = BUCKETS[bucket]
    fill = rnd.choice(['none', 'none', 'zero', 'null', 'previous'])
    c.fill = fill
    gb = "'{" + ','.join(c.group_by) + "}'"
    c.call = (f"metrics_ex.time_series({lit(c.name)}, {lit(bucket)}, {lit(agg)}, group_by => {gb}, "
              f"fill => {lit(fill)}, " + ', '.join(c.args()) + ')')
    rel, fl = c.tolerance(agg)
    w = f"interval '{width // SEC} seconds'"
    tb = f"date_bin({w}, {c.pos()}, '1970-01-01 00:00:00+00')"
    label = lit(c.name) if not c.group_by else c.key_sql()
    d = (f'SELECT {tb} AS t, {label} AS m, {agg_sql(agg, repr(width / SEC))} AS v, {fl}::float8 AS fl '
         f'{c.rows()}{c.group_clause([tb])}')
    ours = f"SELECT t.\"time\"::text || '|' || coalesce(t.metric, '~') AS k, t.value AS v FROM {c.call} t"
    if fill == 'none':
        exp = f"SELECT t::text || '|' || coalesce(m, '~') AS k, v, {rel}::float8 AS rel, fl, false AS skip FROM ({d}) d"
        return compare(ours, exp)
    # every bucket of the range for every group with data in it; fill is for
    # empty buckets only.  With 'previous' after a bucket whose aggregate is
    # NULL (the stddev of one sample) the README does not say whether NULL or
    # the last non-NULL value carries on: such buckets are not compared.
    exp = f"""
        WITH d AS ({d}),
        grid AS (SELECT g AS t, ms.m FROM generate_series(date_bin({w}, {ts_lit(c.since)}, '1970-01-01 00:00:00+00'),
                                                          {ts_lit(c.until)} - interval '1 microsecond', {w}) g
                 CROSS JOIN (SELECT DISTINCT m FROM d) ms),
        j AS (SELECT grid.t, grid.m, d.t IS NOT NULL AS has, d.v, d.fl,
                     count(d.t) OVER (PARTITION BY grid.m ORDER BY grid.t) AS grp
                FROM grid LEFT JOIN d ON d.t = grid.t AND d.m IS NOT DISTINCT FROM grid.m),
        f AS (SELECT j.*, first_value(v) OVER w AS pv, first_value(has) OVER w AS phas
                FROM j WINDOW w AS (PARTITION BY m, grp ORDER BY t))
        SELECT t::text || '|' || coalesce(m, '~') AS k,
               CASE WHEN has THEN v WHEN {lit(fill)} = 'zero' THEN 0 WHEN {lit(fill)} = 'null' THEN NULL ELSE pv END AS v,
               {rel}::float8 AS rel, coalesce(fl, 0) AS fl,
               (NOT has AND {lit(fill)} = 'previous' AND phas AND pv IS NULL) AS skip
          FROM f"""
    return compare(ours, exp)


def rollup_case(c, rnd):
    aggs = rnd.sample(AGGS, rnd.randint(1, 4))
    aggs = [a for a in aggs if a != 'avg'] or ['mean']     # avg and mean would share a key
    c.agg = ','.join(aggs)
    secs = f'{(c.until - c.since) / SEC!r}::float8'
    gb = "'{" + ','.join(c.group_by) + "}'"
    arr = 'ARRAY[' + ', '.join(lit(a) for a in aggs) + ']'
    c.call = (f"metrics_ex.rollup({lit(c.name)}, {gb}, '{{{','.join(aggs)}}}', " + ', '.join(c.args()) + ')')
    ours = f"SELECT r.labels::text || '|' || r.key || '|' || a AS k, (r.stats ->> a)::float8 AS v FROM {c.call} r, unnest({arr}) a"
    cols = []
    vals = []
    for i, a in enumerate(aggs):
        rel, fl = c.tolerance(a)
        cols.append(f'{agg_sql(a, secs)} AS a{i}, {rel}::float8 AS r{i}, {fl}::float8 AS f{i}')
        vals.append(f'({lit(a)}, g.a{i}, g.r{i}, g.f{i})')
    exp = (f"SELECT g.labels::text || '|' || g.key || '|' || x.a AS k, x.v, x.rel, x.fl, false AS skip "
           f"FROM (SELECT {c.labels_sql()} AS labels, {c.key_sql()} AS key, {', '.join(cols)} "
           f"{c.rows()}{c.group_clause()}) g, LATERAL (VALUES {', '.join(vals)}) x(a, v, rel, fl)")
    return compare(ours, exp)


def random_range(rnd, w, name):
    """A random [since, until): whole days, a day and some hours, whole hours,
    whole minutes, arbitrary microseconds, or wholly older than the metric's
    raw retention."""
    kind = rnd.choice(['day', 'day_hours', 'hour', 'minute', 'unaligned', 'unaligned', 'old', 'old'])
    keep = w.keep[name][1]
    if kind == 'day':
        since = w.day0 - rnd.randint(0, 4) * DAY
        until = since + rnd.randint(1, 3) * DAY
    elif kind == 'day_hours':
        since = w.day0 - rnd.randint(1, 4) * DAY
        until = since + DAY + rnd.randint(1, 23) * HOUR
    elif kind == 'hour':
        since = floor_to(w.start + rnd.randrange(w.end - w.start), HOUR)
        until = since + rnd.randint(1, 48) * HOUR
    elif kind == 'minute':
        since = floor_to(w.start + rnd.randrange(w.end - w.start), MIN)
        until = since + rnd.randint(1, 600) * MIN
    elif kind == 'unaligned':
        since = w.start + rnd.randrange(w.end - w.start)
        until = since + 1 + rnd.randrange(2 * DAY)
    else:
        old_end = w.now0 - keep
        since = w.start - HOUR + rnd.randrange(max(old_end - w.start, HOUR))
        until = since + 1 + rnd.randrange(max(old_end - since, MIN))
        unit = rnd.choice([DAY, HOUR, MIN, 1])
        since, until = floor_to(since, unit), floor_to(until, unit)
    # (beyond raw retention the answers are at the rollups' resolution:
    # Case.cut() models it)
    if until <= since:
        until = since + MIN
    return kind, since, until


def random_cases(rnd, w, n):
    out = []
    for cid in range(1, n + 1):
        name = rnd.choice(list(METRICS))
        rkind, since, until = random_range(rnd, w, name)
        fn = rnd.choice(['query', 'time_series', 'rollup'])
        c = Case(cid, fn, name, since, until, rnd, w)
        c.range_kind = rkind
        sql = {'query': query_case, 'time_series': time_series_case, 'rollup': rollup_case}[fn](c, rnd)
        out.append((c, sql))
    return out


def fixed_checks(w):
    """Checks of everything that is not a random call: (label, call, SQL)."""
    out = []
    keep = lit(DEFAULT_KEEP[0])
    for name in METRICS:
        # rolling(): the last value (within the default retention) and plain
        # means over 1, 5 and 15 minutes, over raw samples
        call = f'metrics_ex.rolling({lit(name)})'
        ours = (f"SELECT r.labels::text || '|' || x.f AS k, x.v FROM {call} r, LATERAL (VALUES "
                "('current', r.current), ('count_1m', r.count_1m::float8), ('average_1m', r.average_1m), "
                "('average_5m', r.average_5m), ('average_15m', r.average_15m)) x(f, v)")
        exp = (f"SELECT g.tags::text || '|' || x.f AS k, x.v, x.rel, 0::float8 AS fl, false AS skip FROM ("
               "SELECT m.tags, (array_agg(m.value ORDER BY m.ts DESC, m.id DESC))[1] AS cur, "
               "count(*) FILTER (WHERE m.ts >= now() - interval '1 minute')::float8 AS c1, "
               "coalesce(avg(m.value) FILTER (WHERE m.ts >= now() - interval '1 minute'), 0) AS a1, "
               "coalesce(avg(m.value) FILTER (WHERE m.ts >= now() - interval '5 minutes'), 0) AS a5, "
               "coalesce(avg(m.value) FILTER (WHERE m.ts >= now() - interval '15 minutes'), 0) AS a15 "
               f"FROM diff_mirror m WHERE m.metric = {lit(name)} AND NOT m.pruned "
               f"AND m.ts >= now() - interval {keep} AND m.ts <= now() GROUP BY m.tags) g, LATERAL (VALUES "
               "('current', g.cur, 0::float8), ('count_1m', g.c1, 0), ('average_1m', g.a1, 1e-9), "
               "('average_5m', g.a5, 1e-9), ('average_15m', g.a15, 1e-9)) x(f, v, rel)")
        out.append(('rolling', call, compare(ours, exp)))
        # get_metrics(): every raw sample of each series, newest first; of
        # two with one timestamp the last written first
        for tags in w.series[name]:
            call = f'metrics_ex.get_metrics({lit(name)}, 1000000, {jlit(tags)})'
            ours = (f"SELECT x.ord::text || '|' || (x.e ->> 'timestamp')::timestamptz::text AS k, "
                    f"(x.e ->> 'value')::float8 AS v FROM jsonb_array_elements(({call}) -> 'metrics') "
                    "WITH ORDINALITY x(e, ord)")
            exp = ("SELECT (row_number() OVER (ORDER BY m.ts DESC, m.id DESC))::text || '|' || m.ts::text AS k, "
                   "m.value AS v, 0::float8 AS rel, 0::float8 AS fl, false AS skip "
                   f"FROM diff_mirror m WHERE m.metric = {lit(name)} AND m.tags = {jlit(tags)} AND NOT m.pruned")
            out.append(('get_metrics', call, compare(ours, exp)))
    # the exposition: counter totals and histogram counts of every sample ever
    # written (retention never lowers them), a gauge's last written value
    labels = ("(SELECT string_agg(e.key || '=\"' || e.value || '\"', ',' ORDER BY e.key COLLATE \"C\") "
              "FROM jsonb_each_text(s.tags) e)")
    bounds = ' '.join(f"WHEN {lit(n)} THEN '{{{','.join(map(str, b))}}}'::float8[]"
                      for n, (_, b) in METRICS.items() if b)
    exp = f"""
        WITH s AS (
            SELECT m.metric, m.tags, count(*)::float8 AS n, sum(m.value) AS total,
                   (array_agg(m.value ORDER BY m.ts DESC, m.id DESC))[1] AS last,
                   array_agg(m.value) AS vals
              FROM diff_mirror m GROUP BY 1, 2),
        k AS (SELECT s.*, {labels} AS l, mx.kind,
                     CASE s.metric {bounds} ELSE '{{.005,.01,.025,.05,.1,.25,.5,1,2.5,5,10}}'::float8[] END AS b
                FROM s JOIN metrics_ex.metrics mx ON mx.name = s.metric)
        SELECT regexp_replace(metric, '_total$', '') || '_total{{' || l || '}}' AS k, total AS v,
               1e-9::float8 AS rel, 0::float8 AS fl, false AS skip FROM k WHERE kind = 'counter'
        UNION ALL SELECT metric || '{{' || l || '}}', last, 0, 0, false FROM k WHERE kind = 'gauge'
        UNION ALL SELECT metric || '_sum{{' || l || '}}', total, 1e-9, 0, false FROM k WHERE kind = 'histogram'
        UNION ALL SELECT metric || '_count{{' || l || '}}', n, 0, 0, false FROM k WHERE kind = 'histogram'
        UNION ALL SELECT metric || '_bucket{{' || l || ',le="' || coalesce(b[i]::text, '+Inf') || '"}}',
                         (SELECT count(*) FROM unnest(vals) v WHERE b[i] IS NULL OR v <= b[i])::float8, 0, 0, false
                    FROM k, generate_series(1, cardinality(b) + 1) i WHERE kind = 'histogram'"""
    ours = ("SELECT x[1] AS k, x[2]::float8 AS v FROM metrics_ex.prometheus() l, "
            "regexp_match(l, '^(\\S+) (\\S+)$') x WHERE l NOT LIKE '#%'")
    out.append(('prometheus', 'metrics_ex.prometheus()', compare(ours, exp)))
    # get_stats(): samples stored and pruned, counted exactly
    ours = ("SELECT x.k, x.v FROM metrics_ex.get_stats() s, LATERAL (VALUES "
            "('metrics_stored', (s #>> '{storage,metrics_stored}')::float8), "
            "('metrics_pruned', (s #>> '{storage,metrics_pruned}')::float8)) x(k, v)")
    exp = ("SELECT x.k, x.v, 0::float8 AS rel, 0::float8 AS fl, false AS skip FROM LATERAL (VALUES "
           "('metrics_stored', (SELECT count(*) FROM diff_mirror WHERE NOT pruned)::float8), "
           "('metrics_pruned', (SELECT count(*) FROM diff_mirror WHERE pruned)::float8)) x(k, v)")
    out.append(('get_stats', 'metrics_ex.get_stats()', compare(ours, exp)))
    # the points view: exactly the raw samples retention kept
    key = "p.ts::text || ' ' || p.name || ' ' || p.tags::text || ' ' || p.value::text"
    ours = f"SELECT {key} AS k, count(*)::float8 AS v FROM metrics_ex.points p GROUP BY 1"
    exp = (f"SELECT {key} AS k, count(*)::float8 AS v, 0::float8 AS rel, 0::float8 AS fl, false AS skip "
           "FROM (SELECT m.ts, m.metric AS name, m.tags || coalesce(m.lineage, '{}') AS tags, m.value "
           "FROM diff_mirror m WHERE NOT m.pruned) p GROUP BY 1")
    out.append(('points', 'metrics_ex.points', compare(ours, exp)))
    return out


def run_checks(db, checks):
    """Run each check through diff_run(); returns {index: [mismatch rows]}."""
    script = ['SET extra_float_digits = 1;\n']
    for i, (_, _, sql) in enumerate(checks):
        script.append(f"SELECT {i}, * FROM diff_run($diffq${sql}$diffq$);\n")
    out = psql(db, ''.join(script))
    bad = {}
    for line in out.splitlines():
        f = line.split('\t')
        bad.setdefault(int(f[0]), []).append(f[1:])
    return bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--db', required=True)
    ap.add_argument('--seed', type=int, default=11)
    ap.add_argument('--cases', type=int, default=1000, help='random query/time_series/rollup calls')
    ap.add_argument('--batches', type=int, default=120, help='write batches')
    ap.add_argument('--show', type=int, default=3, help='mismatching rows shown per call')
    ap.add_argument('--detail', type=int, default=60, help='failing calls shown with their rows')
    ap.add_argument('--distribute', type=int, default=0, metavar='SHARDS',
                    help='on a Citus coordinator: distribute() into SHARDS shards before writing')
    args = ap.parse_args()
    rnd = random.Random(args.seed)
    print(f'seed {args.seed}, {args.cases} cases, {args.batches} write batches '
          f'(replay: python3 test/differential.py --db DB --seed {args.seed} --cases {args.cases} '
          f'--batches {args.batches})')
    t0 = time.time()
    psql(args.db, setup_sql(args.distribute))
    now0 = int(psql(args.db, "SELECT (extract(epoch FROM now()) * 1000000)::bigint").strip())
    w = Writer(rnd, now0)
    for script in w.sessions(args.batches):
        psql(args.db, script)
    if rnd.random() < 0.5:              # sometimes the last deltas stay pending
        psql(args.db, 'SELECT metrics_ex.materialize();')
        w.log.append('materialize (final)')
    written = psql(args.db, 'SELECT count(*), count(*) FILTER (WHERE pruned) FROM diff_mirror').split()
    print(f'wrote {written[0]} samples ({written[1]} since deleted by retention) in {time.time() - t0:.1f}s; writes: '
          + ', '.join(f'{p} {n}' for p, n in sorted(w.paths.items())) + '\nmaintenance: ' + ', '.join(w.log))
    t1 = time.time()
    cases = random_cases(rnd, w, args.cases)
    checks = [(c.fn, c.call, sql) for c, sql in cases] + fixed_checks(w)
    bad = run_checks(args.db, checks)
    failed = 0
    summary = {}
    for i, (label, call, _) in enumerate(checks):
        if i not in bad:
            continue
        failed += 1
        rows = bad[i]
        what = label
        if i < len(cases):
            c = cases[i][0]
            what = (f'{c.fn} {c.agg} range={c.range_kind}'
                    + (f' bucket={c.bucket} fill={c.fill}' if c.fn == 'time_series' else '')
                    + (' (since older than raw retention)' if c.since < w.now0 - c.keep[1] else ''))
            summary[(c.fn, c.range_kind)] = summary.get((c.fn, c.range_kind), 0) + 1
        else:
            summary[(label, '')] = summary.get((label, ''), 0) + 1
        print(f'not ok - seed {args.seed} check {i}: {what}: {len(rows)} mismatching rows\n    SELECT * FROM {call};')
        if failed > args.detail:
            continue
        for r in rows[:args.show]:
            if r[1] == '':      # an error
                print(f'    {r[0]}')
            else:
                print(f'    key {r[0]}: ours {r[3] if r[1] == "t" else "(no row)"}, '
                      f'expected {r[4] if r[2] == "t" else "(no row)"}')
    print(f'{len(checks) - failed} of {len(checks)} checks passed in {time.time() - t1:.1f}s '
          f'(seed {args.seed})')
    if failed:
        print('failing checks by call and range: ' +
              ', '.join(f'{k[0]}{"/" + k[1] if k[1] else ""}: {v}' for k, v in sorted(summary.items())))
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
