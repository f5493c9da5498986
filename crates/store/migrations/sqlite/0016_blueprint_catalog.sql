-- The catalog of blueprint versions: a version may be restricted to some
-- organizations when it is published (a JSON array of names; NULL: every
-- organization), and deprecated later (no new clusters on it; the ones that
-- run it keep running and are destroyed as ever).
ALTER TABLE blueprint_versions ADD COLUMN organizations TEXT;
ALTER TABLE blueprint_versions ADD COLUMN deprecated_at INTEGER;
ALTER TABLE blueprint_versions ADD COLUMN deprecation TEXT;

-- `latest` as an alias an administrator moves; without one, `latest` is
-- the newest version not deprecated.
CREATE TABLE blueprint_latest (
    blueprint TEXT PRIMARY KEY,
    version   TEXT NOT NULL,
    moved_at  INTEGER NOT NULL,
    FOREIGN KEY (blueprint, version) REFERENCES blueprint_versions (blueprint, version)
);
