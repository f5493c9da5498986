//! Everything in Slipway that knows Terraform.
//!
//! An [`Engine`] runs [`TerraformRun`]s (and, in [`job`], the steps of a
//! TEST or RELEASE job). Terraform's state lives with Slipway (the
//! HTTP backend), so working directories hold nothing that matters: one per
//! blueprint version, laid out and initialized once and then shared by every
//! run of that version, with each run's variables in a file of its own.
//! A run is `apply` (or `apply -destroy`) with `-json`, every line turned
//! into an operation event with progress, secrets masked on the way; an
//! observation (`plan -detailed-exitcode` and `show -json`) tells what
//! Terraform's state really holds, for recovery.

pub mod catalog;
pub mod events;
pub mod job;
pub mod masking;
pub mod module;
mod process;
pub mod terraform;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use slipway_core::TerraformCommand;
use slipway_core::event::{EventLevel, NewEvent, kinds};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::events::{
    ApplyEnding, Progress, TerraformMessage, masked_outputs, parse_line, to_event,
};
use crate::masking::Masker;
use crate::module::ModuleInfo;
use crate::process::{Control, Interrupt, Stopped, Stream};
pub use crate::terraform::{Terraform, TerraformSource};

/// What can go wrong running Terraform.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Terraform at {path} cannot be used: {reason}")]
    TerraformUnusable { path: PathBuf, reason: String },
    #[error("installing Terraform failed: {0}")]
    Install(String),
    #[error("module file {file}: {reason}")]
    InvalidModule { file: String, reason: String },
    #[error("terraform {command} failed: {message}")]
    Terraform { command: String, message: String },
    #[error("cancelled")]
    Cancelled,
    #[error("the time limit of {} was reached", slipway_core::duration::format_duration(*.0))]
    TimedOut(Duration),
}

impl EngineError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        EngineError::Io {
            path: path.to_owned(),
            source,
        }
    }
}

/// The variables Slipway offers every module; a module receives those it
/// declares.
pub const STANDARD_VARIABLES: &[&str] = &[
    "cluster_name",
    "organization",
    "is_public",
    "node_count",
    "min_nodes",
    "max_nodes",
    "version",
    "tags",
    "jwt_issuer",
    "jwks_url",
    "revocations_url",
    "runtime_dir",
];

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where working directories (one per blueprint version) and run files
    /// live. Disposable: losing it loses nothing.
    pub work_root: PathBuf,
    /// Environment variables passed through to Terraform besides the basic
    /// ones (`PATH`, `HOME`, …): exact names, or prefixes ending in `*`.
    pub env_passthrough: Vec<String>,
    /// How long Terraform may take to stop after SIGINT before it is killed.
    pub cancel_grace: Duration,
    /// How long to wait for a state lock another run holds.
    pub lock_timeout: Duration,
}

/// Where Terraform keeps the state: Slipway's HTTP backend. The addresses
/// are the same for every run; the run's credentials, passed in the
/// environment (`TF_HTTP_USERNAME`, and `TF_HTTP_PASSWORD` among the job's
/// secrets), say whose state it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateBackend {
    pub address: String,
    pub lock_address: String,
    pub unlock_address: String,
    /// The run's name at the backend (its operation id): not a secret, so
    /// not masked in its log.
    pub username: String,
}

/// One Terraform run.
#[derive(Debug, Clone)]
pub struct TerraformRun {
    /// Names the run's own files (an operation id).
    pub run_id: String,
    /// Names the working directory: the same for every run of one module
    /// (e.g. blueprint, version and digest).
    pub module_key: String,
    pub command: TerraformCommand,
    /// The module's files, by path relative to its root.
    pub module: BTreeMap<String, String>,
    /// Every value Slipway offers: standard and user variables. Only those
    /// the module declares are passed.
    pub variables: Map<String, Value>,
    /// Variables passed through the environment, never in a file, and masked.
    pub sensitive_variables: BTreeSet<String>,
    /// Extra environment for Terraform (e.g. backend credentials); every value
    /// is treated as a secret.
    pub secret_env: Vec<(String, String)>,
    /// Extra environment for Terraform that is no secret and belongs to the
    /// process running it, not to the cluster (e.g. `SLIPWAY_BIN`, the
    /// executable provisioners call): never a variable, so never in the
    /// state, and a destroy uses the running process's own.
    pub env: Vec<(String, String)>,
    pub backend: StateBackend,
    pub time_limit: Duration,
}

