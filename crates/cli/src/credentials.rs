//! Saved sign-ins: `credentials.json` in `$XDG_CONFIG_HOME/slipway` (when
//! set and absolute), else `~/.config/slipway` — on every platform, so the
//! Python and JavaScript clients (`clients/`) find the same file. One user
//! token per server, keyed by the server's URL without a trailing `/`:
//! `{"servers": {URL: {"token", "login", "expires_at"}}}`.
//!
//! The file is written atomically with mode 600 (`slipway_files`). A file
//! that other users may read or change (any group or other permission bit)
//! is refused, naming the fix, rather than used: a token in it may already
//! have leaked, and whoever can write it could plant their own.

use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A user token saved for one server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Saved {
    pub token: String,
    pub login: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    servers: BTreeMap<String, Saved>,
}

fn path() -> PathBuf {
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|dir| dir.is_absolute())
        .or_else(|| dirs::home_dir().map(|home| home.join(".config")))
        .unwrap_or_else(|| PathBuf::from("."));
    config.join("slipway").join("credentials.json")
}

fn key(server: &str) -> String {
    server.trim_end_matches('/').to_owned()
}

/// The saved sign-ins; none when there is no file. An error names the
/// file: one others may open, or one that does not parse.
fn read() -> Result<File, String> {
    let path = path();
    let metadata = match std::fs::metadata(&path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(File::default()),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{path} is open to other users (mode {mode:04o}): run chmod 600 {path}",
            path = path.display()
        ));
    }
    let text = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| {
        format!(
            "{} is not a credentials file ({e}): remove it and sign in again",
            path.display()
        )
    })
}

fn write(file: &File) -> std::io::Result<PathBuf> {
    let path = path();
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    slipway_files::write_private(&path, serde_json::to_string_pretty(file)?.as_bytes())?;
    Ok(path)
}

/// The unexpired token saved for `server`, if any.
pub fn token_for(server: &str) -> Result<Option<String>, String> {
    Ok(read()?
        .servers
        .get(&key(server))
        .filter(|s| s.expires_at > Utc::now())
        .map(|s| s.token.clone()))
}

/// Saves a token for `server`; returns where.
pub fn save(server: &str, saved: Saved) -> Result<PathBuf, String> {
    let mut file = read()?;
    file.servers.insert(key(server), saved);
    write(&file).map_err(|e| e.to_string())
}

/// Forgets the token of `server`.
pub fn forget(server: &str) -> Result<(), String> {
    let mut file = read()?;
    if file.servers.remove(&key(server)).is_some() {
        write(&file).map_err(|e| e.to_string())?;
    }
    Ok(())
}
