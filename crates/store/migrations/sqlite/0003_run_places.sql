-- Runs going, per user, across the fleet (docs/deploy.md, "Limits across
-- nodes"): a node adds a row when a signed-in user's run takes a place and
-- removes it when the run ends. A user's places are counted, and rows of
-- nodes out of the fleet removed, in one transaction that holds the
-- user's other writes off, so nodes cannot overshoot a limit together.
-- Times are Unix milliseconds. Keep in step with ../postgres/.

CREATE TABLE run_places (
    id          TEXT PRIMARY KEY,
    user_id     TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    node_id     TEXT NOT NULL,
    started_at  BIGINT NOT NULL
);
CREATE INDEX run_places_user ON run_places(user_id);
CREATE INDEX run_places_node ON run_places(node_id);
