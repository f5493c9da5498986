-- What gateways must refuse, kept small, and signed once per change; and
-- bootstrap tokens marked. See the SQLite twin for the reasons.
ALTER TABLE revoked_tokens ADD COLUMN published BIGINT NOT NULL DEFAULT 1;

CREATE TABLE revoked_subjects (
    subject        TEXT NOT NULL,
    audience       TEXT NOT NULL,
    issued_before  BIGINT NOT NULL,
    expires_at     BIGINT NOT NULL,
    revoked_at     BIGINT NOT NULL,
    PRIMARY KEY (subject, audience)
);
CREATE INDEX revoked_subjects_by_expiry ON revoked_subjects (expires_at);

CREATE TABLE revocation_list (
    id       BIGINT PRIMARY KEY CHECK (id = 1),
    version  BIGINT NOT NULL
);
INSERT INTO revocation_list (id, version) VALUES (1, 0);

ALTER TABLE api_tokens ADD COLUMN bootstrap BIGINT NOT NULL DEFAULT 0;
UPDATE api_tokens SET bootstrap = 1
 WHERE owner = 'slipway:bootstrap' AND name = 'bootstrap-admin' AND scopes = '["*"]' AND expires_at IS NULL;
