//! The check, run as developers run it, on fixtures: tiny workspaces of
//! their own under `tests/fixtures/` (not members of this one, never
//! built), each with one problem planted, and one with none.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the check on a workspace: its exit code and what it printed.
fn check(manifest: &Path) -> (Option<i32>, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_check-structure"))
        .arg("--manifest-path")
        .arg(manifest)
        .output()
        .expect("the check runs");
    let stdout = String::from_utf8(output.stdout).expect("the report is UTF-8");
    let stderr = String::from_utf8(output.stderr).expect("errors are UTF-8");
    (output.status.code(), format!("{stdout}{stderr}"))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .join("Cargo.toml")
}

/// Runs the check on a fixture and asserts it fails saying each of `says`.
fn fails_saying(name: &str, says: &[&str]) -> String {
    let (code, report) = check(&fixture(name));
    assert_eq!(code, Some(1), "the check fails on {name}:\n{report}");
    for line in says {
        assert!(
            report.contains(line),
            "the report on {name} says {line:?}:\n{report}"
        );
    }
    assert!(
        !report.contains("no forbidden import"),
        "the report on {name} does not claim success:\n{report}"
    );
    report
}

#[test]
fn a_clean_workspace_passes() {
    let (code, report) = check(&fixture("clean"));
    assert_eq!(code, Some(0), "{report}");
    assert!(
        report.contains(
            "structure: 5 crates, 12 modules: crates depend one way; no module cycle, no forbidden import"
        ),
        "{report}"
    );
}

#[test]
fn a_cycle_made_through_grouped_imports_fails() {
    fails_saying(
        "cycle-grouped",
        &[
            "slipway-gateway: 2 modules import each other in a cycle: gateway::proxy, gateway::server",
            "a cycle: gateway::proxy -> gateway::server -> gateway::proxy",
            // `use super::{metrics::Metrics, server::{self, Shared}}`
            "crates/gateway/src/gateway/proxy.rs:3: use `super::server`",
            "crates/gateway/src/gateway/proxy.rs:3: use `super::server::Shared`",
            // `use super::{metrics::Metrics, proxy}`
            "crates/gateway/src/gateway/server.rs:2: use `super::proxy`",
            "1 module cycle",
        ],
    );
}

#[test]
fn a_cycle_made_through_re_exports_fails() {
    fails_saying(
        "cycle-reexport",
        &[
            "slipway-core: 2 modules import each other in a cycle: money, refusal",
            // `use crate::Money;` where the root `pub use money::Money;`
            "crates/core/src/refusal.rs:2: use `crate::Money`, re-exported by slipway_core from `money::Money` (crates/core/src/lib.rs:4)",
            // `crate::ValidationError` in code, where the root `pub use refusal::*;`
            "crates/core/src/money.rs:6: path in code `crate::ValidationError`, re-exported by slipway_core from `refusal::*` (crates/core/src/lib.rs:5)",
        ],
    );
}

#[test]
fn a_transport_in_the_service_fails() {
    let report = fails_saying(
        "transport-in-service",
        &[
            "slipway-service depends on a transport, axum (crates/service/Cargo.toml)",
            "slipway-service depends on a transport, http (crates/service/Cargo.toml)",
            "slipway-service imports a transport",
            "crates/service/src/error.rs:1: use `axum::Json`",
            "crates/service/src/error.rs:1: use `axum::response::IntoResponse`",
            "crates/service/src/error.rs:7: path in code `http::StatusCode`",
        ],
    );
    // The core's own types are the service's to use.
    assert!(!report.contains("slipway_core::ClusterName"), "{report}");
}

#[test]
fn a_store_in_a_transport_fails() {
    let report = fails_saying(
        "store-in-transport",
        &[
            // Through the service's re-export of the store's type.
            "slipway-web imports the store (slipway-store) in 1 place",
            "crates/web/src/lib.rs:2: use `slipway_service::views::AuditQuery` (defined in slipway-store, re-exported by slipway_service::views from `slipway_store::AuditQuery` (crates/service/src/views.rs:2)",
            // Named in the server's REST transport.
            "slipway-server imports the store (slipway-store) in 1 place",
            "crates/server/src/http/state.rs:3: path in code `slipway_store::RunCredential`",
        ],
    );
    // Start-up composes the store: it may.
    assert!(!report.contains("startup.rs"), "{report}");
}

#[test]
fn the_service_on_the_worker_and_a_crate_out_of_its_layer_fail() {
    fails_saying(
        "service-on-worker",
        &[
            "slipway-files (layer 1) depends on slipway-store (layer 2): upward or sideways",
            "slipway-service depends on the worker, slipway-worker (crates/service/Cargo.toml)",
            "crates/service/src/lib.rs:1: use `slipway_worker::secrets::Sealer`",
        ],
    );
}

#[test]
fn the_workspace_itself_is_read_whole() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml");
    let (code, report) = check(&manifest);
    // Every file of every crate parses and every module is found (2 would
    // say otherwise); whether its rules hold is the check's answer.
    assert!(matches!(code, Some(0 | 1)), "{report}");
    assert!(
        report
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("structure: ")),
        "{report}"
    );
}
