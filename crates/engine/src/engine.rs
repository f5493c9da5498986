//! The [`Engine`]: how it is set up, and a Terraform run from start to end
//! — preparing the module's working directory once, laying out the run's
//! own, its environment, and the commands (`runner`) of its
//! [`TerraformCommand`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use slipway_core::TerraformCommand;
use slipway_core::event::NewEvent;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::aws::AwsProfiles;
use crate::error::EngineError;
use crate::masking::Masker;
use crate::module::ModuleInfo;
use crate::process::{Control, Interrupt};
use crate::providers::Providers;
use crate::run::{Observation, RunReport, TerraformRun};
use crate::runner::Runner;
use crate::terraform::Terraform;
use crate::workspace::{APPLY, Workspace, lay_out_run, lock_file};

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
    /// The AWS profiles runs use.
    pub aws: AwsProfiles,
    /// Where providers are installed from, and cached.
    pub providers: Providers,
}

/// Runs Terraform for Slipway.
pub struct Engine {
    pub(crate) terraform: Terraform,
    pub(crate) config: EngineConfig,
    cli_config: PathBuf,
    /// Held while a command that installs providers into the shared
    /// plugin cache runs (`init`), across processes too.
    pub(crate) plugin_cache_lock: PathBuf,
    /// One lock per working directory, held while it is laid out and
    /// initialized.
    preparing: std::sync::Mutex<std::collections::HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Engine {
    pub fn new(terraform: Terraform, config: EngineConfig) -> Result<Self, EngineError> {
        std::fs::create_dir_all(&config.work_root)
            .map_err(|e| EngineError::io(&config.work_root, e))?;
        // The CLI configuration every command reads: the shared plugin
        // cache, and the mirror if there is one; nothing of the user's own.
        let cache = config.providers.cache_dir(&config.work_root);
        std::fs::create_dir_all(&cache).map_err(|e| EngineError::io(&cache, e))?;
        let cli_config = config.work_root.join("terraform.rc");
        std::fs::write(&cli_config, config.providers.cli_config(&cache))
            .map_err(|e| EngineError::io(&cli_config, e))?;
        Ok(Self {
            terraform,
            config,
            cli_config,
            plugin_cache_lock: cache.with_extension("lock"),
            preparing: Default::default(),
        })
    }

    pub fn terraform(&self) -> &Terraform {
        &self.terraform
    }

    /// The AWS profile's environment for a run of `blueprint` for
    /// `organization`: no secret, only where the credentials are.
    pub fn aws_environment(
        &self,
        organization: Option<&str>,
        blueprint: &str,
    ) -> Vec<(String, String)> {
        self.config.aws.environment(organization, blueprint)
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
        let ws = Workspace::of(&self.config.work_root, run);
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
            terraform: &self.terraform,
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
            runner.prepare(run, &self.plugin_cache_lock).await?;
        }
        let _run_dir = lay_out_run(run, &info, &ws)?;
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

    /// A clean environment: the basics, the configured pass-through, the
    /// automation settings, sensitive variables and the job's secrets.
    fn environment(
        &self,
        run: &TerraformRun,
        info: &ModuleInfo,
        ws: &Workspace,
    ) -> Vec<(String, String)> {
        let mut env = self.base_environment(&ws.data_dir);
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

    /// The basics, the configured pass-through and the automation
    /// settings, with Terraform's data directory at `data_dir`.
    pub(crate) fn base_environment(&self, data_dir: &std::path::Path) -> Vec<(String, String)> {
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
                ("TF_DATA_DIR", data_dir.display().to_string()),
                ("TF_CLI_CONFIG_FILE", self.cli_config.display().to_string()),
            ]
            .map(|(k, v)| (k.to_owned(), v)),
        );
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
