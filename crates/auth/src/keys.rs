//! Ed25519 signing keys, their public half as a JWK, and sealing secrets at
//! rest (AES-256-GCM under a key from Slipway's configuration).

use aws_lc_rs::aead::{
    AES_256_GCM, AES_256_GCM_SIV, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey,
};
use aws_lc_rs::hkdf;
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::AuthError;

/// A signing key: its id, the private key (PKCS#8) and the public key.
#[derive(Clone)]
pub struct SigningKey {
    pub kid: String,
    pkcs8: Vec<u8>,
    public: Vec<u8>,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// A fresh key with a random id.
    pub fn generate() -> Result<Self, AuthError> {
        let rng = SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| AuthError::Crypto("cannot generate an Ed25519 key".into()))?;
        let mut id = [0u8; 12];
        rng.fill(&mut id)
            .map_err(|_| AuthError::Crypto("no randomness".into()))?;
        Self::from_pkcs8(&URL_SAFE_NO_PAD.encode(id), pkcs8.as_ref())
    }

    /// A key from its stored private half.
    pub fn from_pkcs8(kid: &str, pkcs8: &[u8]) -> Result<Self, AuthError> {
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8)
            .map_err(|_| AuthError::Crypto(format!("key {kid} is not an Ed25519 PKCS#8 key")))?;
        Ok(Self {
            kid: kid.to_owned(),
            public: pair.public_key().as_ref().to_vec(),
            pkcs8: pkcs8.to_vec(),
        })
    }

    /// The private key, PKCS#8 DER: seal it before storing it.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The raw 32-byte public key.
    pub fn public_key(&self) -> &[u8] {
        &self.public
    }

    pub fn jwk(&self) -> Jwk {
        Jwk::ed25519(&self.kid, &self.public)
    }

    pub(crate) fn encoding_key(&self) -> jsonwebtoken::EncodingKey {
        jsonwebtoken::EncodingKey::from_ed_der(&self.pkcs8)
    }
}

/// A public key as JWKS publishes it (RFC 8037: `OKP`, `Ed25519`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    pub kty: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    #[serde(rename = "use", default, skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

impl Jwk {
    pub fn ed25519(kid: &str, public: &[u8]) -> Self {
        Self {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some(URL_SAFE_NO_PAD.encode(public)),
            kid: Some(kid.to_owned()),
            alg: Some("EdDSA".into()),
            use_: Some("sig".into()),
        }
    }

    /// The raw public key, when this is an Ed25519 signing key.
    pub fn ed25519_public_key(&self) -> Option<Vec<u8>> {
        let usable = self.kty == "OKP"
            && self.crv.as_deref() == Some("Ed25519")
            && self.alg.as_deref().is_none_or(|a| a == "EdDSA")
            && self.use_.as_deref().is_none_or(|u| u == "sig");
        if !usable {
            return None;
        }
        let key = URL_SAFE_NO_PAD.decode(self.x.as_deref()?).ok()?;
        (key.len() == 32).then_some(key)
    }
}

/// `/.well-known/jwks.json`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
}

/// Seals secrets for storage with AES-256-GCM. The sealed form is
/// `nonce ‖ ciphertext ‖ tag`; `context` (e.g. the row a secret belongs to)
/// is authenticated, so a sealed value cannot be moved to another row.
///
/// [`Sealer::seal_deterministic`] seals with AES-256-GCM-SIV under a key
/// derived from the same one (HKDF-SHA256): equal secrets in one context
/// seal to equal values, so a sealed value can be compared (is this
/// deploy's configuration the one running?) without being opened. That
/// reveals only equality; use it for values that must be compared.
pub struct Sealer {
    key: LessSafeKey,
    deterministic: LessSafeKey,
    /// The secret of the server's age identity, derived from the same key
    /// (so replicas sharing the secrets key share the identity).
    identity_seed: [u8; Self::KEY_LEN],
}

impl Drop for Sealer {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.identity_seed);
    }
}

impl Sealer {
    /// Bytes a sealing key has.
    pub const KEY_LEN: usize = 32;

    pub fn new(key: &[u8]) -> Result<Self, AuthError> {
        let unbound = UnboundKey::new(&AES_256_GCM, key).map_err(|_| {
            AuthError::Crypto(format!("a sealing key must be {} bytes", Self::KEY_LEN))
        })?;
        let derive = |purpose: &[u8]| {
            let mut derived = [0u8; Self::KEY_LEN];
            hkdf::Salt::new(hkdf::HKDF_SHA256, b"slipway sealer")
                .extract(key)
                .expand(&[purpose], hkdf::HKDF_SHA256)
                .and_then(|okm| okm.fill(&mut derived))
                .map_err(|_| {
                    AuthError::Crypto("cannot derive a key from the secrets key".into())
                })?;
            Ok::<_, AuthError>(derived)
        };
        let deterministic = UnboundKey::new(
            &AES_256_GCM_SIV,
            &derive(b"deterministic sealing (AES-256-GCM-SIV)")?,
        )
        .map_err(|_| AuthError::Crypto("cannot use the derived sealing key".into()))?;
        Ok(Self {
            key: LessSafeKey::new(unbound),
            deterministic: LessSafeKey::new(deterministic),
            identity_seed: derive(b"age identity (X25519)")?,
        })
    }

