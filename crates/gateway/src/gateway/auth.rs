//! Who is calling: the token (bearer or `token` cookie), verified against
//! the issuer's keys with [`Verifier`] (EdDSA only, exact issuer, audience
//! exactly the cluster's name, 30 s leeway), and cached until it expires —
//! and, cached or not, refused once its `jti` is revoked or its person's
//! tokens issued before a time are.

use std::collections::HashMap;
use std::sync::Arc;

use http::header::{AUTHORIZATION, COOKIE};
use http::{HeaderMap, HeaderValue};
use parking_lot::RwLock;
use slipway_auth::credential;
use slipway_auth::jwt::{Claims, LEEWAY_SECS, Rejection, Verifier};
use slipway_core::Level;

use super::keys::{KeyStore, Refetch};
use super::metrics::Metrics;
use super::revocations::Revocations;

/// A verified caller, with the identity headers for nodes ready-made.
#[derive(Debug)]
pub(crate) struct Identity {
    pub sub: Arc<str>,
    /// The token's id, which revocations name.
    pub jti: Box<str>,
    /// When it was issued (unix seconds): revocations of a person name
    /// tokens issued before a time.
    pub iat: i64,
    pub level: Level,
    pub user_header: HeaderValue,
    pub level_header: HeaderValue,
    pub orgs_header: HeaderValue,
    /// Unix seconds after which the token is no longer valid (`exp` plus the
    /// leeway the verifier grants).
    pub valid_until: i64,
    kid: Box<str>,
}

impl Identity {
    /// Whether the issuer revoked this token (by its id, or all of its
    /// person's tokens issued before a time).
    fn revoked(&self, revocations: &Revocations, now: i64) -> bool {
        revocations.is_revoked(&self.jti, &self.sub, self.iat, now)
    }

    fn from_claims(claims: &Claims, kid: &str) -> Result<Self, String> {
        let header = |what: &str, value: &str| {
            HeaderValue::from_str(value)
                .map_err(|_| format!("the token's {what} cannot be sent in a header"))
        };
        if claims.orgs.iter().any(|o| o.contains(',')) {
            return Err("an organization name in the token contains ','".into());
        }
        Ok(Self {
            sub: claims.sub.as_str().into(),
            jti: claims.jti.as_str().into(),
            iat: claims.iat,
            level: claims.level,
            user_header: header("sub", &claims.sub)?,
            level_header: HeaderValue::from_static(claims.level.as_str()),
            orgs_header: header("orgs", &claims.orgs.join(","))?,
            valid_until: claims.exp.saturating_add(LEEWAY_SECS as i64),
            kid: kid.into(),
        })
    }
}

/// The token a request carries: `Authorization: Bearer <token>`, else a
/// `token` cookie ([`slipway_auth::credential`]'s reading).
pub(crate) fn token(headers: &HeaderMap) -> Option<&str> {
    credential::bearer(headers.get_all(AUTHORIZATION).iter().map(|v| v.as_bytes())).or_else(|| {
        credential::cookie(
            headers.get_all(COOKIE).iter().map(|v| v.as_bytes()),
            "token",
        )
    })
}

/// Why a present token was not accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The token is invalid (the reason is safe to tell the caller).
    Invalid(String),
    /// The token was valid and has expired: a new one would do.
    Expired,
    /// The token is valid, and the issuer revoked it.
    Revoked,
    /// No keys could ever be fetched from the issuer.
    IssuerUnavailable,
}

/// Verifies tokens and remembers the valid ones.
pub(crate) struct Authenticator {
    verifier: Option<Verifier>,
    keys: Arc<KeyStore>,
    revocations: Arc<Revocations>,
    cache: RwLock<Cache>,
    capacity: usize,
    metrics: Arc<Metrics>,
}

struct Cache {
    entries: HashMap<Box<str>, Arc<Identity>>,
    /// The key generation the entries were checked against.
    generation: u64,
}

