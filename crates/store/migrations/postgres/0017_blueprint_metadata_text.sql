-- A blueprint version's metadata file as it was published, so whoever runs
-- the version can recompute its digest from what the database holds and
-- refuse content that no longer matches it (NULL: registered before this
-- was kept; filled in when the same content is registered again).
ALTER TABLE blueprint_versions ADD COLUMN metadata_text TEXT;
