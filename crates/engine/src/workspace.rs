//! Working directories: a module's, laid out and initialized once for every
//! run of it (under a lock, across processes too), and a run's own, removed
//! when the run ends unless it holds a state Terraform could not save.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::error::EngineError;
use crate::module::ModuleInfo;
use crate::run::{StateBackend, TerraformRun};

/// A run's paths.
pub(crate) struct Workspace {
    /// The module, laid out and initialized once for every run of it.
    pub(crate) module: PathBuf,
    /// Terraform's data directory, shared like the module.
    pub(crate) data_dir: PathBuf,
    /// What the module directory was last initialized for.
    pub(crate) init_marker: PathBuf,
    /// This run's own working directory: a copy of the module and its
    /// variables. If Terraform cannot save the state it leaves
    /// `errored.tfstate` here, for `Engine::unsaved_states` to find.
    pub(crate) run_dir: PathBuf,
    pub(crate) var_file: PathBuf,
}

impl Workspace {
    /// The run's paths: the module's shared directory, and the run's own.
    pub(crate) fn of(work_root: &Path, run: &TerraformRun) -> Self {
        let dir = work_root.join("modules").join(&run.module_key);
        let run_dir = work_root.join("runs").join(&run.run_id);
        Self {
            module: dir.join("module"),
            data_dir: dir.join(".terraform"),
            init_marker: dir.join(".slipway-init"),
            var_file: run_dir.join("slipway.tfvars.json"),
            run_dir,
        }
    }
}

/// The file Terraform writes the state to when it cannot save it.
pub(crate) const ERRORED_STATE: &str = "errored.tfstate";

/// Removes a run's working directory when the run ends, however it ends —
/// but not while it holds a state Terraform could not save.
pub(crate) struct RunDir(PathBuf);

impl Drop for RunDir {
    fn drop(&mut self) {
        if !self.0.join(ERRORED_STATE).exists() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// What a run's `apply` (or `apply -destroy`) writes its output to.
pub(crate) const APPLY: &str = "apply";

/// The run's working directory: the prepared module (files, backend,
/// dependency lock) and the run's variables — those the module declares,
/// sensitive ones excepted (they travel in the environment).
pub(crate) fn lay_out_run(
    run: &TerraformRun,
    info: &ModuleInfo,
    ws: &Workspace,
) -> Result<RunDir, EngineError> {
    let _ = std::fs::remove_dir_all(&ws.run_dir);
    std::fs::create_dir_all(&ws.run_dir).map_err(|e| EngineError::io(&ws.run_dir, e))?;
    let guard = RunDir(ws.run_dir.clone());
    copy_tree(&ws.module, &ws.run_dir)?;
    let file_variables: Map<String, Value> = run
        .variables
        .iter()
        .filter(|(name, _)| {
            info.variables.contains(*name) && !run.sensitive_variables.contains(*name)
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    // Private, but not synced: the run's directory is new and goes with
    // the run, so there is no older content to protect and nothing to
    // keep after a crash (the executor writes it again for a new run).
    slipway_files::write_new_private(
        &ws.var_file,
        Value::Object(file_variables).to_string().as_bytes(),
    )
    .map_err(|e| EngineError::io(&ws.var_file, e))?;
    Ok(guard)
}

/// Lays the module out in its working directory with Slipway's backend,
/// replacing whatever was there but the dependency lock file `init` wrote.
pub(crate) fn lay_out(run: &TerraformRun, ws: &Workspace) -> Result<(), EngineError> {
    std::fs::create_dir_all(&ws.module).map_err(|e| EngineError::io(&ws.module, e))?;
    for entry in std::fs::read_dir(&ws.module).map_err(|e| EngineError::io(&ws.module, e))? {
        let entry = entry.map_err(|e| EngineError::io(&ws.module, e))?;
        if entry.file_name() == ".terraform.lock.hcl" {
            continue;
        }
        let path = entry.path();
        let removed = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        removed.map_err(|e| EngineError::io(&path, e))?;
    }
    for (relative, content) in &run.module {
        let path = safe_join(&ws.module, relative)?;
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| EngineError::io(parent, e))?;
        }
        std::fs::write(&path, content).map_err(|e| EngineError::io(&path, e))?;
    }
    let backend_file = ws.module.join("zz_slipway_backend.tf.json");
    std::fs::write(&backend_file, backend_config(&run.backend).to_string())
        .map_err(|e| EngineError::io(&backend_file, e))
}

/// Slipway's backend, as a JSON configuration file in the module.
pub(crate) fn backend_config(backend: &StateBackend) -> Value {
    // Terraform retries a state request that fails to connect or gets a 5xx
    // about half a minute in all, so a replica restarting or the database
    // failing over does not cost the state of a run.
    json!({"terraform": {"backend": {"http": {
        "address": backend.address,
        "lock_address": backend.lock_address,
        "unlock_address": backend.unlock_address,
        "lock_method": "LOCK",
        "unlock_method": "UNLOCK",
        "retry_max": 8,
        "retry_wait_min": 1,
        "retry_wait_max": 5,
    }}}})
}

/// Holds an advisory lock on `path` (created if needed) until dropped, so
/// processes sharing the working directories prepare each one once.
pub(crate) async fn lock_file(path: &Path) -> Result<std::fs::File, EngineError> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| EngineError::io(dir, e))?;
    }
    let file = std::fs::File::create(path).map_err(|e| EngineError::io(path, e))?;
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || file.lock().map(|()| file))
        .await
        .expect("the lock task does not panic")
        .map_err(|e| EngineError::io(&path, e))
}

/// Copies a directory's files (not Terraform's data directory) into another.
fn copy_tree(from: &Path, to: &Path) -> Result<(), EngineError> {
    for entry in std::fs::read_dir(from).map_err(|e| EngineError::io(from, e))? {
        let entry = entry.map_err(|e| EngineError::io(from, e))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        if source.is_dir() {
            std::fs::create_dir_all(&target).map_err(|e| EngineError::io(&target, e))?;
            copy_tree(&source, &target)?;
        } else {
            std::fs::copy(&source, &target).map_err(|e| EngineError::io(&source, e))?;
        }
    }
    Ok(())
}

/// Joins a module-relative path, refusing anything that would leave the module.
pub(crate) fn safe_join(root: &Path, relative: &str) -> Result<PathBuf, EngineError> {
    let path = Path::new(relative);
    let clean = !relative.is_empty()
        && path
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !clean {
        return Err(EngineError::InvalidModule {
            file: relative.to_owned(),
            reason: "module file paths must be relative and stay inside the module".into(),
        });
    }
    Ok(root.join(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_paths_stay_inside_the_module() {
        let root = Path::new("/w/module");
        assert_eq!(safe_join(root, "main.tf").unwrap(), root.join("main.tf"));
        assert_eq!(
            safe_join(root, "modules/a/main.tf").unwrap(),
            root.join("modules/a/main.tf")
        );
        for bad in ["", "../x.tf", "/etc/passwd", "a/../../b", "./x"] {
            assert!(safe_join(root, bad).is_err(), "{bad}");
        }
    }
}