    /// The secret of the server's age identity: what teams encrypt their
    /// secrets to (`slipway_sops::identity`).
    pub fn identity_seed(&self) -> &[u8; Self::KEY_LEN] {
        &self.identity_seed
    }

    /// Seals so that the same `plaintext` in the same `context` always
    /// gives the same sealed value (AES-256-GCM-SIV, a fixed nonce: it
    /// resists nonce reuse by design, and leaks only equality).
    pub fn seal_deterministic(
        &self,
        context: &str,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, AuthError> {
        let mut sealed = plaintext.to_vec();
        self.deterministic
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key([0u8; NONCE_LEN]),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| AuthError::Crypto("sealing failed".into()))?;
        Ok(sealed)
    }

    /// Opens what [`Sealer::seal_deterministic`] sealed.
    pub fn open_deterministic(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, AuthError> {
        let mut buf = sealed.to_vec();
        let plain = self
            .deterministic
            .open_in_place(
                Nonce::assume_unique_for_key([0u8; NONCE_LEN]),
                Aad::from(context.as_bytes()),
                &mut buf,
            )
            .map_err(|_| {
                AuthError::Crypto(
                    "a sealed value does not open: wrong secrets key, or it was tampered with"
                        .into(),
                )
            })?;
        Ok(plain.to_vec())
    }

    /// A new random sealing key.
    pub fn generate_key() -> Result<[u8; Self::KEY_LEN], AuthError> {
        let mut key = [0u8; Self::KEY_LEN];
        SystemRandom::new()
            .fill(&mut key)
            .map_err(|_| AuthError::Crypto("no randomness".into()))?;
        Ok(key)
    }

    pub fn seal(&self, context: &str, plaintext: &[u8]) -> Result<Vec<u8>, AuthError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| AuthError::Crypto("no randomness".into()))?;
        let mut sealed = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut sealed,
            )
            .map_err(|_| AuthError::Crypto("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(out)
    }

    pub fn open(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>, AuthError> {
        if sealed.len() < NONCE_LEN {
            return Err(AuthError::Crypto("sealed value too short".into()));
        }
        let (nonce, rest) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce)
            .map_err(|_| AuthError::Crypto("bad nonce".into()))?;
        let mut buf = rest.to_vec();
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut buf)
            .map_err(|_| {
                AuthError::Crypto(
                    "a sealed secret does not open: wrong secrets key, or it was tampered with"
                        .into(),
                )
            })?;
        Ok(plain.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_sealing_is_equal_for_equal_secrets_and_bound_to_its_context() {
        let sealer = Sealer::new(&Sealer::generate_key().unwrap()).unwrap();
        let a = sealer.seal_deterministic("ctx", b"hunter2").unwrap();
        assert_eq!(a, sealer.seal_deterministic("ctx", b"hunter2").unwrap());
        assert_ne!(a, sealer.seal_deterministic("ctx", b"hunter3").unwrap());
        assert_ne!(a, sealer.seal_deterministic("other", b"hunter2").unwrap());
        assert!(!a.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(sealer.open_deterministic("ctx", &a).unwrap(), b"hunter2");
        assert!(sealer.open_deterministic("other", &a).is_err());
        let another = Sealer::new(&Sealer::generate_key().unwrap()).unwrap();
        assert!(another.open_deterministic("ctx", &a).is_err());
    }

    #[test]
    fn keys_round_trip_through_pkcs8_and_jwk() {
        let key = SigningKey::generate().unwrap();
        let again = SigningKey::from_pkcs8(&key.kid, key.pkcs8()).unwrap();
        assert_eq!(again.public_key(), key.public_key());
        let jwk = key.jwk();
        assert_eq!(jwk.ed25519_public_key().unwrap(), key.public_key());
        assert_ne!(SigningKey::generate().unwrap().kid, key.kid);
        let mut rsa = jwk.clone();
        rsa.kty = "RSA".into();
        assert!(rsa.ed25519_public_key().is_none());
    }

    #[test]
    fn sealed_values_open_only_with_their_key_and_context() {
        let sealer = Sealer::new(&Sealer::generate_key().unwrap()).unwrap();
        let sealed = sealer.seal("key:abc", b"private").unwrap();
        assert_eq!(sealer.open("key:abc", &sealed).unwrap(), b"private");
        assert!(sealer.open("key:other", &sealed).is_err());
        let other = Sealer::new(&Sealer::generate_key().unwrap()).unwrap();
        assert!(other.open("key:abc", &sealed).is_err());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(sealer.open("key:abc", &tampered).is_err());
        assert!(Sealer::new(&[0u8; 16]).is_err());
    }
}
