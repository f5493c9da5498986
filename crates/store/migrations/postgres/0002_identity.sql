-- Identity and access: organizations and their limits, memberships, users
-- signed in with GitHub, signing keys, revoked tokens, web sign-in states.
-- Secrets (GitHub tokens, private keys, PKCE verifiers) are sealed
-- (AES-256-GCM) before they reach these tables.

CREATE TABLE organizations (
    name         TEXT PRIMARY KEY,
    github_org   TEXT,
    github_team  TEXT,
    limits       TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
INSERT INTO organizations (name, github_org, github_team, limits, created_at, updated_at)
VALUES ('default', NULL, NULL,
        '{"max_nodes":50,"max_lifetime_secs":43200,"min_lifetime_secs":900,"max_clusters":10}', 0, 0);

CREATE TABLE memberships (
    organization  TEXT NOT NULL,
    login         TEXT NOT NULL,
    role          TEXT NOT NULL,
    state         TEXT NOT NULL,
    requested_at  BIGINT NOT NULL,
    decided_by    TEXT,
    decided_at    BIGINT,
    PRIMARY KEY (organization, login)
);
CREATE INDEX memberships_by_login ON memberships (login);

CREATE TABLE users (
    login         TEXT PRIMARY KEY,
    github_id     BIGINT NOT NULL,
    github_token  TEXT,
    admin         BIGINT NOT NULL,
    github_orgs   TEXT NOT NULL,
    checked_at    BIGINT NOT NULL,
    created_at    BIGINT NOT NULL
);

CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    public_key   TEXT NOT NULL,
    private_key  TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    retired_at   BIGINT
);

CREATE TABLE revoked_tokens (
    jti         TEXT PRIMARY KEY,
    expires_at  BIGINT NOT NULL
);

CREATE TABLE login_states (
    state       TEXT PRIMARY KEY,
    payload     TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
