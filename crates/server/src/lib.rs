//! Slipway's server: the transports over the service, and the start-up
//! that composes them with a worker.
//!
//! - [`http`]: the REST API (with server-sent events, the OpenAPI document,
//!   Terraform's state backend and `/metrics`).
//! - `listener`: connections, slow-client timeouts, HTTP/1.1 and HTTP/2 on
//!   one port.
//! - `startup`: `serve` (transports + worker), `work` (a worker alone), and
//!   `bootstrap_token` (a new bootstrap token, for the host's operator).
//!
//! The transports know nothing of each other; each calls the service.

// A new variant of an enum must be handled where it is matched: no
// wildcard arm swallows it (ARCHITECTURE.md, "Adding an operation kind").
#![warn(clippy::wildcard_enum_match_arm)]

pub mod config;
pub mod http;
mod listener;
mod startup;

pub use config::Config;
pub use startup::{bootstrap_token, serve, work};
