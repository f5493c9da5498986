-- The last apply of a repository's deployment to its cluster: what a
-- later environment (prod after staging) is checked against.
CREATE TABLE deployment_applies (
    cluster       TEXT PRIMARY KEY REFERENCES clusters (name) ON DELETE CASCADE,
    deployment    TEXT NOT NULL,
    environment   TEXT NOT NULL,
    version       TEXT NOT NULL,
    common_digest TEXT NOT NULL,
    commit_id     TEXT,
    applied_by    TEXT NOT NULL,
    applied_at    BIGINT NOT NULL
);
