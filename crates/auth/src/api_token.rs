//! API token secrets: 256 random bits, shown once, stored only as a
//! SHA-256 digest (a fast hash is right here: there is nothing to guess).

use base64::Engine as _;
use rand::RngCore;
use sha2::{Digest, Sha256};

/// Every secret starts with this, so leaked ones are easy to recognize.
pub const SECRET_PREFIX: &str = "slw_";

/// A new secret.
pub fn new_secret() -> String {
    let mut buf = [0u8; 32];
    rand::rng().fill_bytes(&mut buf);
    format!(
        "{SECRET_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(buf)
    )
}

/// What is stored instead of the secret.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Whether a bearer credential looks like an API token (rather than a JWT).
pub fn looks_like_secret(credential: &str) -> bool {
    credential.starts_with(SECRET_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_hashes_stable() {
        let (a, b) = (new_secret(), new_secret());
        assert_ne!(a, b);
        assert!(looks_like_secret(&a));
        assert_eq!(a.len(), SECRET_PREFIX.len() + 43);
        assert_eq!(hash_secret(&a), hash_secret(&a));
        assert_ne!(hash_secret(&a), hash_secret(&b));
    }
}
