//! Slipway's tokens: `jwt_user` (audience: the Slipway API) and
//! `jwt_cluster` (audience: exactly one cluster's name), both signed with
//! Ed25519 (`EdDSA`). Verification pins the algorithm, requires every time
//! claim, and accepts only known key ids, the exact issuer and the exact
//! audience — a token for `abc` is never valid for `ab` or `abcd`.

use std::collections::HashMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use slipway_core::Level;

use crate::AuthError;
use crate::keys::{Jwks, SigningKey};

/// The audience of user tokens. It contains `:`, which no cluster name can,
/// so a user token is never accepted as a cluster's token.
pub const API_AUDIENCE: &str = "slipway:api";

/// The leeway granted on `exp` and `nbf` for clock skew, in seconds.
pub const LEEWAY_SECS: u64 = 30;

/// The claims of every Slipway token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The issuing Slipway's public URL.
    pub iss: String,
    /// Who: a namespaced, stable subject (`github:<id>`, `slipway:<name>`).
    pub sub: String,
    /// What to call them (a login), for display only: never decides
    /// anything.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// [`API_AUDIENCE`] or exactly one cluster name. A single string: a
    /// token naming several audiences is not a Slipway token.
    pub aud: String,
    pub exp: i64,
    pub nbf: i64,
    pub iat: i64,
    /// Unique per token, for revocation.
    pub jti: String,
    /// For a user token the person's level on the site (`admin` or
    /// `member`); for a cluster token the level for that cluster.
    pub level: Level,
    /// The organizations the person is a member of.
    pub orgs: Vec<String>,
}

/// The audience of revocation lists: like [`API_AUDIENCE`] it contains
/// `:`, so no cluster's gateway and no API accepts one as a credential.
pub const REVOCATIONS_AUDIENCE: &str = "slipway:revocations";

/// The subject of revocation lists: the issuer itself.
pub const ISSUER_SUBJECT: &str = "slipway:issuer";

/// What the issuer revoked and is not yet expired, signed like its tokens,
/// so a gateway can trust a list fetched over any channel: token ids, and
/// people whose earlier tokens for a cluster are refused. It carries only
/// what gateways act on — cluster tokens (a user token, whose audience no
/// gateway accepts, is refused by the API alone) — so its size does not grow
/// with sign-ins and logouts.
///
/// `subjects` came after `revoked`: a list without it (an older issuer) has
/// none, and an older gateway ignores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevocationList {
    pub iss: String,
    /// [`ISSUER_SUBJECT`].
    pub sub: String,
    /// [`REVOCATIONS_AUDIENCE`].
    pub aud: String,
    pub iat: i64,
    pub nbf: i64,
    /// The list is fresh until then; a gateway that cannot refresh it keeps
    /// refusing what it lists.
    pub exp: i64,
    pub revoked: Vec<RevokedToken>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub subjects: Vec<RevokedSubject>,
}

/// One revoked token: refused until it would have expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedToken {
    pub jti: String,
    /// Unix seconds.
    pub exp: i64,
}

/// A person's tokens for one cluster issued before a time: refused until
/// every such token has expired. One entry stands for all of them, however
/// many there were (a member removed from an organization).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevokedSubject {
    /// The tokens' `sub`.
    pub sub: String,
    /// The tokens' `aud`: a cluster's name.
    pub aud: String,
    /// Tokens whose `iat` is before this (unix seconds) are refused.
    pub issued_before: i64,
    /// Until then (unix seconds): every such token has expired by then.
    pub exp: i64,
}