/// What a run found out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunReport {
    /// The module's outputs, sensitive ones masked.
    pub outputs: Map<String, Value>,
    /// For [`TerraformCommand::Observe`]: what the state holds.
    pub observation: Option<Observation>,
}

/// What Terraform's state holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observation {
    /// Managed resource instances in the state.
    pub resources: usize,
    /// The plan is empty: the infrastructure matches the configuration.
    pub converged: bool,
    /// What the plan would change, when it is not empty: each resource
    /// instance's address and the action (`create`, `update`, `replace`,
    /// `delete`, …).
    pub changes: Vec<PlannedChange>,
}

/// One change a plan would make.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlannedChange {
    pub resource: String,
    pub action: String,
}

/// Runs Terraform for Slipway.
pub struct Engine {
    terraform: Terraform,
    config: EngineConfig,
    cli_config: PathBuf,
    /// One lock per working directory, held while it is laid out and
    /// initialized.
    preparing: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

/// A run's paths.
struct Workspace {
    /// The module, laid out and initialized once for every run of it.
    module: PathBuf,
    /// Terraform's data directory, shared like the module.
    data_dir: PathBuf,
    /// What the module directory was last initialized for.
    init_marker: PathBuf,
    /// This run's own working directory: a copy of the module and its
    /// variables. If Terraform cannot save the state it leaves
    /// `errored.tfstate` here, for [`Engine::unsaved_states`] to find.
    run_dir: PathBuf,
    var_file: PathBuf,
}

/// The file Terraform writes the state to when it cannot save it.
const ERRORED_STATE: &str = "errored.tfstate";

/// Removes a run's working directory when the run ends, however it ends —
/// but not while it holds a state Terraform could not save.
struct RunDir(PathBuf);

impl Drop for RunDir {
    fn drop(&mut self) {
        if !self.0.join(ERRORED_STATE).exists() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A run a previous process left behind: its working directory was still
/// there when this process started.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftoverRun {
    /// The run (operation) it belongs to.
    pub run_id: String,
    /// How its apply ended, if it ran one.
    pub apply: Option<ApplyEnding>,
}

/// What a run's `apply` (or `apply -destroy`) writes its output to.
const APPLY: &str = "apply";

/// A state a run could not save, left in its working directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnsavedState {
    /// The run (operation) it belongs to.
    pub run_id: String,
    pub state: Vec<u8>,
}

impl Engine {
    pub fn new(terraform: Terraform, config: EngineConfig) -> Result<Self, EngineError> {
        std::fs::create_dir_all(&config.work_root)
            .map_err(|e| EngineError::io(&config.work_root, e))?;
        // An empty CLI configuration: no plugin cache surprises, no warning.
        let cli_config = config.work_root.join("terraform.rc");
        std::fs::write(&cli_config, "").map_err(|e| EngineError::io(&cli_config, e))?;
        Ok(Self {
            terraform,
            config,
            cli_config,
            preparing: Default::default(),
        })
    }

    pub fn terraform(&self) -> &Terraform {
        &self.terraform
    }

