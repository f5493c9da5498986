//! The black-box tests: the `slipway` binary driven as people and programs
//! drive it — real servers, real Terraform, real node and gateway
//! processes. One test binary (linking the whole world once, not once per
//! area) with a module per area; `common` is what the areas share.
//!
//! Run one area with `cargo test -p slipway-cli --test black_box <area>::`,
//! e.g. `cargo test -p slipway-cli --test black_box lifecycle::`.

mod common;

mod accounts;
mod action;
mod bad_input;
mod blueprints;
mod cli_output;
mod clients;
mod cluster_gateway;
mod edge;
mod fairness;
mod grpc;
mod hardening;
mod identity;
mod lifecycle;
mod local_blueprint;
mod local_default;
mod readme;
mod replicas;
mod repository;
mod runs;
mod schemathesis;
mod soak;
mod web;