/// Signs claims with a key; the header names the key (`kid`).
pub fn sign(key: &SigningKey, claims: &impl Serialize) -> Result<String, AuthError> {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(key.kid.clone());
    jsonwebtoken::encode(&header, claims, &key.encoding_key())
        .map_err(|e| AuthError::Crypto(format!("signing failed: {e}")))
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("the token is malformed: {0}")]
    Malformed(String),
    #[error("the token is not signed with EdDSA")]
    WrongAlgorithm,
    #[error("the token is signed with an unknown key ({0})")]
    UnknownKey(String),
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token is for another audience")]
    WrongAudience,
    #[error("the token lacks the {0} claim")]
    MissingClaim(String),
    #[error("the token was revoked")]
    Revoked,
}

/// Public keys by id, to verify with.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, DecodingKey>,
}

impl KeySet {
    /// The usable Ed25519 keys of a JWKS (others are ignored).
    pub fn from_jwks(jwks: &Jwks) -> Self {
        let keys = jwks
            .keys
            .iter()
            .filter_map(|jwk| {
                let kid = jwk.kid.clone()?;
                let public = jwk.ed25519_public_key()?;
                Some((kid, DecodingKey::from_ed_der(&public)))
            })
            .collect();
        Self { keys }
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Verifies tokens of one issuer for one audience.
#[derive(Clone)]
pub struct Verifier {
    validation: Validation,
}

impl Verifier {
    pub fn new(issuer: &str, audience: &str) -> Self {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.leeway = LEEWAY_SECS;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iat", "iss", "aud", "sub"]);
        Self { validation }
    }

    /// The key id a token names, if it has a readable header.
    pub fn key_id(token: &str) -> Option<String> {
        jsonwebtoken::decode_header(token).ok()?.kid
    }

    /// Checks a token against `keys`: algorithm, key, signature, issuer,
    /// audience, and time claims (with [`LEEWAY_SECS`] of leeway).
    pub fn verify(&self, token: &str, keys: &KeySet) -> Result<Claims, Rejection> {
        self.verify_as(token, keys)
    }

    /// [`Verifier::verify`] for a token with other claims (e.g. a
    /// [`RevocationList`]).
    pub fn verify_as<T: serde::de::DeserializeOwned>(
        &self,
        token: &str,
        keys: &KeySet,
    ) -> Result<T, Rejection> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| Rejection::Malformed(e.to_string()))?;
        if header.alg != Algorithm::EdDSA {
            return Err(Rejection::WrongAlgorithm);
        }
        let kid = header.kid.unwrap_or_default();
        let key = keys.keys.get(&kid).ok_or_else(|| {
            Rejection::UnknownKey(if kid.is_empty() { "none".into() } else { kid })
        })?;
        jsonwebtoken::decode::<T>(token, key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::InvalidSignature => Rejection::BadSignature,
                ErrorKind::ExpiredSignature => Rejection::Expired,
                ErrorKind::ImmatureSignature => Rejection::NotYetValid,
                ErrorKind::InvalidIssuer => Rejection::WrongIssuer,
                ErrorKind::InvalidAudience => Rejection::WrongAudience,
                ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                    Rejection::WrongAlgorithm
                }
                ErrorKind::MissingRequiredClaim(claim) => Rejection::MissingClaim(claim.clone()),
                other => Rejection::Malformed(format!("{other:?}")),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    const ISS: &str = "https://slipway.example";

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    fn claims(aud: &str) -> Claims {
        Claims {
            iss: ISS.into(),
            sub: "github:1".into(),
            name: "alice".into(),
            aud: aud.into(),
            exp: now() + 3600,
            nbf: now() - 1,
            iat: now(),
            jti: "j1".into(),
            level: Level::OrgMember,
            orgs: vec!["research".into()],
        }
    }

    fn setup() -> (SigningKey, KeySet) {
        let key = SigningKey::generate().unwrap();
        let set = KeySet::from_jwks(&Jwks {
            keys: vec![key.jwk()],
        });
        (key, set)
    }

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn a_token_verifies_for_exactly_its_audience() {
        let (key, keys) = setup();
        let token = sign(&key, &claims("abc")).unwrap();
        let got = Verifier::new(ISS, "abc").verify(&token, &keys).unwrap();
        assert_eq!(got, claims("abc"));
        for other in ["ab", "abcd", "ABC", "abc ", API_AUDIENCE] {
            assert_eq!(
                Verifier::new(ISS, other).verify(&token, &keys),
                Err(Rejection::WrongAudience),
                "{other}"
            );
        }
        assert_eq!(
            Verifier::new("https://other", "abc").verify(&token, &keys),
            Err(Rejection::WrongIssuer)
        );
    }

    #[test]
    fn time_claims_are_enforced_with_small_leeway() {
        let (key, keys) = setup();
        let v = Verifier::new(ISS, "abc");
        let expired = Claims {
            exp: now() - 120,
            ..claims("abc")
        };
        assert_eq!(
            v.verify(&sign(&key, &expired).unwrap(), &keys),
            Err(Rejection::Expired)
        );
        let future = Claims {
            nbf: now() + 120,
            ..claims("abc")
        };
        assert_eq!(
            v.verify(&sign(&key, &future).unwrap(), &keys),
            Err(Rejection::NotYetValid)
        );
        let skewed = Claims {
            exp: now() - 5,
            ..claims("abc")
        };
        assert!(
            v.verify(&sign(&key, &skewed).unwrap(), &keys).is_ok(),
            "within leeway"
        );
    }

    #[test]
    fn attacks_are_rejected() {
        let (key, keys) = setup();
        let v = Verifier::new(ISS, "abc");
        let good = sign(&key, &claims("abc")).unwrap();
        let parts: Vec<&str> = good.split('.').collect();
        let payload = serde_json::to_value(claims("abc")).unwrap();

        // alg: none, no signature
        let none = format!(
            "{}.{}.",
            b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
            parts[1]
        );
        assert!(v.verify(&none, &keys).is_err());

        // HS256 "signed" with the public key as the secret
        let hs = jsonwebtoken::encode(
            &Header {
                kid: Some(key.kid.clone()),
                ..Header::new(Algorithm::HS256)
            },
            &claims("abc"),
            &jsonwebtoken::EncodingKey::from_secret(key.public_key()),
        )
        .unwrap();
        assert_eq!(v.verify(&hs, &keys), Err(Rejection::WrongAlgorithm));

        // tampered payload, original signature
        let mut admin = payload.clone();
        admin["level"] = serde_json::json!("admin");
        let tampered = format!("{}.{}.{}", parts[0], b64(&admin), parts[2]);
        assert_eq!(v.verify(&tampered, &keys), Err(Rejection::BadSignature));

        // unknown kid, and a key not in the set
        let stranger = SigningKey::generate().unwrap();
        assert!(matches!(
            v.verify(&sign(&stranger, &claims("abc")).unwrap(), &keys),
            Err(Rejection::UnknownKey(_))
        ));

        // several audiences are not a Slipway token
        let mut multi = payload.clone();
        multi["aud"] = serde_json::json!(["abc", "xyz"]);
        let multi = jsonwebtoken::encode(
            &Header {
                kid: Some(key.kid.clone()),
                ..Header::new(Algorithm::EdDSA)
            },
            &multi,
            &key.encoding_key(),
        )
        .unwrap();
        assert!(matches!(
            v.verify(&multi, &keys),
            Err(Rejection::Malformed(_))
        ));

        // a missing time claim
        let mut no_nbf = payload.clone();
        no_nbf.as_object_mut().unwrap().remove("nbf");
        let no_nbf = jsonwebtoken::encode(
            &Header {
                kid: Some(key.kid.clone()),
                ..Header::new(Algorithm::EdDSA)
            },
            &no_nbf,
            &key.encoding_key(),
        )
        .unwrap();
        assert!(v.verify(&no_nbf, &keys).is_err());

        assert!(matches!(
            v.verify("not.a.token", &keys),
            Err(Rejection::Malformed(_))
        ));
        assert!(v.verify(&good, &keys).is_ok());
    }
}
