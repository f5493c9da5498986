//! Slipway's HTTP API as both sides see it: the JSON documents of `/v1`
//! ([`types`]) and a typed [`Client`] — the only way the CLI talks to a
//! server.

// A new variant of an enum must be handled where it is matched: no
// wildcard arm swallows it (ARCHITECTURE.md, "Adding an operation kind").
#![warn(clippy::wildcard_enum_match_arm)]

mod client;
pub mod types;

pub use client::{Client, ClientError, Follower, JsonStream};
pub use reqwest::StatusCode;
