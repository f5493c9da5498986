-- What gateways must refuse, kept small, and signed once per change.
--
-- A revoked token id is published to cluster gateways only when they could
-- be shown it: a logout revokes a user token, which no gateway accepts, so
-- the API alone refuses it (`published` 0). Revocations recorded before
-- this migration stay published until they expire.
ALTER TABLE revoked_tokens ADD COLUMN published INTEGER NOT NULL DEFAULT 1;

-- A person's cluster tokens for one cluster issued before a time, refused
-- until every such token has expired: one row per person and cluster,
-- however many tokens (a member removed from an organization, a GitHub
-- membership found lapsed). A later revocation only moves both times on.
CREATE TABLE revoked_subjects (
    subject        TEXT NOT NULL,
    audience       TEXT NOT NULL,
    issued_before  INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    revoked_at     INTEGER NOT NULL,
    PRIMARY KEY (subject, audience)
);
CREATE INDEX revoked_subjects_by_expiry ON revoked_subjects (expires_at);

-- Bumped in the transaction of every published revocation: a replica signs
-- the list again only when it changed.
CREATE TABLE revocation_list (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    version  INTEGER NOT NULL
);
INSERT INTO revocation_list (id, version) VALUES (1, 0);

-- Bootstrap tokens are marked: `slipway admin bootstrap-token` revokes the
-- earlier ones, never an API token the bootstrap administrator created.
-- Existing ones are those minted as bootstrap tokens were: the bootstrap
-- administrator's, named `bootstrap-admin`, scope `*`, no expiry.
ALTER TABLE api_tokens ADD COLUMN bootstrap INTEGER NOT NULL DEFAULT 0;
UPDATE api_tokens SET bootstrap = 1
 WHERE owner = 'slipway:bootstrap' AND name = 'bootstrap-admin' AND scopes = '["*"]' AND expires_at IS NULL;
