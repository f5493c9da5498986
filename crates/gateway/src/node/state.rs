//! The state file a running node writes: who it is and where it listens.

use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::detached::ProcessError;
use crate::detached::{self, State};

/// What a `slipway node run` process records about itself, both in its state
/// file and as the single "ready" line it prints on stdout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeState {
    /// The process id of the `slipway node run` process.
    pub pid: u32,
    /// Where the node answers HTTP, e.g. `http://127.0.0.1:41234`.
    pub url: String,
    /// The cluster the node belongs to.
    pub cluster: String,
    /// The node's index within its cluster (0-based).
    pub index: u32,
    /// When the node started listening.
    pub started_at: DateTime<Utc>,
}

impl NodeState {
    /// Reads a state file; `Ok(None)` when there is none.
    pub fn read(path: &Path) -> Result<Option<Self>, ProcessError> {
        detached::read(path)
    }

    /// Parses the JSON form (a state file's content or a ready line).
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        detached::parse(text)
    }

    /// The JSON form on one line.
    pub fn to_line(&self) -> String {
        detached::to_line(self)
    }

    /// Writes the state file atomically: a temporary file beside it, then a
    /// rename, so readers never see half a file.
    pub fn write_atomic(&self, path: &Path) -> Result<(), ProcessError> {
        detached::write_atomic(self, path)
    }
}

impl State for NodeState {
    const COMMAND: &'static str = "node";

    fn pid(&self) -> u32 {
        self.pid
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> NodeState {
        NodeState {
            pid: 4242,
            url: "http://127.0.0.1:5555".into(),
            cluster: "demo".into(),
            index: 3,
            started_at: "2026-01-02T03:04:05Z".parse().unwrap(),
        }
    }

    #[test]
    fn the_json_form_has_the_documented_fields() {
        let value: serde_json::Value = serde_json::from_str(&sample().to_line()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "pid": 4242,
                "url": "http://127.0.0.1:5555",
                "cluster": "demo",
                "index": 3,
                "started_at": "2026-01-02T03:04:05Z",
            })
        );
        assert!(!sample().to_line().contains('\n'));
    }

    #[test]
    fn parses_its_own_output_and_tolerates_unknown_fields() {
        assert_eq!(NodeState::parse(&sample().to_line()).unwrap(), sample());
        let extra = r#"{"pid":1,"url":"u","cluster":"c","index":0,"started_at":"2026-01-02T03:04:05.123+00:00","later":true}"#;
        assert_eq!(NodeState::parse(extra).unwrap().pid, 1);
        assert!(NodeState::parse(r#"{"pid":1}"#).is_err());
        assert!(NodeState::parse("").is_err());
    }
}
