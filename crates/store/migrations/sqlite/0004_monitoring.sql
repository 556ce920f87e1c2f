-- Monitoring inside Bytesbox (docs/monitoring.md): what each node saw,
-- per minute, written by the node in one batch a minute; errors the
-- server caused, each with the id its log line carries; and per-user
-- activity per day. Times are Unix milliseconds; `minute` and `day` are
-- the start of theirs. Rows past their retention are pruned by the nodes.
-- Keep in step with ../postgres/.

-- A node's minute: gauges sampled at its flush, the errors it saw (all
-- of them; at most a few a minute are kept in monitor_errors, the rest
-- only counted in errors_dropped).
CREATE TABLE monitor_minutes (
    node_id         TEXT NOT NULL,
    minute          BIGINT NOT NULL,
    queue_depth     BIGINT NOT NULL DEFAULT 0,
    running         BIGINT NOT NULL DEFAULT 0,
    sessions        BIGINT NOT NULL DEFAULT 0,
    boxes           BIGINT NOT NULL DEFAULT 0,
    resident_bytes  BIGINT NOT NULL DEFAULT 0,
    errors          BIGINT NOT NULL DEFAULT 0,
    errors_dropped  BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (node_id, minute)
);
CREATE INDEX monitor_minutes_minute ON monitor_minutes(minute);

-- Runs that ended in a node's minute, by language and status.
CREATE TABLE monitor_runs (
    node_id   TEXT NOT NULL,
    minute    BIGINT NOT NULL,
    language  TEXT NOT NULL,
    status    TEXT NOT NULL,
    runs      BIGINT NOT NULL,
    PRIMARY KEY (node_id, minute, language, status)
);
CREATE INDEX monitor_runs_minute ON monitor_runs(minute);

-- The latency histogram of a node's minute: how many runs took up to
-- the bucket's bound (bounds in crates/store/src/monitoring.rs), so that
-- nodes and minutes add up to the fleet's percentiles.
CREATE TABLE monitor_latency (
    node_id  TEXT NOT NULL,
    minute   BIGINT NOT NULL,
    bucket   BIGINT NOT NULL,
    runs     BIGINT NOT NULL,
    PRIMARY KEY (node_id, minute, bucket)
);
CREATE INDEX monitor_latency_minute ON monitor_latency(minute);

-- Server-side failures: a 5xx answer (kind 'http', subject the route) or
-- a run that failed for the server's reasons (kind 'run', subject the
-- language). `id` is in the failure's log line and in the answer.
CREATE TABLE monitor_errors (
    id        TEXT PRIMARY KEY,
    node_id   TEXT NOT NULL,
    at        BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    code      TEXT NOT NULL,
    subject   TEXT NOT NULL,
    message   TEXT NOT NULL
);
CREATE INDEX monitor_errors_at ON monitor_errors(at);
CREATE INDEX monitor_errors_node_at ON monitor_errors(node_id, at);

-- A signed-in user's runs and their CPU time per day and language.
CREATE TABLE monitor_user_days (
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day       BIGINT NOT NULL,
    language  TEXT NOT NULL,
    runs      BIGINT NOT NULL,
    cpu_ms    BIGINT NOT NULL,
    PRIMARY KEY (user_id, day, language)
);
CREATE INDEX monitor_user_days_day ON monitor_user_days(day);

-- What a user stored, sampled (the latest sample of the day is kept).
CREATE TABLE monitor_user_storage (
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    day      BIGINT NOT NULL,
    files    BIGINT NOT NULL,
    bytes    BIGINT NOT NULL,
    PRIMARY KEY (user_id, day)
);
CREATE INDEX monitor_user_storage_day ON monitor_user_storage(day);
