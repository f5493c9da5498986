-- Identities from different sources never collide: people are known by a
-- namespaced, stable subject (`github:<numeric id>`), Slipway's own
-- identities by `slipway:<name>`, which no sign-in can produce. Logins stay
-- as display names only.
--
-- Existing rows are moved over: users by their GitHub id; memberships and
-- API tokens of people who signed in follow them; the bootstrap token's
-- owner `admin` becomes `slipway:bootstrap`. What cannot be tied to a known
-- person (a membership or token naming a login that never signed in) is
-- dropped or revoked: a login alone may later belong to someone else.
-- Sealed GitHub tokens were bound to the login and cannot be opened under
-- the subject: they are forgotten, and their owners sign in again once.

CREATE TABLE users_by_subject (
    subject       TEXT PRIMARY KEY,
    login         TEXT NOT NULL,
    github_id     INTEGER NOT NULL,
    github_token  TEXT,
    admin         INTEGER NOT NULL,
    github_orgs   TEXT NOT NULL,
    checked_at    INTEGER NOT NULL,
    created_at    INTEGER NOT NULL
);
INSERT INTO users_by_subject (subject, login, github_id, github_token, admin, github_orgs, checked_at, created_at)
SELECT 'github:' || github_id, login, github_id, NULL, admin, github_orgs, checked_at, created_at FROM users;

UPDATE api_tokens SET owner = 'slipway:bootstrap' WHERE owner = 'admin';
UPDATE api_tokens SET owner = (SELECT subject FROM users_by_subject u WHERE u.login = api_tokens.owner)
 WHERE owner IN (SELECT login FROM users_by_subject);
UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, CAST(strftime('%s', 'now') AS INTEGER) * 1000)
 WHERE owner NOT LIKE 'github:%' AND owner NOT LIKE 'slipway:%';

DELETE FROM memberships WHERE login NOT IN (SELECT login FROM users_by_subject);
UPDATE memberships SET login = (SELECT subject FROM users_by_subject u WHERE u.login = memberships.login);
ALTER TABLE memberships RENAME COLUMN login TO subject;
DROP INDEX memberships_by_login;
CREATE INDEX memberships_by_subject ON memberships (subject);

DROP TABLE users;
ALTER TABLE users_by_subject RENAME TO users;
CREATE INDEX users_by_login ON users (LOWER(login));

-- The audit log names who acted by subject, and what they were called.
ALTER TABLE audit_log ADD COLUMN actor_name TEXT;
CREATE INDEX audit_by_actor ON audit_log (actor, id);
CREATE INDEX audit_by_action ON audit_log (action, id);

-- A cancel is a durable request: the worker holding the lease sees it when
-- it next renews (or at once, when notified) and stops the run.
ALTER TABLE operations ADD COLUMN cancel_requested_by TEXT;
ALTER TABLE operations ADD COLUMN cancel_requested_at INTEGER;

-- Revocations are published to gateways, newest first.
ALTER TABLE revoked_tokens ADD COLUMN revoked_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX revoked_tokens_by_expiry ON revoked_tokens (expires_at);

-- Listing clusters by organization and visibility without reading them all.
CREATE INDEX clusters_by_organization ON clusters (organization, name);
CREATE INDEX clusters_by_visibility ON clusters (public, name);
