-- Identities from different sources never collide: people are known by a
-- namespaced, stable subject (`github:<numeric id>`), Slipway's own
-- identities by `slipway:<name>`, which no sign-in can produce. Logins stay
-- as display names only. See the SQLite twin for how existing rows move.

CREATE TABLE users_by_subject (
    subject       TEXT PRIMARY KEY,
    login         TEXT NOT NULL,
    github_id     BIGINT NOT NULL,
    github_token  TEXT,
    admin         BIGINT NOT NULL,
    github_orgs   TEXT NOT NULL,
    checked_at    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);
INSERT INTO users_by_subject (subject, login, github_id, github_token, admin, github_orgs, checked_at, created_at)
SELECT 'github:' || github_id, login, github_id, NULL, admin, github_orgs, checked_at, created_at FROM users;

UPDATE api_tokens SET owner = 'slipway:bootstrap' WHERE owner = 'admin';
UPDATE api_tokens SET owner = (SELECT subject FROM users_by_subject u WHERE u.login = api_tokens.owner)
 WHERE owner IN (SELECT login FROM users_by_subject);
UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, (EXTRACT(EPOCH FROM now()) * 1000)::BIGINT)
 WHERE owner NOT LIKE 'github:%' AND owner NOT LIKE 'slipway:%';

DELETE FROM memberships WHERE login NOT IN (SELECT login FROM users_by_subject);
UPDATE memberships SET login = (SELECT subject FROM users_by_subject u WHERE u.login = memberships.login);
ALTER TABLE memberships RENAME COLUMN login TO subject;
DROP INDEX memberships_by_login;
CREATE INDEX memberships_by_subject ON memberships (subject);

DROP TABLE users;
ALTER TABLE users_by_subject RENAME TO users;
CREATE INDEX users_by_login ON users (LOWER(login));

ALTER TABLE audit_log ADD COLUMN actor_name TEXT;
CREATE INDEX audit_by_actor ON audit_log (actor, id);
CREATE INDEX audit_by_action ON audit_log (action, id);

ALTER TABLE operations ADD COLUMN cancel_requested_by TEXT;
ALTER TABLE operations ADD COLUMN cancel_requested_at BIGINT;

ALTER TABLE revoked_tokens ADD COLUMN revoked_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);

CREATE INDEX clusters_by_organization ON clusters (organization, name);
CREATE INDEX clusters_by_visibility ON clusters (public, name);
