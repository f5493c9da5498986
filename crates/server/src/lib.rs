//! Slipway's server: the HTTP API and the background workers — the executor
//! that runs operations, the scheduler that fires scheduled destroys, the
//! reclaimer that interrupts operations whose worker vanished — wired to the
//! store and the engine.

mod app;
mod auth;
pub mod config;
mod error;
mod executor;
mod http;
mod identity;
mod jobs;
mod ratelimit;
mod scheduler;
mod service;
mod storage;

pub use app::{serve, work};
pub use config::Config;
