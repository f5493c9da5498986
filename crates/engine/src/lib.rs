//! Everything in Slipway that knows Terraform.
//!
//! An [`Engine`] runs one [`Job`] at a time per workspace: it lays the module
//! out in the workspace's working directory, writes the variables, runs
//! `init` when the module or backend changed, then `apply` (or `apply
//! -destroy`) with `-json`, turning every line into an operation event with
//! progress, masking secrets on the way. An observation (`plan
//! -detailed-exitcode` and `show -json`) tells what Terraform's state really
//! holds, for recovery.

pub mod catalog;
pub mod events;
pub mod masking;
pub mod module;
mod process;
pub mod terraform;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use slipway_core::event::{EventLevel, NewEvent, kinds};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::events::{Progress, TerraformMessage, masked_outputs, parse_line, to_event};
use crate::masking::Masker;
use crate::module::ModuleInfo;
use crate::process::{Control, Stopped, Stream};
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
    "runtime_dir",
    "slipway_bin",
];

/// How the engine is set up.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Where workspaces (one working directory per cluster) live.
    pub work_root: PathBuf,
    /// Environment variables passed through to Terraform besides the basic
    /// ones (`PATH`, `HOME`, …): exact names, or prefixes ending in `*`.
    pub env_passthrough: Vec<String>,
    /// How long Terraform may take to stop after SIGINT before it is killed.
    pub cancel_grace: Duration,
    /// How long to wait for a state lock another run holds.
    pub lock_timeout: Duration,
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// `apply`: create or update the infrastructure.
    Apply,
    /// `apply -destroy`.
    Destroy,
    /// `plan -detailed-exitcode` and `show -json`: what does the state hold,
    /// and does it match the configuration?
    Observe,
}

impl Action {
    fn name(self) -> &'static str {
        match self {
            Action::Apply => "apply",
            Action::Destroy => "destroy",
            Action::Observe => "plan",
        }
    }
}

/// Where Terraform keeps the workspace's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A state file in the workspace, beside the module.
    Local,
    /// Terraform's HTTP backend (credentials travel in the job's environment).
    Http {
        address: String,
        lock_address: String,
        unlock_address: String,
    },
}

/// One Terraform run.
#[derive(Debug, Clone)]
pub struct Job {
    /// The workspace's name (a cluster's name): its working directory.
    pub workspace: String,
    pub action: Action,
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
    pub backend: Backend,
    pub time_limit: Duration,
}

/// What a run found out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunReport {
    /// The module's outputs, sensitive ones masked.
    pub outputs: Map<String, Value>,
    /// For [`Action::Observe`]: what the state holds.
    pub observation: Option<Observation>,
}

/// What Terraform's state holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Observation {
    /// Managed resource instances in the state.
    pub resources: usize,
    /// The plan is empty: the infrastructure matches the configuration.
    pub converged: bool,
}

/// Runs Terraform for Slipway.
pub struct Engine {
    terraform: Terraform,
    config: EngineConfig,
    cli_config: PathBuf,
}

