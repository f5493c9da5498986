//! What every request handler shares: the server builds it, the proxy
//! reads it.

use http::HeaderValue;

use std::sync::Arc;

use super::auth::Authenticator;
use super::config::Config;
use super::keys::KeyStore;
use super::limits::RateLimits;
use super::metrics::Metrics;
use super::revocations::Revocations;
use super::upstream::Upstreams;

/// What every request handler shares.
pub(crate) struct Shared {
    pub config: Config,
    pub auth: Authenticator,
    pub keys: Arc<KeyStore>,
    pub revocations: Arc<Revocations>,
    pub limits: RateLimits,
    pub upstreams: Upstreams,
    pub metrics: Arc<Metrics>,
    /// `Bearer realm="<cluster>"`.
    pub realm: HeaderValue,
    /// Whether `/metrics` is answered on the main listener.
    pub metrics_on_main: bool,
    /// How many threads serve requests.
    pub workers: usize,
}
