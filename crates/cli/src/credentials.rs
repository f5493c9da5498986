//! Saved sign-ins: `~/.config/slipway/credentials.json` (mode 600), one user
//! token per server.

use std::collections::BTreeMap;
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
    dirs::config_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("slipway")
        .join("credentials.json")
}

fn key(server: &str) -> String {
    server.trim_end_matches('/').to_owned()
}

fn read() -> File {
    std::fs::read_to_string(path())
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default()
}

fn write(file: &File) -> std::io::Result<PathBuf> {
    let path = path();
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    slipway_files::write_private(&path, serde_json::to_string_pretty(file)?.as_bytes())?;
    Ok(path)
}

/// The unexpired token saved for `server`.
pub fn token_for(server: &str) -> Option<String> {
    read()
        .servers
        .get(&key(server))
        .filter(|s| s.expires_at > Utc::now())
        .map(|s| s.token.clone())
}

/// Saves a token for `server`; returns where.
pub fn save(server: &str, saved: Saved) -> std::io::Result<PathBuf> {
    let mut file = read();
    file.servers.insert(key(server), saved);
    write(&file)
}

/// Forgets the token of `server`.
pub fn forget(server: &str) -> std::io::Result<()> {
    let mut file = read();
    if file.servers.remove(&key(server)).is_some() {
        write(&file)?;
    }
    Ok(())
}
