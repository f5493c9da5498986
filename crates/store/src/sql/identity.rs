//! People, organizations and memberships, API tokens, signing keys,
//! revocations and web sign-in states.

use async_trait::async_trait;
use slipway_core::{OrgName, Refusal, Subject, Timestamp};

use super::SqlStore;
use super::rows::*;
use crate::{
    ApiToken, IdentityStore, Membership, NewApiToken, Notification, Organization, Result,
    Revocation, StoreError, StoredSigningKey, User,
};

#[async_trait]
impl IdentityStore for SqlStore {
    async fn create_api_token(&self, token: NewApiToken) -> Result<ApiToken> {
        sqlx::query(
            "INSERT INTO api_tokens (id, name, owner, secret_hash, scopes, created_at, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, NULL)",
        )
        .bind(token.id.as_str())
        .bind(token.name.as_str())
        .bind(token.owner.as_str())
        .bind(token.secret_hash.as_str())
        .bind(to_json(&token.scopes))
        .bind(millis(token.created_at))
        .bind(token.expires_at.map(millis))
        .execute(&self.pool)
        .await?;
        Ok(ApiToken {
            id: token.id,
            name: token.name,
            owner: token.owner,
            scopes: token.scopes,
            created_at: token.created_at,
            expires_at: token.expires_at,
            revoked_at: None,
        })
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

    async fn revoke_api_token(&self, id: &str, now: Timestamp) -> Result<bool> {
        let updated = sqlx::query(
            "UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, $2) WHERE id = $1",
        )
        .bind(id)
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        Ok(updated.rows_affected() > 0)
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

    async fn remove_membership(&self, org: &OrgName, subject: &Subject) -> Result<bool> {
        let removed =
            sqlx::query("DELETE FROM memberships WHERE organization = $1 AND subject = $2")
                .bind(org.as_str())
                .bind(subject.as_str())
                .execute(&self.pool)
                .await?;
        Ok(removed.rows_affected() > 0)
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
        Ok(())
    }

    async fn revoke_token(&self, jti: &str, expires_at: Timestamp, now: Timestamp) -> Result<()> {
        sqlx::query(
            "INSERT INTO revoked_tokens (jti, expires_at, revoked_at) VALUES ($1, $2, $3) ON CONFLICT (jti) DO NOTHING",
        )
        .bind(jti)
        .bind(millis(expires_at))
        .bind(millis(now))
        .execute(&self.pool)
        .await?;
        self.notify([Notification::Revoked]).await;
        Ok(())
    }

    async fn revocations(&self, now: Timestamp) -> Result<Vec<Revocation>> {
        sqlx::query("DELETE FROM revoked_tokens WHERE expires_at < $1")
            .bind(millis(now))
            .execute(&self.pool)
            .await?;
        let rows: Vec<(String, i64, i64)> = sqlx::query_as(
            "SELECT jti, expires_at, revoked_at FROM revoked_tokens ORDER BY revoked_at DESC, jti",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter()
            .map(|(jti, expires_at, revoked_at)| {
                Ok(Revocation {
                    jti,
                    expires_at: time(expires_at)?,
                    revoked_at: time(revoked_at)?,
                })
            })
            .collect()
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
