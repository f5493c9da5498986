//! Who people are: signing in with GitHub, their level and organizations
//! (re-checked with GitHub every few minutes), and the identities that are
//! not people.
//!
//! A person is known by the subject `github:<numeric id>`: logins can be
//! renamed and reused, ids cannot, so the login is only a display name and
//! never decides a level. The bootstrap administrator is
//! `slipway:bootstrap`, a subject no sign-in can produce.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use slipway_auth::github::{GitHub, GitHubConfig};
use slipway_auth::jwt::{self, API_AUDIENCE, Claims, Verifier};
use slipway_auth::keys::Sealer;
use slipway_core::credentials::{Withdrawn, withdrawn};
use slipway_core::{Identity, OrgName, Subject, Timestamp};
use slipway_store::{AuditIntent, ClusterTokenRevocation, MembershipState, User};

use crate::Service;
use crate::error::{Error, Result};
use crate::keys::TokenSigner;
use crate::limits::RateLimitConfig;

/// Identity and access (`[auth]` in the configuration).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub github: GitHubSettings,
    /// Who is a site administrator.
    pub admins: AdminsConfig,
    /// Organizations to create (or update) at start-up.
    pub organizations: Vec<OrganizationConfig>,
    /// Lifetime of user tokens (`jwt_user`).
    #[serde(with = "humantime_serde")]
    pub user_token_ttl: Duration,
    /// Lifetime of cluster tokens (`jwt_cluster`).
    #[serde(with = "humantime_serde")]
    pub cluster_token_ttl: Duration,
    /// The longest lifetime an API token may be given.
    #[serde(with = "humantime_serde")]
    pub max_api_token_ttl: Duration,
    /// How old a person's memberships may get before they are checked with
    /// GitHub again.
    #[serde(with = "humantime_serde")]
    pub membership_recheck: Duration,
    /// The key that seals secrets at rest (signing keys, GitHub tokens,
    /// states, sensitive variables): 32 bytes, base64. Default: generated
    /// into `<data_dir>/secrets.key`. Replicas sharing a database must
    /// share it.
    pub secrets_key: Option<String>,
    pub rate_limits: RateLimitConfig,
}

/// The GitHub OAuth app Slipway signs users in with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GitHubSettings {
    pub client_id: String,
    /// Needed for the web sign-in only.
    pub client_secret: Option<String>,
    pub oauth_url: String,
    pub api_url: String,
    pub scopes: Vec<String>,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

/// Site administrators: GitHub logins, members of GitHub organizations, or
/// members of GitHub teams (`org/team-slug`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminsConfig {
    pub logins: Vec<String>,
    pub github_orgs: Vec<String>,
    pub github_teams: Vec<String>,
}

impl AdminsConfig {
    /// Whether anyone can become an administrator by signing in with GitHub.
    pub fn any(&self) -> bool {
        !(self.logins.is_empty() && self.github_orgs.is_empty() && self.github_teams.is_empty())
    }
}

/// An organization declared in the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationConfig {
    pub name: String,
    pub github_org: Option<String>,
    pub github_team: Option<String>,
    pub limits: Option<slipway_core::Limits>,
    /// Destroy a cluster when its last capacity request expires.
    #[serde(default)]
    pub destroy_when_idle: bool,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            github: GitHubSettings::default(),
            admins: AdminsConfig::default(),
            organizations: Vec::new(),
            user_token_ttl: Duration::from_secs(24 * 3600),
            cluster_token_ttl: Duration::from_secs(3600),
            max_api_token_ttl: Duration::from_secs(366 * 24 * 3600),
            membership_recheck: Duration::from_secs(300),
            secrets_key: None,
            rate_limits: RateLimitConfig::default(),
        }
    }
}

impl AuthConfig {
    /// The longest any token Slipway signs lives.
    pub fn longest_token(&self) -> Duration {
        self.user_token_ttl.max(self.cluster_token_ttl)
    }
}

impl Default for GitHubSettings {
    fn default() -> Self {
        Self {
            client_id: String::new(),
            client_secret: None,
            oauth_url: "https://github.com".into(),
            api_url: "https://api.github.com".into(),
            scopes: vec!["read:org".into()],
            timeout: Duration::from_secs(10),
        }
    }
}

/// Signing in and knowing who people are.
pub struct Identities {
    pub github: GitHub,
    pub signer: Arc<TokenSigner>,
    pub sealer: Arc<Sealer>,
    user_verifier: Verifier,
}

/// A freshly issued user token.
pub struct Session {
    pub token: String,
    pub identity: Identity,
    pub expires_at: Timestamp,
    /// Scopes asked of GitHub but not granted (organization membership may
    /// then be invisible).
    pub missing_scopes: Vec<String>,
}

