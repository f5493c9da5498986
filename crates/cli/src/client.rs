//! The client's connection to the server, and what every client command
//! shares: the token it uses and how it reads times and variables. The
//! commands are `impl Connection` blocks by area: `clusters`, `accounts`,
//! `identity`. Each is one or two API calls, a wait where the command
//! waits, and an exit code that says how it went.

use slipway_api::Client;
use slipway_core::Variables;

use crate::Global;
use crate::exit::Failure;

/// A connection to the server, and how to print.
pub struct Connection {
    pub(crate) client: Client,
    pub(crate) json: bool,
}

/// The token to use: the one given; else the one `slipway login` saved for
/// the server; else — for the local server with its default data
/// directory — the bootstrap admin token it wrote there.
/// A credentials file others may open is refused, not skipped.
fn resolve_token(global: &Global) -> Result<Option<String>, Failure> {
    if let Some(token) = &global.token {
        return Ok(Some(token.clone()));
    }
    let saved = crate::credentials::token_for(&global.server)
        .map_err(|e| Failure::new(crate::exit::FAILED, "credentials", e))?;
    if saved.is_some() {
        return Ok(saved);
    }
    let local = ["http://127.0.0.1:7878", "http://localhost:7878"]
        .contains(&global.server.trim_end_matches('/'));
    if !local {
        return Ok(None);
    }
    let path =
        slipway_server::config::admin_token_path(&slipway_server::config::default_data_dir());
    Ok(std::fs::read_to_string(path)
        .ok()
        .map(|t| t.trim().to_owned()))
}

pub(crate) fn parse_time(
    field: &str,
    value: &str,
) -> Result<chrono::DateTime<chrono::Utc>, Failure> {
    chrono::DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|e| {
            Failure::invalid(
                field,
                format!(
                    "--{}: must be an RFC 3339 time such as 2026-01-02T15:04:05Z ({e})",
                    field.replace('_', "-")
                ),
            )
        })
}

pub(crate) fn parse_vars(vars: &[String]) -> Result<Variables, Failure> {
    vars.iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                Ok((k.to_owned(), serde_json::Value::String(v.to_owned())))
            }
            _ => Err(Failure::invalid(
                "variables",
                format!("--var: expected KEY=VALUE, got {kv:?}"),
            )),
        })
        .collect()
}

impl Connection {
    pub fn new(global: &Global) -> Result<Self, Failure> {
        if !(global.server.starts_with("http://") || global.server.starts_with("https://")) {
            return Err(Failure::invalid(
                "server",
                format!(
                    "--server: must be an http:// or https:// URL (got {:?})",
                    global.server
                ),
            ));
        }
        Ok(Self {
            client: Client::new(&global.server, resolve_token(global)?),
            json: global.json,
        })
    }
}
