#!/usr/bin/env bash
# Issue 15 figures: what emit() costs over writing its samples directly, and
# log_step() over a plain INSERT.  Each figure is the best of ROUNDS runs of
# N calls in one statement, beside its baseline measured in the same run.
#   handler:    emit() of an event with one counter handler
#               vs increment() of the same sample
#   experiment: emit() of an LLM request of an experiment (6 enriched samples:
#               count, latency, success, 2 token counts, cost)
#               vs INSERT INTO metrics_ex.ingest of those 6 samples
#   training:   log_step() per step, and one INSERT INTO metrics_ex.run_steps of
#               N steps, vs one INSERT into a bare table of the same columns
set -euo pipefail
N=${BENCH_TELEMETRY_CALLS:-20000}
ROUNDS=${BENCH_TELEMETRY_ROUNDS:-3}

q() { psql -qXAt -v ON_ERROR_STOP=1 "$@"; }
now() { date +%s.%N; }
best_ms() {  # best of ROUNDS runs of a statement, in ms
    local best=999999999 t0 t1 d
    for _ in $(seq "$ROUNDS"); do
        t0=$(now); q -c "$1" >/dev/null; t1=$(now)
        d=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
        best=$(awk -v d="$d" -v b="$best" 'BEGIN { print (d < b ? d : b) }')
    done
    echo "$best"
}

q >/dev/null <<SQL
CREATE EXTENSION IF NOT EXISTS metrics_ex;
SELECT metrics_ex.alter_job(job, enabled => false) FROM metrics_ex.jobs;
SELECT metrics_ex.attach_telemetry('bench.job.done', 'bench_jobs_done_total', 'counter', tag_keys => '{queue}');
CREATE TABLE IF NOT EXISTS bench_run_steps (run_id text, metric text, step bigint, value float8,
                                            ts timestamptz DEFAULT now(), metadata jsonb DEFAULT '{}');
SQL
exp=$(q -c "SELECT metrics_ex.start_experiment('bench_telemetry')")

handler_ms=$(best_ms "SELECT count(metrics_ex.emit('bench.job.done', '{}', '{\"queue\": \"q1\", \"trace_id\": \"t\"}'))
                        FROM generate_series(1, $N)")
handler_base_ms=$(best_ms "SELECT count(metrics_ex.increment('bench_jobs_done_total', 1, '{\"queue\": \"q1\", \"trace_id\": \"t\"}'))
                             FROM generate_series(1, $N)")

exp_ms=$(best_ms "SELECT count(metrics_ex.emit('req_llm.request.stop', '{\"duration\": 150000000}',
                                              '{\"experiment_id\": \"$exp\", \"model\": \"gpt-4\",
                                                \"tokens\": {\"prompt\": 100, \"completion\": 200}}'))
                    FROM generate_series(1, $N)")
exp_base_ms=$(best_ms "INSERT INTO metrics_ex.ingest (name, value, tags, kind)
                       SELECT s.name, s.value, '{\"event\": \"req_llm.request.stop\", \"experiment_id\": \"$exp\", \"model\": \"gpt-4\"}', s.kind
                         FROM generate_series(1, $N) i,
                              (VALUES ('experiment_events_total', 1, 'counter'), ('latency_ms', 150, 'histogram'),
                                      ('success', 1, 'gauge'), ('tokens_prompt', 100, 'histogram'),
                                      ('tokens_completion', 200, 'histogram'), ('cost_usd', 0.015, 'histogram')) s(name, value, kind)")

step_ms=$(best_ms "SELECT count(metrics_ex.log_step('bench_run', 'loss', 1.0 / i, i, '{\"epoch\": 1}')) FROM generate_series(1, $N) i")
step_base_ms=$(best_ms "INSERT INTO bench_run_steps (run_id, metric, step, value, metadata)
                        SELECT 'bench_run', 'loss', i, 1.0 / i, '{\"epoch\": 1}' FROM generate_series(1, $N) i")
bulk_ms=$(best_ms "INSERT INTO metrics_ex.run_steps (run_id, metric, step, value, metadata)
                   SELECT 'bench_run', 'loss', i, 1.0 / i, '{\"epoch\": 1}' FROM generate_series(1, $N) i")

row() {  # label, ms, baseline label, baseline ms
    printf "%-52s %9.0f/s   %-44s %9.0f/s   %5.2fx\n" "$1" "$(awk -v m="$2" -v n="$N" 'BEGIN { print n / m * 1000 }')" \
        "$3" "$(awk -v m="$4" -v n="$N" 'BEGIN { print n / m * 1000 }')" "$(awk -v a="$2" -v b="$4" 'BEGIN { print a / b }')"
}
printf "\n%-52s %11s   %-44s %11s   %6s\n" "figure ($N calls, best of $ROUNDS)" "rate" "baseline in the same run" "rate" "cost"
row "emit(), one counter handler" "$handler_ms" "increment() of the same sample" "$handler_base_ms"
row "emit() of an experiment's LLM request (6 samples)" "$exp_ms" "INSERT INTO ingest of its 6 samples" "$exp_base_ms"
row "log_step()" "$step_ms" "INSERT into a bare 6-column table" "$step_base_ms"
row "INSERT INTO run_steps of N steps (row security)" "$bulk_ms" "INSERT into a bare 6-column table" "$step_base_ms"
echo "cost = time per call over the baseline's time per call (events, not samples, for the second row)."

q >/dev/null <<SQL
SELECT metrics_ex.detach_telemetry('bench.job.done', 'bench_jobs_done_total');
SELECT metrics_ex.delete_experiment('$exp');
DELETE FROM metrics_ex.metrics WHERE name = 'bench_jobs_done_total';
DELETE FROM metrics_ex.run_steps WHERE run_id = 'bench_run';
DROP TABLE bench_run_steps;
SQL
