//! What a previous process left behind when it died: Terraform commands
//! still saving their state, states no one could save, runs' working
//! directories (and how their apply ended), and TEST/RELEASE directories.
//! Recovery reads them at start-up, before this process runs anything.

use crate::engine::Engine;
use crate::events::ApplyEnding;
use crate::job;
use crate::process;
use crate::workspace::{APPLY, ERRORED_STATE};

/// A run a previous process left behind: its working directory was still
/// there when this process started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftoverRun {
    /// The run (operation) it belongs to.
    pub run_id: String,
    /// How its apply ended, if it ran one.
    pub apply: Option<ApplyEnding>,
}

/// A state a run could not save, left in its working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsavedState {
    /// The run (operation) it belongs to.
    pub run_id: String,
    pub state: Vec<u8>,
}

impl Engine {
    /// States that runs could not save (Terraform wrote them to
    /// `errored.tfstate` because the backend was unreachable — the process
    /// serving it had died). Recovery saves them, then calls
    /// [`Engine::forget_run`].
    pub fn unsaved_states(&self) -> Vec<UnsavedState> {
        let runs = self.config.work_root.join("runs");
        let Ok(entries) = std::fs::read_dir(&runs) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter_map(|entry| {
                let state = std::fs::read(entry.path().join(ERRORED_STATE)).ok()?;
                Some(UnsavedState {
                    run_id: entry.file_name().to_string_lossy().into_owned(),
                    state,
                })
            })
            .collect()
    }

    /// Waits for the Terraform commands a previous process left running (it
    /// died; they got SIGINT and are saving their state), stopping them
    /// after the grace period. Call before looking for unsaved states.
    pub async fn settle_orphans(&self) {
        let mut pid_files = Vec::new();
        for dir in ["runs", "modules"] {
            let Ok(entries) = std::fs::read_dir(self.config.work_root.join(dir)) else {
                continue;
            };
            for entry in entries.filter_map(Result::ok) {
                let Ok(files) = std::fs::read_dir(entry.path()) else {
                    continue;
                };
                pid_files.extend(
                    files
                        .filter_map(Result::ok)
                        .map(|f| f.path())
                        .filter(|p| p.extension().is_some_and(|e| e == "pid")),
                );
            }
        }
        for pid_file in pid_files {
            process::settle_orphan(&pid_file, &self.terraform.path, self.config.cancel_grace).await;
        }
    }

    /// The runs a previous process left behind, read once: how each one's
    /// apply ended. Call after [`Engine::settle_orphans`], so that their
    /// Terraform has ended, and before this process runs anything. Their
    /// directories go, but for a state still to save
    /// ([`Engine::unsaved_states`]).
    pub fn take_leftover_runs(&self) -> Vec<LeftoverRun> {
        let Ok(entries) = std::fs::read_dir(self.config.work_root.join("runs")) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .map(|entry| {
                let dir = entry.path();
                let apply = process::Outputs::new(&dir, APPLY);
                let ending = std::fs::read_to_string(apply.stdout_file())
                    .ok()
                    .map(|output| ApplyEnding::of(&output));
                if dir.join(ERRORED_STATE).exists() {
                    apply.remove();
                } else {
                    let _ = std::fs::remove_dir_all(&dir);
                }
                LeftoverRun {
                    run_id: entry.file_name().to_string_lossy().into_owned(),
                    apply: ending,
                }
            })
            .collect()
    }

    /// Removes what a run left behind.
    pub fn forget_run(&self, run_id: &str) {
        let _ = std::fs::remove_dir_all(self.config.work_root.join("runs").join(run_id));
    }

    /// Removes the run directories a previous Slipway process left (it
    /// died mid-run), and every process still working in them.
    pub fn remove_leftover_job_dirs(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.config.work_root.join("jobs")) else {
            return Vec::new();
        };
        entries
            .filter_map(Result::ok)
            .filter(|entry| job::remove_run_dir(&entry.path()).is_ok())
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect()
    }
}
