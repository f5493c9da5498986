//! Token signing and verification per second on one core: what a gateway or
//! the API pays per request without a cache.
//!
//! `cargo bench -p slipway-auth --bench verify`

use std::time::{Duration, Instant};

use slipway_auth::jwt::{Claims, KeySet, Verifier, sign};
use slipway_auth::keys::{Jwks, SigningKey};
use slipway_core::Level;

fn rate(what: &str, mut op: impl FnMut()) {
    // Warm up, then run for a fixed time.
    for _ in 0..1000 {
        op();
    }
    let (start, mut n) = (Instant::now(), 0u64);
    while start.elapsed() < Duration::from_secs(3) {
        for _ in 0..1000 {
            op();
        }
        n += 1000;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{what:<24} {:>10.0} per second ({:.1} µs each)",
        n as f64 / secs,
        secs * 1e6 / n as f64
    );
}

fn main() {
    let key = SigningKey::generate().expect("a key");
    let keys = KeySet::from_jwks(&Jwks {
        keys: vec![key.jwk()],
    });
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        iss: "https://slipway.example".into(),
        sub: "alice".into(),
        name: String::new(),
        aud: "dev-cluster".into(),
        exp: now + 3600,
        nbf: now,
        iat: now,
        jti: "0123456789abcdef".into(),
        level: Level::OrgMember,
        orgs: vec!["research".into()],
    };
    let token = sign(&key, &claims).expect("signed");
    let verifier = Verifier::new("https://slipway.example", "dev-cluster");
    assert!(verifier.verify(&token, &keys).is_ok());
    rate("sign (EdDSA)", || {
        std::hint::black_box(sign(&key, &claims).expect("signed"));
    });
    rate("verify (EdDSA)", || {
        std::hint::black_box(verifier.verify(&token, &keys).expect("valid"));
    });
}
