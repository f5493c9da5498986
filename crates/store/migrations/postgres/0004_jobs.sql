-- TEST, RELEASE and cleanup operations carry the project's version and whose
-- runner they use (JSON); their results go in `result` like any operation's.
ALTER TABLE operations ADD COLUMN job TEXT;
