//! Slipway's HTTP API as both sides see it: the JSON documents of `/v1`
//! ([`types`]) and a typed [`Client`] — the only way the CLI talks to a
//! server.

mod client;
pub mod types;

pub use client::{Client, ClientError, Follower, JsonStream};
pub use reqwest::StatusCode;
