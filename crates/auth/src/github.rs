//! A small GitHub client: the OAuth device flow and web flow (with PKCE),
//! the user behind a token with its granted scopes, and organization and
//! team membership. Base URLs are configurable so tests run it against a
//! local fake.
//!
//! When GitHub cannot answer (5xx, 429, rate limit, timeout, connection
//! refused) the result is [`GitHubError::Unavailable`], which Slipway reports
//! as 503 — never as a lower level.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use reqwest::{RequestBuilder, StatusCode, header};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

/// Where GitHub is and who Slipway is to it.
#[derive(Debug, Clone)]
pub struct GitHubConfig {
    /// The OAuth host, `https://github.com`.
    pub oauth_url: String,
    /// The REST API, `https://api.github.com`.
    pub api_url: String,
    pub client_id: String,
    /// Needed for the web flow's code exchange only.
    pub client_secret: Option<String>,
    /// Scopes asked for (`read:org` to see private organization membership).
    pub scopes: Vec<String>,
    /// How long a request to GitHub may take.
    pub timeout: Duration,
}

/// What went wrong talking to GitHub.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GitHubError {
    /// GitHub could not answer now; try again later.
    #[error("GitHub is unavailable ({reason}); try again shortly")]
    Unavailable {
        reason: String,
        retry_after: Option<u64>,
    },
    /// GitHub refused the credentials.
    #[error("GitHub refused the credentials: {0}")]
    Unauthorized(String),
    /// GitHub answered something unexpected.
    #[error("unexpected answer from GitHub: {0}")]
    Protocol(String),
}

/// The start of a device flow.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, serde::Serialize)]
pub struct DeviceCode {
    pub device_code: String,
    pub user_code: String,
    pub verification_uri: String,
    pub expires_in: u64,
    pub interval: u64,
}

/// One poll of a device flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DevicePoll {
    /// The user has not approved yet: poll again after the interval.
    Pending,
    /// Polling too fast: poll again after this (longer) interval.
    SlowDown {
        interval: u64,
    },
    Expired,
    Denied,
    Disabled,
    IncorrectCode,
    Authorized {
        access_token: String,
    },
}

/// The person behind a GitHub token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitHubUser {
    pub login: String,
    pub id: i64,
    /// The scopes the token was granted (a user may grant fewer than asked).
    pub scopes: Vec<String>,
}

/// A PKCE verifier and its S256 challenge.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn generate() -> Self {
        let mut raw = [0u8; 32];
        rand::rng().fill_bytes(&mut raw);
        let verifier = URL_SAFE_NO_PAD.encode(raw);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Self {
            verifier,
            challenge,
        }
    }
}

/// A client of GitHub.
#[derive(Clone)]
pub struct GitHub {
    http: reqwest::Client,
    config: GitHubConfig,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
    interval: Option<u64>,
}

#[derive(Deserialize)]
struct UserAnswer {
    login: String,
    id: i64,
}

#[derive(Deserialize)]
struct MembershipAnswer {
    state: String,
}

impl GitHub {
    pub fn new(config: GitHubConfig) -> Self {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("an HTTP client");
        Self { http, config }
    }

    pub fn config(&self) -> &GitHubConfig {
        &self.config
    }

    fn oauth(&self, path: &str) -> String {
        format!("{}{path}", self.config.oauth_url.trim_end_matches('/'))
    }

    fn api(&self, path: &str) -> String {
        format!("{}{path}", self.config.api_url.trim_end_matches('/'))
    }