/// A workspace's paths.
struct Workspace {
    dir: PathBuf,
    module: PathBuf,
    var_file: PathBuf,
    data_dir: PathBuf,
    init_marker: PathBuf,
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
        })
    }

    pub fn terraform(&self) -> &Terraform {
        &self.terraform
    }

    /// The working directory of a workspace.
    pub fn workspace_dir(&self, workspace: &str) -> PathBuf {
        self.config.work_root.join(workspace)
    }

    /// Runs `job`, sending its events to `events` as they happen.
    pub async fn run(
        &self,
        job: &Job,
        events: &UnboundedSender<NewEvent>,
        cancel: &CancellationToken,
    ) -> Result<RunReport, EngineError> {
        let info = ModuleInfo::inspect(&job.module)?;
        if let Some(backend) = &info.backend {
            return Err(EngineError::InvalidModule {
                file: "(module)".into(),
                reason: format!(
                    "declares a {backend:?} backend; Slipway keeps the state, so blueprints must not declare one"
                ),
            });
        }
        let ws = self.prepare(job, &info)?;
        let masker = Masker::new(
            job.sensitive_variables
                .iter()
                .filter_map(|name| job.variables.get(name))
                .map(variable_text)
                .chain(job.secret_env.iter().map(|(_, v)| v.clone())),
        );
        let env = self.environment(job, &info, &ws);
        let control = Control {
            cancel,
            deadline: Instant::now() + job.time_limit,
            grace: self.config.cancel_grace,
        };
        let mut runner = Runner {
            engine: self,
            ws: &ws,
            env: &env,
            control: &control,
            masker: &masker,
            events,
            time_limit: job.time_limit,
        };

        runner.init_if_needed(job).await?;
        let lock_timeout = format!("-lock-timeout={}s", self.config.lock_timeout.as_secs());
        let var_file = format!("-var-file={}", ws.var_file.display());
        match job.action {
            Action::Apply | Action::Destroy => {
                let mut args = vec!["apply", "-auto-approve", "-input=false", "-json"];
                if job.action == Action::Destroy {
                    args.push("-destroy");
                }
                args.extend([lock_timeout.as_str(), var_file.as_str()]);
                let run = runner.json(&args).await?;
                run.check(job.action.name())?;
                Ok(RunReport {
                    outputs: run.outputs,
                    observation: None,
                })
            }
            Action::Observe => {
                let args = [
                    "plan",
                    "-detailed-exitcode",
                    "-input=false",
                    "-json",
                    lock_timeout.as_str(),
                    var_file.as_str(),
                ];
                let plan = runner.json(&args).await?;
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
                    }),
                })
            }
        }
    }

    /// Lays the module out in the workspace, with Slipway's backend and the
    /// variable file. Terraform's data directory and state stay where they are.
    fn prepare(&self, job: &Job, info: &ModuleInfo) -> Result<Workspace, EngineError> {
        let dir = self.workspace_dir(&job.workspace);
        let ws = Workspace {
            module: dir.join("module"),
            var_file: dir.join("slipway.tfvars.json"),
            data_dir: dir.join(".terraform"),
            init_marker: dir.join(".slipway-init"),
            dir,
        };
        std::fs::create_dir_all(&ws.module).map_err(|e| EngineError::io(&ws.module, e))?;
        // Replace the module's files, keeping only the dependency lock file
        // `init` wrote, so a module version never sees another's files.
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
        for (relative, content) in &job.module {
            let path = safe_join(&ws.module, relative)?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| EngineError::io(parent, e))?;
            }
            std::fs::write(&path, content).map_err(|e| EngineError::io(&path, e))?;
        }
        let backend = self.backend_config(&ws, &job.backend);
        let backend_file = ws.module.join("zz_slipway_backend.tf.json");
        std::fs::write(&backend_file, backend.to_string())
            .map_err(|e| EngineError::io(&backend_file, e))?;

        let file_variables: Map<String, Value> = job
            .variables
            .iter()
            .filter(|(name, _)| {
                info.variables.contains(*name) && !job.sensitive_variables.contains(*name)
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        write_private(&ws.var_file, &Value::Object(file_variables).to_string())?;
        Ok(ws)
    }

    fn backend_config(&self, ws: &Workspace, backend: &Backend) -> Value {
        match backend {
            Backend::Local => json!({"terraform": {"backend": {"local": {
                "path": ws.dir.join("terraform.tfstate").display().to_string(),
            }}}}),
            Backend::Http {
                address,
                lock_address,
                unlock_address,
            } => json!({"terraform": {"backend": {"http": {
                "address": address,
                "lock_address": lock_address,
                "unlock_address": unlock_address,
                "lock_method": "LOCK",
                "unlock_method": "UNLOCK",
            }}}}),
        }
    }

    /// A clean environment: the basics, the configured pass-through, the
    /// automation settings, sensitive variables and the job's secrets.
    fn environment(&self, job: &Job, info: &ModuleInfo, ws: &Workspace) -> Vec<(String, String)> {
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
        for name in &job.sensitive_variables {
            if let Some(value) = job.variables.get(name)
                && info.variables.contains(name)
            {
                env.push((format!("TF_VAR_{name}"), variable_text(value)));
            }
        }
        env.extend(job.secret_env.iter().cloned());
        env
    }
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

fn write_private(path: &Path, content: &str) -> Result<(), EngineError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| EngineError::io(path, e))?;
    file.write_all(content.as_bytes())
        .map_err(|e| EngineError::io(path, e))
}

/// One job's commands, sharing its workspace, environment and stop control.
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

    /// `init`, unless the workspace was initialized for exactly this module
    /// and backend.
    async fn init_if_needed(&mut self, job: &Job) -> Result<(), EngineError> {
        let mut digest = Sha256::new();
        for (path, content) in &job.module {
            digest.update(path.as_bytes());
            digest.update([0]);
            digest.update(content.as_bytes());
            digest.update([0]);
        }
        digest.update(
            self.engine
                .backend_config(self.ws, &job.backend)
                .to_string(),
        );
        digest.update(&self.engine.terraform.version);
        let digest = hex::encode(digest.finalize());
        let initialized = std::fs::read_to_string(&self.ws.init_marker).is_ok_and(|d| d == digest)
            && self.ws.data_dir.is_dir();
        if initialized {
            return Ok(());
        }
        let args = ["init", "-input=false", "-no-color", "-reconfigure"];
        self.announce(&args);
        let mut tail = Vec::new();
        let exit = process::run(
            &self.engine.terraform.path,
            &args.map(str::to_owned),
            &self.ws.module,
            self.env,
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
            &self.ws.module,
            self.env,
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
            &self.ws.module,
            self.env,
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