    /// Runs `job`, sending its events to `events` as they happen.
    pub async fn run(
        &self,
        run: &TerraformRun,
        events: &UnboundedSender<NewEvent>,
        cancel: &CancellationToken,
    ) -> Result<RunReport, EngineError> {
        let info = ModuleInfo::inspect(&run.module)?;
        if let Some(backend) = &info.backend {
            return Err(EngineError::InvalidModule {
                file: "(module)".into(),
                reason: format!(
                    "declares a {backend:?} backend; Slipway keeps the state, so blueprints must not declare one"
                ),
            });
        }
        let ws = self.workspace(run);
        let masker = Masker::new(
            run.sensitive_variables
                .iter()
                .filter_map(|name| run.variables.get(name))
                .map(variable_text)
                .chain(run.secret_env.iter().map(|(_, v)| v.clone())),
        );
        let env = self.environment(run, &info, &ws);
        let control = Control {
            cancel,
            deadline: Instant::now() + run.time_limit,
            grace: self.config.cancel_grace,
            interrupt: Interrupt::Command,
        };
        let mut runner = Runner {
            engine: self,
            ws: &ws,
            env: &env,
            control: &control,
            masker: &masker,
            events,
            time_limit: run.time_limit,
        };

        {
            // One run lays out and initializes a working directory; the
            // others wait, then find it ready.
            let lock = self
                .preparing
                .lock()
                .expect("preparing lock")
                .entry(run.module_key.clone())
                .or_default()
                .clone();
            let _in_process = lock.lock().await;
            let _across_processes = lock_file(&ws.module.with_extension("lock")).await?;
            runner.prepare(run).await?;
        }
        let _run_dir = self.lay_out_run(run, &info, &ws)?;
        let lock_timeout = format!("-lock-timeout={}s", self.config.lock_timeout.as_secs());
        let var_file = format!("-var-file={}", ws.var_file.display());
        match run.command {
            TerraformCommand::Apply | TerraformCommand::Destroy => {
                let mut args = vec![APPLY, "-auto-approve", "-input=false", "-json"];
                if run.command == TerraformCommand::Destroy {
                    args.push("-destroy");
                }
                args.extend([lock_timeout.as_str(), var_file.as_str()]);
                let applied = runner.json(&args).await?;
                applied.check(run.command.name())?;
                Ok(RunReport {
                    outputs: applied.outputs,
                    observation: None,
                })
            }
            TerraformCommand::Observe => {
                let args = [
                    "plan",
                    "-detailed-exitcode",
                    "-input=false",
                    "-json",
                    lock_timeout.as_str(),
                    var_file.as_str(),
                ];
                let plan = runner.json(&args).await?;
                let changes = plan.planned.clone();
                let converged = match plan.exit_code {
                    Some(0) => true,
                    Some(2) => false,
                    _ => return Err(plan.failure("plan")),
                };
                let (resources, outputs) = runner.show_state().await?;
                Ok(RunReport {
                    outputs,
                    observation: Some(Observation {
                        resources,
                        converged,
                        changes,
                    }),
                })
            }
        }
    }

    /// The run's paths: the module's shared directory, and the run's own.
    fn workspace(&self, run: &TerraformRun) -> Workspace {
        let dir = self.config.work_root.join("modules").join(&run.module_key);
        let run_dir = self.config.work_root.join("runs").join(&run.run_id);
        Workspace {
            module: dir.join("module"),
            data_dir: dir.join(".terraform"),
            init_marker: dir.join(".slipway-init"),
            var_file: run_dir.join("slipway.tfvars.json"),
            run_dir,
        }
    }

    /// The run's working directory: the prepared module (files, backend,
    /// dependency lock) and the run's variables — those the module declares,
    /// sensitive ones excepted (they travel in the environment).
    fn lay_out_run(
        &self,
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
        write_new_private(
            &ws.var_file,
            Value::Object(file_variables).to_string().as_bytes(),
        )
        .map_err(|e| EngineError::io(&ws.var_file, e))?;
        Ok(guard)
    }

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