    /// Sends a request; 5xx, 429, rate limits and transport failures are
    /// `Unavailable`, 401 is `Unauthorized`. Returns the status, headers and
    /// body of any other answer.
    async fn send(
        &self,
        req: RequestBuilder,
    ) -> Result<(StatusCode, header::HeaderMap, String), GitHubError> {
        let response = req
            .header(header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| GitHubError::Unavailable {
                reason: if e.is_timeout() {
                    "no answer in time".into()
                } else {
                    format!("cannot reach it: {e}")
                },
                retry_after: None,
            })?;
        let status = response.status();
        let headers = response.headers().clone();
        let retry_after = headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let rate_limited = status == StatusCode::FORBIDDEN
            && headers
                .get("x-ratelimit-remaining")
                .is_some_and(|v| v.as_bytes() == b"0");
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS || rate_limited {
            return Err(GitHubError::Unavailable {
                reason: format!("it answered {status}"),
                retry_after,
            });
        }
        let body = response
            .text()
            .await
            .map_err(|e| GitHubError::Unavailable {
                reason: format!("the answer broke off: {e}"),
                retry_after: None,
            })?;
        if status == StatusCode::UNAUTHORIZED {
            return Err(GitHubError::Unauthorized("the token is not valid".into()));
        }
        Ok((status, headers, body))
    }

    fn parse<T: DeserializeOwned>(body: &str) -> Result<T, GitHubError> {
        serde_json::from_str(body).map_err(|e| GitHubError::Protocol(e.to_string()))
    }

    /// Starts a device flow: the user enters `user_code` at `verification_uri`.
    pub async fn start_device_flow(&self) -> Result<DeviceCode, GitHubError> {
        let form = [
            ("client_id", self.config.client_id.as_str()),
            ("scope", &self.config.scopes.join(" ")),
        ];
        let (status, _, body) = self
            .send(self.http.post(self.oauth("/login/device/code")).form(&form))
            .await?;
        if !status.is_success() {
            return Err(GitHubError::Protocol(format!(
                "device code request answered {status}: {body}"
            )));
        }
        if let Ok(TokenAnswer {
            error: Some(error),
            error_description,
            ..
        }) = Self::parse(&body)
        {
            return Err(match error.as_str() {
                "device_flow_disabled" => GitHubError::Unauthorized(
                    "the device flow is disabled for this OAuth app".into(),
                ),
                _ => GitHubError::Protocol(format!(
                    "{error}: {}",
                    error_description.unwrap_or_default()
                )),
            });
        }
        Self::parse(&body)
    }

    /// Polls a device flow once. GitHub answers its outcomes with HTTP 200.
    pub async fn poll_device_flow(&self, device_code: &str) -> Result<DevicePoll, GitHubError> {
        let form = [
            ("client_id", self.config.client_id.as_str()),
            ("device_code", device_code),
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ];
        let (_, _, body) = self
            .send(
                self.http
                    .post(self.oauth("/login/oauth/access_token"))
                    .form(&form),
            )
            .await?;
        let answer: TokenAnswer = Self::parse(&body)?;
        if let Some(access_token) = answer.access_token {
            return Ok(DevicePoll::Authorized { access_token });
        }
        Ok(match answer.error.as_deref() {
            Some("authorization_pending") => DevicePoll::Pending,
            Some("slow_down") => DevicePoll::SlowDown {
                interval: answer.interval.unwrap_or(5),
            },
            Some("expired_token") => DevicePoll::Expired,
            Some("access_denied") => DevicePoll::Denied,
            Some("device_flow_disabled") => DevicePoll::Disabled,
            Some("incorrect_device_code") => DevicePoll::IncorrectCode,
            other => {
                return Err(GitHubError::Protocol(format!(
                    "unknown device flow answer {other:?}: {}",
                    answer.error_description.unwrap_or_default()
                )));
            }
        })
    }

    /// Where to send a browser for the web flow.
    pub fn authorize_url(&self, redirect_uri: &str, state: &str, code_challenge: &str) -> String {
        let query = serde_urlencoded::to_string([
            ("client_id", self.config.client_id.as_str()),
            ("redirect_uri", redirect_uri),
            ("scope", &self.config.scopes.join(" ")),
            ("state", state),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ])
        .expect("strings encode");
        format!("{}?{query}", self.oauth("/login/oauth/authorize"))
    }

