//! People, organizations and memberships, API tokens, signing keys,
//! revocations and web sign-in states.

use async_trait::async_trait;
use slipway_core::{ClusterName, OrgName, Refusal, Subject, Timestamp};
use sqlx::{Any, Transaction};

use super::rows::*;
use super::{SqlStore, by_dialect};
use crate::{
    AdminCandidate, ApiToken, ClusterTokenRevocation, IdentityStore, Membership, NewApiToken,
    Notification, Organization, PublishedRevocations, RefusedBy, Result, Revocation,
    RevocationCheck, StoreError, StoredSigningKey, SubjectRevocation, User,
};

/// Moves the published list's version on, in the transaction of a change.
async fn bump_revocations_version(tx: &mut Transaction<'static, Any>) -> Result<()> {
    sqlx::query("UPDATE revocation_list SET version = version + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await?;
    Ok(())
}

/// Refuses a person's cluster tokens for the clusters a revocation names
/// (one row per cluster, both times moved on if there was one already);
/// how many clusters.
async fn insert_subject_revocations(
    tx: &mut Transaction<'static, Any>,
    revocation: &ClusterTokenRevocation,
) -> Result<u64> {
    macro_rules! upsert {
        ($clusters:literal) => {
            concat!(
                "INSERT INTO revoked_subjects (subject, audience, issued_before, expires_at, revoked_at) ",
                "SELECT $1, name, $2, $3, $2 FROM clusters WHERE ",
                // SQLite needs a WHERE in an upsert's SELECT.
                $clusters,
                " ON CONFLICT (subject, audience) DO UPDATE SET ",
                "issued_before = CASE WHEN excluded.issued_before > revoked_subjects.issued_before ",
                "THEN excluded.issued_before ELSE revoked_subjects.issued_before END, ",
                "expires_at = CASE WHEN excluded.expires_at > revoked_subjects.expires_at ",
                "THEN excluded.expires_at ELSE revoked_subjects.expires_at END, ",
                "revoked_at = excluded.revoked_at"
            )
        };
    }
    let query = match &revocation.organization {
        Some(_) => upsert!("organization = $4"),
        None => upsert!("true"),
    };
    let mut query = sqlx::query(query)
        .bind(revocation.subject.as_str())
        .bind(millis(revocation.at))
        .bind(millis(revocation.until));
    if let Some(org) = &revocation.organization {
        query = query.bind(org.as_str());
    }
    let inserted = query.execute(&mut **tx).await?.rows_affected();
    if inserted > 0 {
        bump_revocations_version(tx).await?;
    }
    Ok(inserted)
}

#[async_trait]
impl IdentityStore for SqlStore {
    async fn create_api_token(&self, token: NewApiToken) -> Result<ApiToken> {
        let mut tx = self.begin().await?;
        let token = insert_api_token(&mut tx, token, false).await?;
        tx.commit().await?;
        Ok(token)
    }

    async fn replace_bootstrap_token(&self, token: NewApiToken) -> Result<(ApiToken, Vec<String>)> {
        let mut tx = self.begin().await?;
        let earlier: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM api_tokens WHERE bootstrap = 1 AND revoked_at IS NULL ORDER BY id",
        )
        .fetch_all(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE api_tokens SET revoked_at = $1 WHERE bootstrap = 1 AND revoked_at IS NULL",
        )
        .bind(millis(token.created_at))
        .execute(&mut *tx)
        .await?;
        let token = insert_api_token(&mut tx, token, true).await?;
        tx.commit().await?;
        if !earlier.is_empty() {
            self.notify([Notification::CredentialsChanged]).await;
        }
        Ok((token, earlier))
    }

    async fn api_token_by_hash(&self, secret_hash: &str) -> Result<Option<ApiToken>> {
        let row = sqlx::query_as::<_, ApiTokenRow>(concat!(
            "SELECT ",
            api_token_columns!(),
            " FROM api_tokens WHERE secret_hash = $1"
        ))
        .bind(secret_hash)
        .fetch_optional(&self.pool)
        .await?;
        row.map(ApiToken::try_from).transpose()
    }

    async fn api_token(&self, id: &str) -> Result<Option<ApiToken>> {
        let row = sqlx::query_as::<_, ApiTokenRow>(concat!(
            "SELECT ",
            api_token_columns!(),
            " FROM api_tokens WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        row.map(ApiToken::try_from).transpose()
    }

    async fn api_tokens(&self) -> Result<Vec<ApiToken>> {
        let rows = sqlx::query_as::<_, ApiTokenRow>(concat!(
            "SELECT ",
            api_token_columns!(),
            " FROM api_tokens ORDER BY created_at, id"
        ))
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    async fn revoke_api_token(
        &self,
        id: &str,
        now: Timestamp,
        check: &RevocationCheck<'_>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        // Every token the check reads, locked in one order (by id) so two
        // revocations never wait on each other crosswise. A token revoked
        // meanwhile drops out when its lock is granted: PostgreSQL re-reads
        // a locked row's WHERE.
        let candidates: Vec<AdminCandidate> = convert(
            sqlx::query_as::<_, AdminCandidateRow>(by_dialect!(
                self.dialect,
                sqlite: "SELECT t.id, t.name, t.owner, t.scopes, t.created_at, t.expires_at, t.revoked_at, t.bootstrap, \
                         COALESCE(u.admin, 0) AS owner_admin \
                         FROM api_tokens t LEFT JOIN users u ON u.subject = t.owner \
                         WHERE t.revoked_at IS NULL ORDER BY t.id",
                postgres: "SELECT t.id, t.name, t.owner, t.scopes, t.created_at, t.expires_at, t.revoked_at, t.bootstrap, \
                           COALESCE(u.admin, 0) AS owner_admin \
                           FROM api_tokens t LEFT JOIN users u ON u.subject = t.owner \
                           WHERE t.revoked_at IS NULL ORDER BY t.id FOR UPDATE OF t",
            ))
            .fetch_all(&mut *tx)
            .await?,
        )?;
        let Some(target) = candidates.iter().find(|c| c.token.id == id) else {
            // Revoked already (it stays as it was), or no such token.
            let exists: Option<String> =
                sqlx::query_scalar("SELECT id FROM api_tokens WHERE id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await?;
            tx.commit().await?;
            return Ok(exists.is_some());
        };
        check(target, &candidates)?;
        sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1")
            .bind(id)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.notify([Notification::CredentialsChanged]).await;
        Ok(true)
    }

    async fn create_organization(&self, org: Organization) -> Result<Organization> {
        let mut tx = self.begin().await?;
        let exists: Option<String> =
            sqlx::query_scalar("SELECT name FROM organizations WHERE name = $1")
                .bind(org.name.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_some() {
            return Err(Refusal::AlreadyExists(format!("organization {}", org.name)).into());
        }
        sqlx::query(
            "INSERT INTO organizations (name, github_org, github_team, limits, destroy_when_idle, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(org.name.as_str())
        .bind(org.github_org.as_deref())
        .bind(org.github_team.as_deref())
        .bind(to_json(&org.limits))
        .bind(i64::from(org.destroy_when_idle))
        .bind(millis(org.created_at))
        .bind(millis(org.updated_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(org)
    }

    async fn update_organization(&self, org: Organization) -> Result<Organization> {
        let updated = sqlx::query(
            "UPDATE organizations SET github_org = $2, github_team = $3, limits = $4, destroy_when_idle = $5, updated_at = $6 WHERE name = $1",
        )
        .bind(org.name.as_str())
        .bind(org.github_org.as_deref())
        .bind(org.github_team.as_deref())
        .bind(to_json(&org.limits))
        .bind(i64::from(org.destroy_when_idle))
        .bind(millis(org.updated_at))
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::OrganizationNotFound(org.name.to_string()));
        }
        Ok(org)
    }

    async fn organization(&self, name: &OrgName) -> Result<Option<Organization>> {
        sqlx::query_as::<_, OrganizationRow>(
            "SELECT name, github_org, github_team, limits, destroy_when_idle, created_at, updated_at FROM organizations WHERE name = $1",
        )
        .bind(name.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(Organization::try_from)
        .transpose()
    }

    async fn organizations(&self) -> Result<Vec<Organization>> {
        convert(
            sqlx::query_as::<_, OrganizationRow>(
                "SELECT name, github_org, github_team, limits, destroy_when_idle, created_at, updated_at FROM organizations ORDER BY name",
            )
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn put_membership(&self, m: Membership) -> Result<()> {
        sqlx::query(
            "INSERT INTO memberships (organization, subject, role, state, requested_at, decided_by, decided_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (organization, subject) DO UPDATE SET role = excluded.role, state = excluded.state, \
             requested_at = excluded.requested_at, decided_by = excluded.decided_by, decided_at = excluded.decided_at",
        )
        .bind(m.organization.as_str())
        .bind(m.subject.as_str())
        .bind(role_text(m.role))
        .bind(membership_state_text(m.state))
        .bind(millis(m.requested_at))
        .bind(m.decided_by.as_deref())
        .bind(m.decided_at.map(millis))
        .execute(&self.pool)
        .await?;
        self.notify([Notification::CredentialsChanged]).await;
        Ok(())
    }

    async fn membership(&self, org: &OrgName, subject: &Subject) -> Result<Option<Membership>> {
        sqlx::query_as::<_, MembershipRow>(concat!(
            "SELECT ",
            membership_columns!(),
            " FROM memberships m LEFT JOIN users u ON u.subject = m.subject WHERE m.organization = $1 AND m.subject = $2"
        ))
        .bind(org.as_str())
        .bind(subject.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(Membership::try_from)
        .transpose()
    }

    async fn memberships(&self, org: &OrgName) -> Result<Vec<Membership>> {
        convert(
            sqlx::query_as::<_, MembershipRow>(concat!(
                "SELECT ",
                membership_columns!(),
                " FROM memberships m LEFT JOIN users u ON u.subject = m.subject WHERE m.organization = $1 ORDER BY u.login IS NULL, u.login, m.subject"
            ))
            .bind(org.as_str())
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn memberships_of(&self, subject: &Subject) -> Result<Vec<Membership>> {
        convert(
            sqlx::query_as::<_, MembershipRow>(concat!(
                "SELECT ",
                membership_columns!(),
                " FROM memberships m LEFT JOIN users u ON u.subject = m.subject WHERE m.subject = $1 ORDER BY m.organization"
            ))
            .bind(subject.as_str())
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn remove_membership(
        &self,
        org: &OrgName,
        subject: &Subject,
        then_revoke: Option<&ClusterTokenRevocation>,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let removed =
            sqlx::query("DELETE FROM memberships WHERE organization = $1 AND subject = $2")
                .bind(org.as_str())
                .bind(subject.as_str())
                .execute(&mut *tx)
                .await?
                .rows_affected()
                > 0;
        let mut revoked = 0;
        if removed && let Some(revocation) = then_revoke {
            revoked = insert_subject_revocations(&mut tx, revocation).await?;
        }
        tx.commit().await?;
        let mut notes = Vec::new();
        if removed {
            notes.push(Notification::CredentialsChanged);
        }
        if revoked > 0 {
            notes.push(Notification::Revoked);
        }
        self.notify(notes).await;
        Ok(removed)
    }

    async fn put_user(&self, user: User) -> Result<()> {
        sqlx::query(
            "INSERT INTO users (subject, login, github_id, github_token, admin, github_orgs, checked_at, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (subject) DO UPDATE SET login = excluded.login, github_id = excluded.github_id, \
             github_token = excluded.github_token, admin = excluded.admin, github_orgs = excluded.github_orgs, \
             checked_at = excluded.checked_at",
        )
        .bind(user.subject.as_str())
        .bind(user.login.as_str())
        .bind(user.github_id)
        .bind(user.github_token.as_deref().map(b64))
        .bind(i64::from(user.admin))
        .bind(to_json(&user.github_orgs))
        .bind(millis(user.checked_at))
        .bind(millis(user.created_at))
        .execute(&self.pool)
        .await?;
        self.notify([Notification::CredentialsChanged]).await;
        Ok(())
    }

    async fn user(&self, subject: &Subject) -> Result<Option<User>> {
        sqlx::query_as::<_, UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE subject = $1"
        ))
        .bind(subject.as_str())
        .fetch_optional(&self.pool)
        .await?
        .map(User::try_from)
        .transpose()
    }

    async fn user_by_login(&self, login: &str) -> Result<Option<User>> {
        sqlx::query_as::<_, UserRow>(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE LOWER(login) = LOWER($1) ORDER BY checked_at DESC LIMIT 1"
        ))
        .bind(login)
        .fetch_optional(&self.pool)
        .await?
        .map(User::try_from)
        .transpose()
    }

    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>> {
        convert(
            sqlx::query_as::<_, SigningKeyRow>(
                "SELECT kid, public_key, private_key, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid",
            )
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn rotate_signing_key(&self, key: StoredSigningKey) -> Result<()> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL")
            .bind(millis(key.created_at))
            .execute(&mut *tx)
            .await?;
        sqlx::query(
            "INSERT INTO signing_keys (kid, public_key, private_key, created_at, retired_at) VALUES ($1, $2, $3, $4, NULL)",
        )
        .bind(key.kid.as_str())
        .bind(b64(&key.public_key))
        .bind(b64(&key.private_key))
        .bind(millis(key.created_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        self.notify([Notification::CredentialsChanged]).await;
        Ok(())
    }

    async fn revoke_token(
        &self,
        jti: &str,
        expires_at: Timestamp,
        now: Timestamp,
        refused_by: RefusedBy,
    ) -> Result<()> {
        let published = match refused_by {
            RefusedBy::Api => 0_i64,
            RefusedBy::Everyone => 1,
        };
        let mut tx = self.begin().await?;
        // Revocations of expired tokens are kept no longer than that.
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        let written = sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at, revoked_at, published) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (jti) DO UPDATE SET published = 1 WHERE excluded.published = 1 AND revoked_tokens.published = 0",
        )
        .bind(jti)
        .bind(millis(expires_at))
        .bind(millis(now))
        .bind(published)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        // Published anew: the list changed.
        let changed = published == 1 && written > 0;
        if changed {
            bump_revocations_version(&mut tx).await?;
        }
        tx.commit().await?;
        let mut notes = Vec::new();
        if written > 0 {
            notes.push(Notification::CredentialsChanged);
        }
        if changed {
            notes.push(Notification::Revoked);
        }
        self.notify(notes).await;
        Ok(())
    }

    async fn revoke_cluster_tokens(&self, revocation: &ClusterTokenRevocation) -> Result<u64> {
        let mut tx = self.begin().await?;
        let revoked = insert_subject_revocations(&mut tx, revocation).await?;
        tx.commit().await?;
        if revoked > 0 {
            self.notify([Notification::Revoked]).await;
        }
        Ok(revoked)
    }

    async fn revocations(&self, now: Timestamp) -> Result<PublishedRevocations> {
        // The version first: a change committed while the rest is read is
        // then published again, never missed.
        let version = self.revocations_version().await?;
        for forget in [
            "DELETE FROM revoked_tokens WHERE expires_at < $1",
            "DELETE FROM revoked_subjects WHERE expires_at < $1",
        ] {
            sqlx::query(forget)
                .bind(millis(now))
                .execute(&self.pool)
                .await?;
        }
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT jti, expires_at, revoked_at FROM revoked_tokens WHERE published = 1 ORDER BY revoked_at DESC, jti",
        )
        .fetch_all(&self.pool)
        .await?;
        let tokens = rows
            .into_iter()
            .map(|(jti, expires_at, revoked_at)| {
                Ok(Revocation {
                    jti,
                    expires_at: time(expires_at)?,
                    revoked_at: time(revoked_at)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let rows: Vec<(String, String, i64, i64, i64)> = sqlx::query_as(
            "SELECT subject, audience, issued_before, expires_at, revoked_at FROM revoked_subjects ORDER BY subject, audience",
        )
        .fetch_all(&self.pool)
        .await?;
        let subjects = rows
            .into_iter()
            .map(
                |(subject, audience, issued_until, expires_at, revoked_at)| {
                    Ok(SubjectRevocation {
                        subject: name("revoked subject", &subject, Subject::parse)?,
                        cluster: name("revoked audience", &audience, ClusterName::parse)?,
                        issued_until: time(issued_until)?,
                        expires_at: time(expires_at)?,
                        revoked_at: time(revoked_at)?,
                    })
                },
            )
            .collect::<Result<Vec<_>>>()?;
        Ok(PublishedRevocations {
            version,
            tokens,
            subjects,
        })
    }

    async fn revocations_version(&self) -> Result<i64> {
        Ok(
            sqlx::query_scalar("SELECT version FROM revocation_list WHERE id = 1")
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn token_revoked(&self, jti: &str) -> Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT expires_at FROM revoked_tokens WHERE jti = $1")
                .bind(jti)
                .fetch_optional(&self.pool)
                .await?;
        Ok(found.is_some())
    }

    async fn put_login_state(
        &self,
        state: &str,
        payload: &[u8],
        expires_at: Timestamp,
    ) -> Result<()> {
        sqlx::query("INSERT INTO login_states (state, payload, expires_at) VALUES ($1, $2, $3)")
            .bind(state)
            .bind(b64(payload))
            .bind(millis(expires_at))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn take_login_state(&self, state: &str, now: Timestamp) -> Result<Option<Vec<u8>>> {
        let mut tx = self.begin().await?;
        let row: Option<(String, i64)> =
            sqlx::query_as("SELECT payload, expires_at FROM login_states WHERE state = $1")
                .bind(state)
                .fetch_optional(&mut *tx)
                .await?;
        sqlx::query("DELETE FROM login_states WHERE state = $1 OR expires_at < $2")
            .bind(state)
            .bind(millis(now))
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        match row {
            Some((payload, expires)) if expires >= millis(now) => {
                Ok(Some(unb64("login state", &payload)?))
            }
            _ => Ok(None),
        }
    }
}

/// Inserts an API token in a transaction.
async fn insert_api_token(
    tx: &mut Transaction<'static, Any>,
    token: NewApiToken,
    bootstrap: bool,
) -> Result<ApiToken> {
    sqlx::query(
        "INSERT INTO api_tokens (id, name, owner, secret_hash, scopes, created_at, expires_at, revoked_at, bootstrap) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, NULL, $8)",
    )
    .bind(token.id.as_str())
    .bind(token.name.as_str())
    .bind(token.owner.as_str())
    .bind(token.secret_hash.as_str())
    .bind(to_json(&token.scopes))
    .bind(millis(token.created_at))
    .bind(token.expires_at.map(millis))
    .bind(i64::from(bootstrap))
    .execute(&mut **tx)
    .await?;
    Ok(ApiToken {
        id: token.id,
        name: token.name,
        owner: token.owner,
        scopes: token.scopes,
        created_at: token.created_at,
        expires_at: token.expires_at,
        revoked_at: None,
        bootstrap,
    })
}
