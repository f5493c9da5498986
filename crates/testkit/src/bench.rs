//! What the benchmarks share: their settings from the environment, a
//! server set up for load, medians and the API's times.

use std::path::Path;

use crate::server::{Options, Server};

/// A benchmark's setting `name` from the environment, else `default`.
pub fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// A server for load: the per-user and per-address limits out of the way,
/// warnings only in its log, and `env` besides.
pub fn server(bin: &Path, env: &[(&str, String)]) -> Server {
    let mut options = Options {
        env: vec![
            (
                "SLIPWAY_AUTH__RATE_LIMITS__API_PER_SECOND".into(),
                "1000000".into(),
            ),
            (
                "SLIPWAY_AUTH__RATE_LIMITS__API_BURST".into(),
                "1000000".into(),
            ),
            ("SLIPWAY_LOG".into(), "warn".into()),
        ],
        ..Options::default()
    };
    options
        .env
        .extend(env.iter().map(|(k, v)| ((*k).to_owned(), v.clone())));
    Server::start_with(bin, options)
}

/// The median of `samples` (NaN for none).
pub fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => samples[n / 2],
        _ => (samples[n / 2 - 1] + samples[n / 2]) / 2.0,
    }
}

/// A time the API answered (RFC 3339).
pub fn time(value: &serde_json::Value) -> chrono::DateTime<chrono::Utc> {
    value
        .as_str()
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("a time: {value}"))
}