    /// Exchanges a web flow's code (with its PKCE verifier) for a token.
    pub async fn exchange_code(
        &self,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<String, GitHubError> {
        let secret = self.config.client_secret.as_deref().ok_or_else(|| {
            GitHubError::Protocol("the web flow needs auth.github.client_secret".into())
        })?;
        let form = [
            ("client_id", self.config.client_id.as_str()),
            ("client_secret", secret),
            ("code", code),
            ("redirect_uri", redirect_uri),
            ("code_verifier", code_verifier),
        ];
        let (_, _, body) = self
            .send(
                self.http
                    .post(self.oauth("/login/oauth/access_token"))
                    .form(&form),
            )
            .await?;
        let answer: TokenAnswer = Self::parse(&body)?;
        match (answer.access_token, answer.error) {
            (Some(token), _) => Ok(token),
            (None, Some(error)) => Err(GitHubError::Unauthorized(format!(
                "{error}: {}",
                answer.error_description.unwrap_or_default()
            ))),
            (None, None) => Err(GitHubError::Protocol("no token and no error".into())),
        }
    }

    /// The person behind a token, and the scopes it was granted.
    pub async fn user(&self, token: &str) -> Result<GitHubUser, GitHubError> {
        let (status, headers, body) = self
            .send(self.http.get(self.api("/user")).bearer_auth(token))
            .await?;
        if !status.is_success() {
            return Err(GitHubError::Protocol(format!(
                "GET /user answered {status}"
            )));
        }
        let user: UserAnswer = Self::parse(&body)?;
        let scopes = headers
            .get("x-oauth-scopes")
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default();
        Ok(GitHubUser {
            login: user.login,
            id: user.id,
            scopes,
        })
    }

    /// Whether the token's user is an active member of `org`.
    pub async fn org_member(&self, token: &str, org: &str) -> Result<bool, GitHubError> {
        let path = format!("/user/memberships/orgs/{org}");
        self.membership_state(self.http.get(self.api(&path)).bearer_auth(token))
            .await
    }

    /// Whether `login` is an active member of team `slug` of `org`.
    pub async fn team_member(
        &self,
        token: &str,
        org: &str,
        slug: &str,
        login: &str,
    ) -> Result<bool, GitHubError> {
        let path = format!("/orgs/{org}/teams/{slug}/memberships/{login}");
        self.membership_state(self.http.get(self.api(&path)).bearer_auth(token))
            .await
    }

    async fn membership_state(&self, req: RequestBuilder) -> Result<bool, GitHubError> {
        let (status, _, body) = self.send(req).await?;
        match status {
            StatusCode::NOT_FOUND | StatusCode::FORBIDDEN => Ok(false),
            s if s.is_success() => {
                let membership: MembershipAnswer = Self::parse(&body)?;
                Ok(membership.state == "active")
            }
            other => Err(GitHubError::Protocol(format!(
                "membership check answered {other}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_challenges_are_s256_of_the_verifier() {
        let p = Pkce::generate();
        assert_eq!(p.verifier.len(), 43);
        assert_eq!(
            p.challenge,
            URL_SAFE_NO_PAD.encode(Sha256::digest(p.verifier.as_bytes()))
        );
        assert_ne!(Pkce::generate().verifier, p.verifier);
    }

    #[test]
    fn the_authorize_url_carries_state_and_challenge() {
        let gh = GitHub::new(GitHubConfig {
            oauth_url: "https://github.example/".into(),
            api_url: "https://api.github.example".into(),
            client_id: "cid".into(),
            client_secret: None,
            scopes: vec!["read:org".into()],
            timeout: Duration::from_secs(5),
        });
        let url = gh.authorize_url("http://localhost/cb", "st8", "chal");
        assert!(url.starts_with("https://github.example/login/oauth/authorize?client_id=cid"));
        assert!(url.contains("state=st8") && url.contains("code_challenge=chal"));
        assert!(url.contains("code_challenge_method=S256") && url.contains("scope=read%3Aorg"));
    }
}
