-- A project's saved git repository (docs/git.md, "Saved with the
-- project"): one archive of the box's `.git` per project, kept in the
-- object store like a file's contents (`object_key` under the project's
-- prefix) and written the same way: the object first, durably, then this
-- row. Its bytes count in the owner's `max_bytes` quota and the server's
-- storage budget; it is no file of the project (not listed, not
-- exported). Goes with its project. Keep in step with the other database.
CREATE TABLE project_git (
    project_id  TEXT PRIMARY KEY REFERENCES projects(id) ON DELETE CASCADE,
    size_bytes  BIGINT NOT NULL,
    object_key  TEXT NOT NULL,
    updated_at  BIGINT NOT NULL
);
