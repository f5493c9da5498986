//! The state file a running node writes: who it is and where it listens.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::NodeError;

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
    pub fn read(path: &Path) -> Result<Option<Self>, NodeError> {
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(NodeError::io(format!("reading {}", path.display()), err)),
        };
        Self::parse(&text)
            .map(Some)
            .map_err(|err| NodeError::Invalid(format!("state file {}: {err}", path.display())))
    }

    /// Parses the JSON form (a state file's content or a ready line).
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text.trim())
    }

    /// The JSON form on one line.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a NodeState always serializes")
    }

    /// Writes the state file atomically: a temporary file beside it, then a
    /// rename, so readers never see half a file.
    pub fn write_atomic(&self, path: &Path) -> Result<(), NodeError> {
        let tmp = temp_path(path);
        let result = (|| {
            let mut file = File::create(&tmp)?;
            file.write_all(self.to_line().as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            fs::rename(&tmp, path)
        })();
        if let Err(err) = result {
            let _ = fs::remove_file(&tmp);
            return Err(NodeError::io(format!("writing {}", path.display()), err));
        }
        Ok(())
    }
}

/// `dir/.name.tmp-<pid>`: hidden, and not ending in `.json`, so `stop-all`
/// never takes it for a state file.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
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

    #[test]
    fn writes_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node-3.json");
        assert_eq!(NodeState::read(&path).unwrap(), None);
        sample().write_atomic(&path).unwrap();
        assert_eq!(NodeState::read(&path).unwrap(), Some(sample()));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("node-3.json")]);
    }

    #[test]
    fn a_corrupt_state_file_is_an_error_that_names_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("node-0.json");
        fs::write(&path, "{not json").unwrap();
        let err = NodeState::read(&path).unwrap_err().to_string();
        assert!(err.contains("node-0.json"), "{err}");
    }
}