    /// Runs a TEST or RELEASE run on the process runner: in a fresh
    /// directory of its own (`<work>/jobs/<run>`), removed afterwards with
    /// every process still working in it. Steps get [`STEP_GRACE`] to stop
    /// after SIGINT.
    pub async fn run_job(
        &self,
        run_id: &str,
        run: &job::JobRun,
        token: &str,
        events: &UnboundedSender<NewEvent>,
        cancel: &CancellationToken,
    ) -> Result<job::JobReport, EngineError> {
        let dir = self.config.work_root.join("jobs").join(run_id);
        let report = job::execute(&dir, run, token, cancel, STEP_GRACE, &mut |event| {
            let _ = events.send(job_event(&event));
        })
        .await;
        job::remove_run_dir(&dir)?;
        Ok(report)
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

    /// Lays the module out in its working directory with Slipway's backend,
    /// replacing whatever was there but the dependency lock file `init` wrote.
    fn lay_out(&self, run: &TerraformRun, ws: &Workspace) -> Result<(), EngineError> {
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

    /// A clean environment: the basics, the configured pass-through, the
    /// automation settings, sensitive variables and the job's secrets.
    fn environment(
        &self,
        run: &TerraformRun,
        info: &ModuleInfo,
        ws: &Workspace,
    ) -> Vec<(String, String)> {
        const BASICS: &[&str] = &[
            "PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR",
        ];
        let passes = |name: &str| {
            BASICS.contains(&name)
                || self
                    .config
                    .env_passthrough
                    .iter()
                    .any(|p| match p.strip_suffix('*') {
                        Some(prefix) => name.starts_with(prefix),
                        None => name == p,
                    })
        };
        let mut env: Vec<(String, String)> = std::env::vars().filter(|(k, _)| passes(k)).collect();
        env.extend(
            [
                ("TF_IN_AUTOMATION", "1".to_owned()),
                ("TF_INPUT", "0".to_owned()),
                ("CHECKPOINT_DISABLE", "1".to_owned()),
                ("TF_DATA_DIR", ws.data_dir.display().to_string()),
                ("TF_CLI_CONFIG_FILE", self.cli_config.display().to_string()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
        for name in &run.sensitive_variables {
            if let Some(value) = run.variables.get(name)
                && info.variables.contains(name)
            {
                env.push((format!("TF_VAR_{name}"), variable_text(value)));
            }
        }
        env.push(("TF_HTTP_USERNAME".to_owned(), run.backend.username.clone()));
        env.extend(run.env.iter().cloned());
        env.extend(run.secret_env.iter().cloned());
        env
    }
}

/// How long a job's step may take to stop after SIGINT before its process
/// group is killed.
pub const STEP_GRACE: Duration = Duration::from_secs(10);

/// A job's event as an operation event.
fn job_event(event: &job::JobEvent) -> NewEvent {
    let now = chrono::Utc::now();
    let message = job::describe(event);
    let (kind, level, data) = match event {
        job::JobEvent::Started { step, command } => (
            kinds::STEP_STARTED,
            EventLevel::Info,
            json!({"step": step, "command": command}),
        ),
        job::JobEvent::Output { step, stream, .. } => (
            kinds::STEP_OUTPUT,
            match stream {
                Stream::Stdout => EventLevel::Info,
                Stream::Stderr => EventLevel::Warn,
            },
            json!({"step": step, "stream": match stream { Stream::Stdout => "stdout", Stream::Stderr => "stderr" }}),
        ),
        job::JobEvent::Finished(result) => (
            kinds::STEP_FINISHED,
            if result.outcome == slipway_core::job::StepOutcome::Passed {
                EventLevel::Info
            } else {
                EventLevel::Error
            },
            serde_json::to_value(result).expect("a step result serializes"),
        ),
    };
    NewEvent {
        at: now,
        kind: kind.into(),
        level,
        message,
        data,
    }
}

/// Slipway's backend, as a JSON configuration file in the module.
fn backend_config(backend: &StateBackend) -> Value {
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
async fn lock_file(path: &Path) -> Result<std::fs::File, EngineError> {
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

/// Creates `path` readable by its owner only (`0600`) with `content`.
fn write_new_private(path: &Path, content: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?
        .write_all(content)
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

/// A variable's value as Terraform reads it from the environment.
fn variable_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Joins a module-relative path, refusing anything that would leave the module.
fn safe_join(root: &Path, relative: &str) -> Result<PathBuf, EngineError> {
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

/// One run's commands, sharing its workspace, environment and stop control.
struct Runner<'a> {
    engine: &'a Engine,
    ws: &'a Workspace,
    env: &'a [(String, String)],
    control: &'a Control<'a>,
    masker: &'a Masker,
    events: &'a UnboundedSender<NewEvent>,
    time_limit: Duration,
}

/// What a `-json` command produced.
#[derive(Default)]
struct JsonRun {
    exit_code: Option<i32>,
    errors: Vec<String>,
    stderr_tail: Vec<String>,
    outputs: Map<String, Value>,
    /// The `planned_change` messages of a plan.
    planned: Vec<PlannedChange>,
}

impl JsonRun {
    fn failure(&self, command: &str) -> EngineError {
        let message = if !self.errors.is_empty() {
            self.errors.join("; ")
        } else if !self.stderr_tail.is_empty() {
            self.stderr_tail.join(" | ")
        } else {
            format!(
                "exited with status {}",
                self.exit_code.map_or("?".into(), |c| c.to_string())
            )
        };
        EngineError::Terraform {
            command: command.to_owned(),
            message,
        }
    }

    fn check(&self, command: &str) -> Result<(), EngineError> {
        if self.exit_code == Some(0) {
            Ok(())
        } else {
            Err(self.failure(command))
        }
    }
}

const STDERR_TAIL: usize = 20;

impl Runner<'_> {
    fn emit(&self, kind: &str, level: EventLevel, message: String, data: Value) {
        let _ = self.events.send(NewEvent {
            at: chrono::Utc::now(),
            kind: kind.to_owned(),
            level,
            message: self.masker.mask(&message).into_owned(),
            data: self.masker.mask_value(&data),
        });
    }

    fn announce(&self, args: &[&str]) {
        let command = format!("terraform {}", args.join(" "));
        self.emit(
            kinds::COMMAND,
            EventLevel::Info,
            command,
            json!({"args": args, "terraform": self.engine.terraform.version}),
        );
    }

    fn stop_error(&self, stopped: Stopped) -> EngineError {
        match stopped {
            Stopped::Cancelled => EngineError::Cancelled,
            Stopped::TimedOut => EngineError::TimedOut(self.time_limit),
        }
    }

    /// Lays out and initializes the working directory, unless it was
    /// prepared for exactly this module, backend and Terraform.
    async fn prepare(&mut self, run: &TerraformRun) -> Result<(), EngineError> {
        let mut digest = Sha256::new();
        for (path, content) in &run.module {
            digest.update(path.as_bytes());
            digest.update([0]);
            digest.update(content.as_bytes());
            digest.update([0]);
        }
        digest.update(backend_config(&run.backend).to_string());
        digest.update(&self.engine.terraform.version);
        let digest = hex::encode(digest.finalize());
        let initialized = std::fs::read_to_string(&self.ws.init_marker).is_ok_and(|d| d == digest)
            && self.ws.data_dir.is_dir();
        if initialized {
            return Ok(());
        }
        self.engine.lay_out(run, self.ws)?;
        let args = ["init", "-input=false", "-no-color", "-reconfigure"];
        self.announce(&args);
        let mut tail = Vec::new();
        let exit = process::run(
            &self.engine.terraform.path,
            &args.map(str::to_owned),
            &self.ws.module,
            self.env,
            &process::Outputs::new(self.ws.module.parent().expect("a module directory"), "init"),
            self.control,
            &mut |stream, line| {
                let line = self.masker.mask(&line).into_owned();
                if line.trim().is_empty() {
                    return;
                }
                tail.push(line.clone());
                if tail.len() > STDERR_TAIL {
                    tail.remove(0);
                }
                let (kind, level) = match stream {
                    Stream::Stdout => ("terraform_init", EventLevel::Debug),
                    Stream::Stderr => (kinds::STDERR, EventLevel::Warn),
                };
                self.emit(kind, level, line, Value::Null);
            },
        )
        .await?;
        if let Some(stopped) = exit.stopped {
            return Err(self.stop_error(stopped));
        }
        if !exit.status.success() {
            return Err(EngineError::Terraform {
                command: "init".into(),
                message: tail.join(" | "),
            });
        }
        std::fs::write(&self.ws.init_marker, digest)
            .map_err(|e| EngineError::io(&self.ws.init_marker, e))
    }

    /// Runs a `-json` command, streaming its messages as events.
    async fn json(&mut self, args: &[&str]) -> Result<JsonRun, EngineError> {
        self.announce(args);
        let mut run = JsonRun::default();
        let mut progress = Progress::default();
        let exit = process::run(
            &self.engine.terraform.path,
            &args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>(),
            &self.ws.run_dir,
            self.env,
            &process::Outputs::new(&self.ws.run_dir, args[0]),
            self.control,
            &mut |stream, line| match (stream, parse_line(&line)) {
                (Stream::Stdout, Some(parsed)) => {
                    match &parsed.body {
                        TerraformMessage::Diagnostic {
                            severity,
                            summary,
                            detail,
                            ..
                        } if severity == "error" => {
                            let text = if detail.is_empty() {
                                summary.clone()
                            } else {
                                format!("{summary}: {detail}")
                            };
                            run.errors.push(self.masker.mask(&text).into_owned());
                        }
                        TerraformMessage::Outputs { outputs } => {
                            run.outputs = masked_outputs(outputs, self.masker);
                        }
                        TerraformMessage::PlannedChange { resource, action } => {
                            run.planned.push(PlannedChange {
                                resource: self.masker.mask(resource).into_owned(),
                                action: action.clone(),
                            });
                        }
                        _ => {}
                    }
                    let with_progress = progress.observe(&parsed.body).then_some(&progress);
                    let _ = self
                        .events
                        .send(to_event(&parsed, with_progress, self.masker));
                }
                (Stream::Stdout, None) => {
                    if !line.trim().is_empty() {
                        self.emit("log", EventLevel::Info, line, Value::Null);
                    }
                }
                (Stream::Stderr, _) => {
                    if line.trim().is_empty() {
                        return;
                    }
                    let line = self.masker.mask(&line).into_owned();
                    run.stderr_tail.push(line.clone());
                    if run.stderr_tail.len() > STDERR_TAIL {
                        run.stderr_tail.remove(0);
                    }
                    self.emit(kinds::STDERR, EventLevel::Warn, line, Value::Null);
                }
            },
        )
        .await?;
        if let Some(stopped) = exit.stopped {
            return Err(self.stop_error(stopped));
        }
        run.exit_code = exit.status.code();
        Ok(run)
    }

    /// `show -json`: the managed resource instances in the state, and its
    /// outputs (sensitive ones masked).
    async fn show_state(&mut self) -> Result<(usize, Map<String, Value>), EngineError> {
        let args = ["show", "-json", "-no-color"];
        self.announce(&args);
        let mut stdout = String::new();
        let mut stderr = Vec::new();
        let exit = process::run(
            &self.engine.terraform.path,
            &args.map(str::to_owned),
            &self.ws.run_dir,
            self.env,
            &process::Outputs::new(&self.ws.run_dir, "show"),
            self.control,
            &mut |stream, line| match stream {
                Stream::Stdout => stdout.push_str(&line),
                Stream::Stderr => stderr.push(self.masker.mask(&line).into_owned()),
            },
        )
        .await?;
        if let Some(stopped) = exit.stopped {
            return Err(self.stop_error(stopped));
        }
        if !exit.status.success() {
            return Err(EngineError::Terraform {
                command: "show".into(),
                message: stderr.join(" | "),
            });
        }
        let state: Value = serde_json::from_str(&stdout).map_err(|e| EngineError::Terraform {
            command: "show".into(),
            message: format!("unreadable JSON: {e}"),
        })?;
        let resources = state
            .pointer("/values/root_module")
            .map_or(0, count_managed_resources);
        let outputs = state
            .pointer("/values/outputs")
            .and_then(Value::as_object)
            .map(|outputs| {
                let typed = outputs
                    .iter()
                    .map(|(name, o)| {
                        (
                            name.clone(),
                            events::OutputValue {
                                sensitive: o
                                    .get("sensitive")
                                    .and_then(Value::as_bool)
                                    .unwrap_or(false),
                                value: o.get("value").cloned().unwrap_or(Value::Null),
                            },
                        )
                    })
                    .collect();
                masked_outputs(&typed, self.masker)
            })
            .unwrap_or_default();
        Ok((resources, outputs))
    }
}

/// Managed resource instances in a `show -json` module, child modules included.
fn count_managed_resources(module: &Value) -> usize {
    let own = module
        .get("resources")
        .and_then(Value::as_array)
        .map_or(0, |rs| {
            rs.iter()
                .filter(|r| r.get("mode").and_then(Value::as_str) == Some("managed"))
                .count()
        });
    let children: usize = module
        .get("child_modules")
        .and_then(Value::as_array)
        .map_or(0, |cs| cs.iter().map(count_managed_resources).sum());
    own + children
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

    #[test]
    fn counts_managed_resources_in_nested_modules() {
        let state = json!({
            "resources": [{"mode": "managed"}, {"mode": "data"}],
            "child_modules": [{"resources": [{"mode": "managed"}, {"mode": "managed"}]}]
        });
        assert_eq!(count_managed_resources(&state), 3);
        assert_eq!(count_managed_resources(&json!({})), 0);
    }
}
