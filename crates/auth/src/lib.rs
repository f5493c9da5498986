//! Identity and secrets for Slipway: signing keys and their JWKS, the user
//! and cluster tokens (and the [`TokenIssuer`] runs get theirs from), API
//! token secrets, credentials read from requests, clusters' sealed
//! variables, and the GitHub client that sign-in uses.

pub mod api_token;
pub mod credential;
pub mod github;
pub mod jwt;
pub mod keys;
pub mod secrets;

use std::time::Duration;

use slipway_core::{ClusterName, Subject};

/// Issues the cluster tokens TEST and RELEASE runs call their cluster with.
pub trait TokenIssuer: Send + Sync {
    /// A token whose audience is exactly `cluster`, at administrator level,
    /// for `requested_by`, valid for `ttl`.
    fn run_token(
        &self,
        requested_by: &Subject,
        cluster: &ClusterName,
        ttl: Duration,
    ) -> Result<String, String>;
}

/// What can go wrong in identity handling.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cryptography: {0}")]
    Crypto(String),
}
