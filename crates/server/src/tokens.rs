//! API tokens: random secrets handed out once and stored only as hashes.
//! A SHA-256 digest suffices: the secrets are 256 random bits, so there is
//! nothing to guess that a slow hash would protect.

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};
use slipway_core::Timestamp;
use slipway_store::{ApiToken, NewApiToken, Store, StoreError};

/// Every secret starts with this, so leaked ones are easy to recognize.
pub const SECRET_PREFIX: &str = "slw_";

/// The name of the admin token created at first start.
pub const BOOTSTRAP_TOKEN_NAME: &str = "bootstrap-admin";

/// A freshly issued token: its record and its secret, shown once.
pub struct IssuedToken {
    #[allow(
        dead_code,
        reason = "shown by `slipway token create`, which comes with user management"
    )]
    pub token: ApiToken,
    pub secret: String,
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

fn random_text(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
}

/// Issues a token: generates the secret, stores its hash.
pub async fn issue(
    store: &dyn Store,
    name: &str,
    owner: &str,
    scopes: Vec<String>,
    expires_at: Option<Timestamp>,
    now: Timestamp,
) -> Result<IssuedToken, StoreError> {
    let secret = format!("{SECRET_PREFIX}{}", random_text(32));
    let token = store
        .create_api_token(NewApiToken {
            id: format!("tok_{}", uuid::Uuid::now_v7().simple()),
            name: name.to_owned(),
            owner: owner.to_owned(),
            secret_hash: hash_secret(&secret),
            scopes,
            created_at: now,
            expires_at,
        })
        .await?;
    Ok(IssuedToken { token, secret })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hashes_stable() {
        let (a, b) = (random_text(32), random_text(32));
        assert_ne!(a, b);
        assert_eq!(a.len(), 43);
        assert_eq!(hash_secret("x"), hash_secret("x"));
        assert_ne!(hash_secret("x"), hash_secret("y"));
    }
}
