//! Signing in with GitHub — the device flow (CLI), a personal access token
//! (CI), the web flow with PKCE (browsers) — who am I, and logout.
//!
//! The web flow's `state` is bound to the browser that started it: the
//! start answers a binding (a hash of the state and the PKCE verifier) that
//! the transport keeps in a short-lived `HttpOnly` cookie, and the callback
//! is refused unless the same browser brings it back. A callback URL made
//! by someone else cannot sign a victim into their account.

use chrono::{TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use slipway_api::types::*;
use slipway_auth::github::{DevicePoll as GitHubPoll, Pkce};
use slipway_core::Identity;
use slipway_store::{AuditIntent, RefusedBy};
use subtle::ConstantTimeEq;

use crate::Service;
use crate::caller::{Caller, Credential, scope};
use crate::error::{Error, Kind, Result};
use crate::identities::Session as IssuedSession;

/// How long a web sign-in may take between the redirect to GitHub and the
/// callback (GitHub's codes live 10 minutes).
pub const WEB_SIGN_IN_WINDOW: TimeDelta = TimeDelta::minutes(10);

/// A web sign-in started: where to send the browser, and the binding to
/// keep in the browser until the callback.
pub struct WebSignIn {
    pub redirect: String,
    pub binding: String,
}

/// A web sign-in finished: the session, and where the browser was going.
pub struct WebSession {
    pub session: Session,
    /// A path on this site (never another site) the sign-in was started
    /// from, if any.
    pub return_to: Option<String>,
}

/// What a web sign-in keeps, sealed, between start and callback.
#[derive(Serialize, Deserialize)]
struct PendingWebSignIn {
    verifier: String,
    return_to: Option<String>,
}

fn session_view(session: IssuedSession) -> Session {
    let warnings = if session.missing_scopes.is_empty() {
        Vec::new()
    } else {
        vec![format!(
            "GitHub did not grant the scopes {}: organization membership may not be visible to Slipway",
            session.missing_scopes.join(", ")
        )]
    };
    Session {
        token: session.token,
        login: session.identity.name.clone(),
        level: session.identity.site_level(),
        organizations: organizations(&session.identity),
        expires_at: session.expires_at,
        warnings,
    }
}

pub(crate) fn organizations(identity: &Identity) -> Vec<String> {
    identity
        .organizations
        .iter()
        .map(|o| o.to_string())
        .collect()
}

/// The binding of a web sign-in's state to the browser that started it.
fn binding(state: &str, verifier: &str) -> String {
    hex::encode(Sha256::digest(format!("{state}\n{verifier}")))
}

/// Compares without telling, by its timing, how much matched.
pub fn same(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// A path on this site to return to (after a sign-in, a form): `/…`,
/// never `//…` (another host) nor anything with a scheme, no backslash or
/// control character.
pub fn local_path(path: &str) -> Option<String> {
    let ok = path.starts_with('/')
        && !path.starts_with("//")
        && !path.contains('\\')
        && path.len() <= 512
        && !path.chars().any(char::is_control);
    ok.then(|| path.to_owned())
}

impl Service {
    fn github_configured(&self) -> Result<()> {
        if self.config.auth.github.client_id.is_empty() {
            // Not a passing outage (5xx): this server has no such sign-in.
            return Err(Error::new(
                Kind::NotFound,
                "github_not_configured",
                "sign-in with GitHub is not configured on this server (auth.github.client_id); sign in with an API token",
            ));
        }
        Ok(())
    }

    async fn audit_sign_in(&self, identity: &Identity, how: &str) {
        let entry = AuditIntent::caller(
            &identity.subject,
            &identity.name,
            identity.site_level(),
            "auth.login",
        )
        .entry(
            Utc::now(),
            identity.subject.to_string(),
            "signed_in",
            serde_json::json!({ "method": how, "login": identity.name }),
        );
        if let Err(e) = self.store.append_audit(entry).await {
            tracing::error!(error = %e, "cannot write the audit log");
        }
    }

    async fn sign_in(&self, github_token: &str, how: &str) -> Result<Session> {
        let session = self.identities.sign_in(self, github_token).await?;
        self.audit_sign_in(&session.identity, how).await;
        Ok(session_view(session))
    }

    /// Starts a GitHub device flow for the CLI.
    pub async fn device_start(&self) -> Result<DeviceStart> {
        self.github_configured()?;
        let code = self.identities.github.start_device_flow().await?;
        Ok(DeviceStart {
            device_code: code.device_code,
            user_code: code.user_code,
            verification_uri: code.verification_uri,
            expires_in: code.expires_in,
            interval: code.interval,
        })
    }

    /// Polls a device flow once; on approval, signs the person in.
    pub async fn device_poll(&self, req: DevicePoll) -> Result<DevicePollResponse> {
        self.github_configured()?;
        if req.device_code.is_empty() || req.device_code.len() > 256 {
            return Err(Error::invalid(
                "device_code",
                "must be the device code the sign-in started with",
            ));
        }
        let poll = self
            .identities
            .github
            .poll_device_flow(&req.device_code)
            .await?;
        let refused = |code: &str, message: &str| Error::new(Kind::Unauthenticated, code, message);
        match poll {
            GitHubPoll::Pending => Ok(DevicePollResponse {
                status: DeviceStatus::Pending,
                interval: None,
                session: None,
            }),
            GitHubPoll::SlowDown { interval } => Ok(DevicePollResponse {
                status: DeviceStatus::SlowDown,
                interval: Some(interval),
                session: None,
            }),
            GitHubPoll::Expired => Err(refused(
                "device_code_expired",
                "the code expired before it was approved; run slipway login again",
            )),
            GitHubPoll::Denied => Err(refused("access_denied", "the sign-in was denied on GitHub")),
            GitHubPoll::Disabled => Err(refused(
                "device_flow_disabled",
                "the device flow is disabled for Slipway's GitHub app",
            )),
            GitHubPoll::IncorrectCode => Err(Error::invalid(
                "device_code",
                "is not a device code GitHub knows",
            )),
            GitHubPoll::Authorized { access_token } => Ok(DevicePollResponse {
                status: DeviceStatus::Complete,
                interval: None,
                session: Some(self.sign_in(&access_token, "device_flow").await?),
            }),
        }
    }

    /// Signs in with a GitHub personal access token (CI).
    pub async fn github_token_login(&self, req: GitHubTokenLogin) -> Result<Session> {
        let token = req.token.trim();
        // GitHub's tokens are short runs of printable ASCII; anything else
        // could not even travel in the header that carries it to GitHub.
        let printable = token.bytes().all(|b| b.is_ascii_graphic());
        if token.is_empty() || token.len() > 1024 || !printable {
            return Err(Error::invalid(
                "token",
                "must be a GitHub token (printable ASCII, at most 1024 characters)",
            ));
        }
        self.sign_in(token, "github_token").await
    }

    fn web_callback_url(&self) -> String {
        format!("{}/v1/auth/web/callback", self.config.public_url)
    }

    /// Starts a web sign-in: remembers a state and a PKCE verifier (and
    /// where to return to), and answers where to send the browser and the
    /// binding the browser must bring back.
    pub async fn web_login(&self, return_to: Option<&str>) -> Result<WebSignIn> {
        self.github_configured()?;
        let state = uuid::Uuid::new_v4().simple().to_string();
        let pkce = Pkce::generate();
        let pending = PendingWebSignIn {
            return_to: return_to.and_then(local_path),
            verifier: pkce.verifier.clone(),
        };
        let sealed = self
            .identities
            .sealer
            .seal(
                &format!("login-state:{state}"),
                &serde_json::to_vec(&pending).expect("a sign-in serializes"),
            )
            .map_err(|_| Error::unavailable("cannot seal secrets right now"))?;
        self.store
            .put_login_state(&state, &sealed, Utc::now() + WEB_SIGN_IN_WINDOW)
            .await?;
        Ok(WebSignIn {
            redirect: self.identities.github.authorize_url(
                &self.web_callback_url(),
                &state,
                &pkce.challenge,
            ),
            binding: binding(&state, &pkce.verifier),
        })
    }

    /// Finishes a web sign-in: the state must be one Slipway issued, unused,
    /// unexpired, and started by this browser (`browser_binding`, from the
    /// cookie set at the start); the code is exchanged with its PKCE
    /// verifier.
    pub async fn web_callback(
        &self,
        code: &str,
        state: &str,
        browser_binding: Option<&str>,
    ) -> Result<WebSession> {
        self.github_configured()?;
        let invalid_state = |message: &str| Error {
            field: Some("state".into()),
            ..Error::new(Kind::Invalid, "invalid_state", message)
        };
        if state.is_empty() || state.len() > 64 {
            return Err(invalid_state("state: not a sign-in state Slipway issued"));
        }
        if code.is_empty() || code.len() > 512 {
            return Err(Error::invalid("code", "must be the code GitHub sent back"));
        }
        let sealed = self
            .store
            .take_login_state(state, Utc::now())
            .await?
            .ok_or_else(|| {
                invalid_state(
                    "state: unknown, used or expired sign-in state; start the sign-in again",
                )
            })?;
        let pending: PendingWebSignIn = self
            .identities
            .sealer
            .open(&format!("login-state:{state}"), &sealed)
            .ok()
            .and_then(|plain| serde_json::from_slice(&plain).ok())
            .ok_or_else(|| invalid_state("state: the sign-in state cannot be read; start again"))?;
        let expected = binding(state, &pending.verifier);
        if !browser_binding.is_some_and(|given| same(given, &expected)) {
            return Err(invalid_state(
                "state: this sign-in was started in another browser (or its cookie expired); start the sign-in again here",
            ));
        }
        let token = self
            .identities
            .github
            .exchange_code(code, &self.web_callback_url(), &pending.verifier)
            .await?;
        Ok(WebSession {
            session: self.sign_in(&token, "web").await?,
            return_to: pending.return_to,
        })
    }

    /// Logs out: the user token's `jti` is denied by the API until it
    /// expires. It is not published to cluster gateways, which never accept
    /// a user token (its audience is the API's): the signed list does not
    /// grow with sign-ins and logouts.
    pub async fn logout(&self, caller: &Caller) -> Result<()> {
        match &caller.credential {
            Credential::UserToken { jti, expires_at } => {
                self.store
                    .revoke_token(jti, *expires_at, Utc::now(), RefusedBy::Api)
                    .await?;
                self.audit(
                    caller,
                    caller.identity.site_level(),
                    "auth.logout",
                    caller.subject().as_str(),
                    "revoked",
                    serde_json::json!({"jti": jti}),
                )
                .await;
                Ok(())
            }
            Credential::ApiToken { .. } | Credential::TrustedNetwork { .. } => Err(Error::invalid(
                "token",
                "API tokens are revoked with slipway token revoke, not logout",
            )),
        }
    }

    pub fn whoami(&self, caller: &Caller) -> WhoAmI {
        let credential = match &caller.credential {
            Credential::ApiToken { id, scopes } => CredentialView {
                kind: "api_token".into(),
                id: id.clone(),
                scopes: scopes.clone(),
                expires_at: None,
            },
            Credential::UserToken { jti, expires_at } => CredentialView {
                kind: "user_token".into(),
                id: jti.clone(),
                scopes: vec![scope::ALL.into()],
                expires_at: Some(*expires_at),
            },
            Credential::TrustedNetwork { address } => CredentialView {
                kind: "trusted_network".into(),
                id: address.to_string(),
                scopes: vec![scope::ALL.into()],
                expires_at: None,
            },
        };
        WhoAmI {
            subject: caller.subject().to_string(),
            login: caller.name().to_owned(),
            level: caller.identity.site_level(),
            organizations: organizations(&caller.identity),
            credential,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_returned_to() {
        assert_eq!(local_path("/orgs/x").as_deref(), Some("/orgs/x"));
        for bad in [
            "//evil.example/",
            "https://evil.example/",
            "evil",
            "/\\evil",
            "/a\nb",
        ] {
            assert_eq!(local_path(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn the_binding_depends_on_state_and_verifier() {
        let b = binding("s1", "v1");
        assert!(same(&b, &binding("s1", "v1")));
        assert!(!same(&b, &binding("s2", "v1")));
        assert!(!same(&b, &binding("s1", "v2")));
        assert!(!same(&b, ""));
    }
}
