//! The state file a running gateway writes, which is also its ready line.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::GatewayError;
use crate::detached::{self, State};

/// What a `slipway gateway run` process records about itself, both in its
/// state file and as the single "ready" line it prints on stdout:
///
/// ```json
/// {"pid":4242,"url":"http://127.0.0.1:40123","cluster":"abc","public":false,
///  "started_at":"2026-01-02T03:04:05.678Z","metrics_url":"http://127.0.0.1:40123/metrics"}
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GatewayState {
    /// The process id of the `slipway gateway run` process.
    pub pid: u32,
    /// Where clients reach the gateway, e.g. `http://127.0.0.1:40123`.
    pub url: String,
    /// The cluster it guards.
    pub cluster: String,
    /// Whether the cluster is public.
    pub public: bool,
    /// When the gateway became ready.
    pub started_at: DateTime<Utc>,
    /// Where its Prometheus metrics are.
    pub metrics_url: String,
}

impl GatewayState {
    /// Reads a state file; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> Result<Option<Self>, GatewayError> {
        Ok(detached::read(path)?)
    }

    /// Parses the JSON form (a state file's content or a ready line).
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        detached::parse(text)
    }

    /// The JSON form on one line.
    pub fn to_line(&self) -> String {
        detached::to_line(self)
    }
}

impl State for GatewayState {
    const COMMAND: &'static str = "gateway";

    fn pid(&self) -> u32 {
        self.pid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> GatewayState {
        GatewayState {
            pid: 7,
            url: "http://127.0.0.1:5555".into(),
            cluster: "abc".into(),
            public: true,
            started_at: "2026-01-02T03:04:05Z".parse().unwrap(),
            metrics_url: "http://127.0.0.1:5555/metrics".into(),
        }
    }

    #[test]
    fn the_json_form_has_the_documented_fields() {
        let value: serde_json::Value = serde_json::from_str(&sample().to_line()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "pid": 7,
                "url": "http://127.0.0.1:5555",
                "cluster": "abc",
                "public": true,
                "started_at": "2026-01-02T03:04:05Z",
                "metrics_url": "http://127.0.0.1:5555/metrics",
            })
        );
    }

    #[test]
    fn parses_its_own_output_and_tolerates_unknown_fields() {
        assert_eq!(GatewayState::parse(&sample().to_line()).unwrap(), sample());
        let extra = r#"{"pid":1,"url":"u","cluster":"c","public":false,"started_at":"2026-01-02T03:04:05.123+00:00","metrics_url":"u/metrics","later":true}"#;
        assert_eq!(GatewayState::parse(extra).unwrap().pid, 1);
        assert!(GatewayState::parse(r#"{"pid":1}"#).is_err());
    }
}