impl Authenticator {
    pub fn new(
        issuer: Option<&str>,
        cluster: &str,
        keys: Arc<KeyStore>,
        revocations: Arc<Revocations>,
        capacity: usize,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            verifier: issuer.map(|issuer| Verifier::new(issuer, cluster)),
            keys,
            revocations,
            cache: RwLock::new(Cache {
                entries: HashMap::new(),
                generation: 0,
            }),
            capacity,
            metrics,
        }
    }

    /// Checks a token: from the cache when it was verified before and has
    /// not expired, else with the verifier (refetching the keys once when
    /// it names an unknown key); either way, against the revoked tokens.
    pub async fn authenticate(&self, token: &str, now: i64) -> Result<Arc<Identity>, Refused> {
        if let Some(identity) = self.cached(token, now) {
            if identity.revoked(&self.revocations, now) {
                self.metrics.token_revoked.inc();
                return Err(Refused::Revoked);
            }
            self.metrics.token_cached.inc();
            return Ok(identity);
        }
        let result = self.verify(token, now).await;
        match &result {
            Ok(_) => self.metrics.token_verified.inc(),
            Err(Refused::Revoked) => self.metrics.token_revoked.inc(),
            Err(_) => self.metrics.token_rejected.inc(),
        };
        result
    }

    fn cached(&self, token: &str, now: i64) -> Option<Arc<Identity>> {
        let generation = self.keys.generation();
        {
            let cache = self.cache.read();
            if cache.generation == generation {
                let identity = cache.entries.get(token)?;
                return (identity.valid_until >= now).then(|| identity.clone());
            }
        }
        let mut cache = self.cache.write();
        self.prune_for(&mut cache, generation);
        let identity = cache.entries.get(token)?;
        (identity.valid_until >= now).then(|| identity.clone())
    }

    /// After the key set changed: keeps only tokens whose key is still
    /// published.
    fn prune_for(&self, cache: &mut Cache, generation: u64) {
        if cache.generation == generation {
            return;
        }
        let kids = self.keys.kids();
        cache
            .entries
            .retain(|_, id| kids.iter().any(|k| **k == *id.kid));
        cache.generation = generation;
        self.metrics
            .token_cache_entries
            .set(cache.entries.len() as i64);
    }

    async fn verify(&self, token: &str, now: i64) -> Result<Arc<Identity>, Refused> {
        let Some(verifier) = &self.verifier else {
            return Err(Refused::Invalid(
                "this gateway has no token issuer configured".into(),
            ));
        };
        let mut result = verifier.verify(token, &self.keys.current());
        if let Err(Rejection::UnknownKey(_)) = &result
            && let Some(kid) = Verifier::key_id(token)
        {
            match self.keys.refetch_for(&kid).await {
                Refetch::Found => result = verifier.verify(token, &self.keys.current()),
                Refetch::Unknown => {}
                Refetch::Unavailable => return Err(Refused::IssuerUnavailable),
            }
        }
        let claims = result.map_err(|r| match r {
            Rejection::Expired => Refused::Expired,
            r @ (Rejection::Malformed(_)
            | Rejection::WrongAlgorithm
            | Rejection::UnknownKey(_)
            | Rejection::BadSignature
            | Rejection::NotYetValid
            | Rejection::WrongIssuer
            | Rejection::WrongAudience
            | Rejection::MissingClaim(_)
            | Rejection::Revoked) => Refused::Invalid(r.to_string()),
        })?;
        let kid = Verifier::key_id(token).unwrap_or_default();
        let identity = Arc::new(Identity::from_claims(&claims, &kid).map_err(Refused::Invalid)?);
        if identity.revoked(&self.revocations, now) {
            return Err(Refused::Revoked);
        }
        self.insert(token, identity.clone(), now);
        Ok(identity)
    }

    fn insert(&self, token: &str, identity: Arc<Identity>, now: i64) {
        let generation = self.keys.generation();
        let mut cache = self.cache.write();
        self.prune_for(&mut cache, generation);
        if cache.entries.len() >= self.capacity {
            cache.entries.retain(|_, id| id.valid_until >= now);
        }
        if cache.entries.len() >= self.capacity {
            // Still full of live tokens: forget a quarter, arbitrarily.
            let drop = (self.capacity / 4).max(1);
            let victims: Vec<Box<str>> = cache.entries.keys().take(drop).cloned().collect();
            for victim in victims {
                cache.entries.remove(&victim);
            }
        }
        // Verified against a key that vanished meanwhile: not worth keeping.
        if self.keys.kids().iter().any(|k| **k == *identity.kid) {
            cache.entries.insert(token.into(), identity);
        }
        self.metrics
            .token_cache_entries
            .set(cache.entries.len() as i64);
    }

    /// Drops expired tokens (called periodically).
    pub fn sweep(&self, now: i64) {
        let mut cache = self.cache.write();
        cache.entries.retain(|_, id| id.valid_until >= now);
        cache.entries.shrink_to(self.capacity);
        self.metrics
            .token_cache_entries
            .set(cache.entries.len() as i64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn finds_the_token_in_a_bearer_header_or_a_cookie() {
        assert_eq!(token(&headers(&[])), None);
        assert_eq!(
            token(&headers(&[("authorization", "Bearer abc.def")])),
            Some("abc.def")
        );
        assert_eq!(
            token(&headers(&[("authorization", "bearer  abc ")])),
            Some("abc")
        );
        assert_eq!(token(&headers(&[("authorization", "Bearer")])), Some(""));
        assert_eq!(token(&headers(&[("authorization", "Basic eDp5")])), None);
        assert_eq!(
            token(&headers(&[("cookie", "a=1; token=tok.en; b=2")])),
            Some("tok.en")
        );
        assert_eq!(token(&headers(&[("cookie", "tokens=x")])), None);
        assert_eq!(
            token(&headers(&[
                ("cookie", "token=from-cookie"),
                ("authorization", "Bearer from-header")
            ])),
            Some("from-header"),
            "the header wins"
        );
    }
}
