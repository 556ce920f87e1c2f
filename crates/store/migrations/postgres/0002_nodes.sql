-- The fleet: every `bytesbox serve` sharing this database registers here
-- at start and heartbeats (docs/deploy.md). A node whose heartbeat is older
-- than the configured timeout is out of the fleet; rows of long-dead
-- nodes are removed when a node registers. `state` is 'serving' or
-- 'draining'; an administrator sets 'draining' here and the node reads it
-- at its next heartbeat. Times are Unix milliseconds. Keep in step with
-- ../sqlite/.

CREATE TABLE nodes (
    id            TEXT PRIMARY KEY,
    address       TEXT NOT NULL,
    capacity      BIGINT NOT NULL,
    boxes         BIGINT NOT NULL DEFAULT 0,
    sessions      BIGINT NOT NULL DEFAULT 0,
    state         TEXT NOT NULL DEFAULT 'serving',
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL
);
CREATE INDEX nodes_heartbeat ON nodes(heartbeat_at);
