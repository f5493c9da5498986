//! The service in process: a [`slipway_service::Service`] over a real
//! SQLite store in a temporary directory, called as the transports call it
//! — no HTTP, no Terraform, no server — by a caller of each access level.
//! Each test checks who may and who may not do an action, and that a rule
//! of `core` reaches the caller as the right refusal; each runs in
//! milliseconds. `support` builds the service, the callers and clusters in
//! the states the tests need (operations are leased and ended through the
//! store, as an executor would).
//!
//! One area: `cargo test -p slipway-service --test in_process clusters::`.

mod support;

mod accounts;
mod budget;
mod capacity;
mod clusters;
mod operations;
mod orgs;
mod provisioning;
mod tokens;
