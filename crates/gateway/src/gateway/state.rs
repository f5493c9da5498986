//! The state file a running gateway writes, which is also its ready line.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::GatewayError;

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
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(GatewayError::io(format!("reading {}", path.display()), err)),
        };
        Self::parse(&text)
            .map(Some)
            .map_err(|err| GatewayError::Invalid(format!("state file {}: {err}", path.display())))
    }

    /// Parses the JSON form (a state file's content or a ready line).
    pub fn parse(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text.trim())
    }

    /// The JSON form on one line.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a GatewayState always serializes")
    }

    /// Writes the state file atomically (a hidden temporary file beside it,
    /// then a rename).
    pub fn write_atomic(&self, path: &Path) -> Result<(), GatewayError> {
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
            return Err(GatewayError::io(format!("writing {}", path.display()), err));
        }
        Ok(())
    }
}

/// `dir/.name.tmp-<pid>`: hidden and not ending in `.json`.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = std::ffi::OsString::from(".");
    name.push(path.file_name().unwrap_or_default());
    name.push(format!(".tmp-{}", std::process::id()));
    path.with_file_name(name)
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
    fn writes_atomically_and_reads_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway.json");
        assert_eq!(GatewayState::read(&path).unwrap(), None);
        sample().write_atomic(&path).unwrap();
        assert_eq!(GatewayState::read(&path).unwrap(), Some(sample()));
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("gateway.json")]);
        fs::write(&path, "{").unwrap();
        assert!(GatewayState::read(&path).is_err());
    }
}
