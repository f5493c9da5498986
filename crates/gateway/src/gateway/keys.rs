//! The issuer's public keys: fetched from its JWKS URL, cached, refreshed
//! periodically, refetched when a token names a key id not yet known (at
//! most once per `jwks_refetch_min`; such a token waits for the next allowed
//! fetch when it is at most 5 s away), and kept (served stale) while the
//! issuer cannot be reached.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use slipway_auth::jwt::KeySet;
use slipway_auth::keys::Jwks;

use super::metrics::Metrics;

/// How long one request to the issuer (its JWKS, its revocation list) may
/// take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(3);

/// The client a gateway asks its issuer with.
pub(super) fn issuer_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(FETCH_TIMEOUT)
        .connect_timeout(FETCH_TIMEOUT)
        .user_agent(concat!("slipway-gateway/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("an HTTP client")
}

/// The longest a request with an unknown key id waits for the next allowed
/// refetch.
pub(crate) const MAX_REFETCH_WAIT: Duration = Duration::from_secs(5);

/// The current key set and how to renew it.
pub(crate) struct KeyStore {
    url: Option<String>,
    http: reqwest::Client,
    keys: RwLock<Arc<KeySet>>,
    /// The key ids of `keys`, to tell which cached tokens lost their key.
    kids: RwLock<Arc<Vec<String>>>,
    loaded: AtomicBool,
    /// Bumped whenever a fetch changes the key ids.
    generation: AtomicU64,
    refetch_min: Duration,
    /// Serializes fetches; holds when the last on-demand fetch was tried.
    fetching: tokio::sync::Mutex<Option<Instant>>,
    metrics: Arc<Metrics>,
}

/// What an on-demand refetch achieved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refetch {
    /// The key set now has the key.
    Found,
    /// The issuer answered, and it does not have the key (or a recent
    /// fetch already said so).
    Unknown,
    /// The issuer cannot be reached and no keys were ever loaded.
    Unavailable,
}

impl KeyStore {
    pub fn new(url: Option<String>, refetch_min: Duration, metrics: Arc<Metrics>) -> Self {
        let http = issuer_client();
        Self {
            url,
            http,
            keys: RwLock::new(Arc::new(KeySet::default())),
            kids: RwLock::new(Arc::new(Vec::new())),
            loaded: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            refetch_min,
            fetching: tokio::sync::Mutex::new(None),
            metrics,
        }
    }

    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// The keys to verify with now.
    pub fn current(&self) -> Arc<KeySet> {
        self.keys.read().clone()
    }

    pub fn kids(&self) -> Arc<Vec<String>> {
        self.kids.read().clone()
    }

    /// Whether a fetch ever succeeded.
    pub fn loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Fetches the key set now (waiting for a fetch in progress first).
    pub async fn refresh(&self) -> Result<(), String> {
        let mut last = self.fetching.lock().await;
        *last = Some(Instant::now());
        self.fetch().await
    }

    /// A token names `kid`, which the current set lacks: refetch the
    /// keys, at most once per `refetch_min`. If a fetch was tried less than
    /// that ago, wait for the window to end (when that is at most
    /// [`MAX_REFETCH_WAIT`] away), so a key the issuer has just started
    /// signing with is found without refusing anyone. Concurrent callers
    /// wait for the same fetch instead of starting their own: a flood of
    /// unknown key ids costs one fetch per window.
    pub async fn refetch_for(&self, kid: &str) -> Refetch {
        if self.url.is_none() {
            return Refetch::Unknown;
        }
        let arrived = Instant::now();
        let mut last = self.fetching.lock().await;
        // A fetch that started after we arrived has answered for us.
        let answered = last.is_some_and(|at| at >= arrived);
        if !answered && !self.current().contains(kid) {
            let wait = last.map_or(Duration::ZERO, |at| {
                (at + self.refetch_min).saturating_duration_since(Instant::now())
            });
            if wait <= MAX_REFETCH_WAIT {
                tokio::time::sleep(wait).await;
                *last = Some(Instant::now());
                if let Err(err) = self.fetch().await {
                    tracing::warn!(kid, error = %err, "refetching the JWKS for an unknown key failed");
                }
            }
        }
        drop(last);
        if self.current().contains(kid) {
            Refetch::Found
        } else if self.loaded() {
            Refetch::Unknown
        } else {
            Refetch::Unavailable
        }
    }

    /// One fetch; on success the key set is replaced, on failure the old
    /// one stays.
    async fn fetch(&self) -> Result<(), String> {
        let Some(url) = &self.url else {
            return Err("no JWKS URL is configured".into());
        };
        let result = async {
            let response = self
                .http
                .get(url)
                .send()
                .await
                .map_err(|e| format!("GET {url}: {}", chain(&e)))?;
            let status = response.status();
            if !status.is_success() {
                return Err(format!("GET {url}: HTTP {status}"));
            }
            let bytes = response
                .bytes()
                .await
                .map_err(|e| format!("GET {url}: {}", chain(&e)))?;
            serde_json::from_slice::<Jwks>(&bytes).map_err(|e| format!("{url}: not a JWKS: {e}"))
        }
        .await;
        match result {
            Ok(jwks) => {
                let set = KeySet::from_jwks(&jwks);
                let mut kids: Vec<String> = jwks
                    .keys
                    .iter()
                    .filter(|k| k.ed25519_public_key().is_some())
                    .filter_map(|k| k.kid.clone())
                    .collect();
                kids.sort();
                kids.dedup();
                self.metrics.jwks_ok.inc();
                self.metrics.jwks_keys.set(set.len() as i64);
                let changed = **self.kids.read() != kids;
                *self.keys.write() = Arc::new(set);
                if changed {
                    tracing::info!(keys = ?kids, %url, "signing keys loaded");
                    *self.kids.write() = Arc::new(kids);
                    self.generation.fetch_add(1, Ordering::AcqRel);
                }
                self.loaded.store(true, Ordering::Release);
                Ok(())
            }
            Err(err) => {
                self.metrics.jwks_error.inc();
                Err(err)
            }
        }
    }
}

/// An error and its sources, on one line.
pub(crate) fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