/// The bootstrap administrator.
pub fn bootstrap_identity() -> Identity {
    Identity {
        subject: Subject::bootstrap(),
        name: "bootstrap administrator".into(),
        admin: true,
        organizations: BTreeSet::new(),
    }
}

fn github_token_context(subject: &Subject) -> String {
    format!("github-token:{subject}")
}

impl Identities {
    pub fn new(config: &AuthConfig, signer: Arc<TokenSigner>, sealer: Arc<Sealer>) -> Self {
        let gh = &config.github;
        Self {
            github: GitHub::new(GitHubConfig {
                oauth_url: gh.oauth_url.clone(),
                api_url: gh.api_url.clone(),
                client_id: gh.client_id.clone(),
                client_secret: gh.client_secret.clone(),
                scopes: gh.scopes.clone(),
                timeout: gh.timeout,
            }),
            user_verifier: Verifier::new(&signer.issuer, API_AUDIENCE),
            signer,
            sealer,
        }
    }

    /// Verifies a user token (`jwt_user`).
    pub fn verify_user_token(&self, token: &str) -> std::result::Result<Claims, jwt::Rejection> {
        self.signer.keys.verify(&self.user_verifier, token)
    }

    /// Signs in with a GitHub token: asks GitHub who it is and what it
    /// belongs to, records the person under their subject, and issues a
    /// user token.
    pub async fn sign_in(&self, service: &Service, github_token: &str) -> Result<Session> {
        let config = &service.config.auth;
        let gh_user = self.github.user(github_token).await?;
        let missing_scopes = config
            .github
            .scopes
            .iter()
            .filter(|s| !gh_user.scopes.contains(s))
            .cloned()
            .collect();
        let user = self
            .check_with_github(service, &gh_user.login, gh_user.id, github_token)
            .await?;
        let identity = self.identity_of_user(service, &user).await?;
        let issued = self.signer.issue(
            &identity,
            API_AUDIENCE,
            identity.site_level(),
            config.user_token_ttl,
        )?;
        Ok(Session {
            token: issued.token,
            identity,
            expires_at: issued.expires_at,
            missing_scopes,
        })
    }

    /// Asks GitHub whether the person is an administrator and which
    /// organizations they belong to through GitHub, and records it.
    async fn check_with_github(
        &self,
        service: &Service,
        login: &str,
        github_id: i64,
        github_token: &str,
    ) -> Result<User> {
        let config = &service.config.auth;
        let store = &service.store;
        let gh = &self.github;
        let subject = Subject::github(github_id);
        let mut admin = config
            .admins
            .logins
            .iter()
            .any(|l| l.eq_ignore_ascii_case(login));
        for org in &config.admins.github_orgs {
            if admin {
                break;
            }
            admin = gh.org_member(github_token, org).await?;
        }
        for team in &config.admins.github_teams {
            if admin {
                break;
            }
            if let Some((org, slug)) = team.split_once('/') {
                admin = gh.team_member(github_token, org, slug, login).await?;
            }
        }
        let mut github_orgs = Vec::new();
        for org in store.organizations().await? {
            let Some(gh_org) = &org.github_org else {
                continue;
            };
            let member = match &org.github_team {
                Some(team) => gh.team_member(github_token, gh_org, team, login).await,
                None => gh.org_member(github_token, gh_org).await,
            }?;
            if member {
                github_orgs.push(org.name);
            }
        }
        let now = Utc::now();
        let previous = store.user(&subject).await?;
        let created_at = previous.as_ref().map_or(now, |u| u.created_at);
        let user = User {
            github_token: Some(
                self.sealer
                    .seal(&github_token_context(&subject), github_token.as_bytes())
                    .map_err(|_| Error::unavailable("cannot seal secrets right now"))?,
            ),
            subject,
            login: login.to_owned(),
            github_id,
            admin,
            github_orgs,
            checked_at: now,
            created_at,
        };
        // Access GitHub no longer grants ends now, not when the cluster
        // tokens it was issued with expire: they are revoked before the new
        // facts are recorded, so a crash in between finds the lapse again.
        if let Some(previous) = &previous {
            self.revoke_withdrawn(service, previous, &user, now).await?;
        }
        store.put_user(user.clone()).await?;
        Ok(user)
    }

