//! Identity for Slipway: signing keys and their JWKS, the user and cluster
//! tokens, API token secrets, and the GitHub client that sign-in uses.

pub mod api_token;
pub mod credential;
pub mod github;
pub mod jwt;
pub mod keys;

/// What can go wrong in identity handling.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("cryptography: {0}")]
    Crypto(String),
}
