-- A protected cluster is kept: never destroyed nor scheduled for destroy
-- unless an administrator forces it (docs/domain.md §4).
ALTER TABLE clusters ADD COLUMN protected INTEGER NOT NULL DEFAULT 0;