    /// Revokes the cluster tokens of the access a person lost between two
    /// checks with GitHub (an organization's membership lapsed, or the
    /// administrator status), and audits it.
    async fn revoke_withdrawn(
        &self,
        service: &Service,
        previous: &User,
        user: &User,
        now: Timestamp,
    ) -> Result<()> {
        if previous.admin == user.admin && previous.github_orgs == user.github_orgs {
            return Ok(());
        }
        let approved = approved_organizations(service, &user.subject).await?;
        let organizations = match withdrawn(
            &identity_from(previous, &approved),
            &identity_from(user, &approved),
        ) {
            Withdrawn::Nothing => return Ok(()),
            Withdrawn::Organizations(lost) => lost.into_iter().map(Some).collect(),
            Withdrawn::Everything => vec![None],
        };
        let mut clusters = 0;
        for organization in &organizations {
            clusters += service
                .store
                .revoke_cluster_tokens(&service.cluster_token_revocation(
                    &user.subject,
                    organization.clone(),
                    now,
                ))
                .await?;
        }
        let entry = AuditIntent::system(
            &Subject::slipway("membership-recheck"),
            "token.revoke_withdrawn",
        )
        .named("membership re-check with GitHub")
        .entry(
            now,
            user.subject.to_string(),
            "revoked",
            serde_json::json!({
                "login": user.login,
                "organizations": organizations.iter().flatten().collect::<Vec<_>>(),
                "every_cluster": organizations.contains(&None),
                "clusters": clusters,
            }),
        );
        if let Err(e) = service.store.append_audit(entry).await {
            tracing::error!(error = %e, "cannot write the audit log");
        }
        Ok(())
    }

    /// The identity of a subject now: the bootstrap administrator, or a
    /// person — GitHub-derived facts (re-checked when older than
    /// `membership_recheck`) plus memberships approved in Slipway.
    pub async fn identity(&self, service: &Service, subject: &Subject) -> Result<Identity> {
        if subject.is_bootstrap() {
            return Ok(bootstrap_identity());
        }
        let Some(mut user) = service.store.user(subject).await? else {
            return Err(Error::unauthenticated(format!(
                "{subject} has not signed in to Slipway; run slipway login"
            )));
        };
        let recheck = service.config.auth.membership_recheck;
        let stale =
            Utc::now() - user.checked_at > TimeDelta::from_std(recheck).unwrap_or(TimeDelta::MAX);
        if stale {
            let sealed = user.github_token.clone().ok_or_else(|| {
                Error::unauthenticated("no GitHub authorization is on record; log in again")
            })?;
            let token = self
                .sealer
                .open(&github_token_context(subject), &sealed)
                .map_err(|_| {
                    Error::unauthenticated(
                        "the GitHub authorization on record cannot be read; log in again",
                    )
                })?;
            let token = String::from_utf8(token).map_err(|_| {
                Error::unauthenticated(
                    "the GitHub authorization on record is corrupt; log in again",
                )
            })?;
            user = self
                .check_with_github(service, &user.login, user.github_id, &token)
                .await?;
        }
        self.identity_of_user(service, &user).await
    }

    async fn identity_of_user(&self, service: &Service, user: &User) -> Result<Identity> {
        let approved = approved_organizations(service, &user.subject).await?;
        Ok(identity_from(user, &approved))
    }
}

/// The organizations whose membership Slipway approved for a person.
pub(crate) async fn approved_organizations(
    service: &Service,
    subject: &Subject,
) -> Result<BTreeSet<OrgName>> {
    Ok(service
        .store
        .memberships_of(subject)
        .await?
        .into_iter()
        .filter(|m| m.state == MembershipState::Approved)
        .map(|m| m.organization)
        .collect())
}

/// Who a person is: what GitHub grants (as last checked) and the
/// memberships approved in Slipway.
pub(crate) fn identity_from(user: &User, approved: &BTreeSet<OrgName>) -> Identity {
    let mut organizations: BTreeSet<OrgName> = user.github_orgs.iter().cloned().collect();
    organizations.extend(approved.iter().cloned());
    Identity {
        subject: user.subject.clone(),
        name: user.login.clone(),
        admin: user.admin,
        organizations,
    }
}

impl Service {
    /// Refusing `subject`'s cluster tokens issued up to `now` for the
    /// clusters of `organization` (`None`: every cluster), until the
    /// longest any of them can live.
    pub(crate) fn cluster_token_revocation(
        &self,
        subject: &Subject,
        organization: Option<OrgName>,
        now: Timestamp,
    ) -> ClusterTokenRevocation {
        let longest =
            TimeDelta::from_std(self.config.auth.longest_token()).unwrap_or(TimeDelta::days(1));
        ClusterTokenRevocation {
            subject: subject.clone(),
            organization,
            at: now,
            until: now
                .checked_add_signed(longest)
                .unwrap_or(now + TimeDelta::days(1)),
        }
    }
}
