//! One Terraform run's commands — `init` when the module's directory needs
//! it, a `-json` command whose every line becomes a masked event with
//! progress, `show -json` — sharing the run's workspace, environment and
//! stop control.

use std::time::Duration;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use slipway_core::event::{EventLevel, NewEvent, kinds};
use tokio::sync::mpsc::UnboundedSender;

use crate::error::EngineError;
use crate::events::{self, Progress, TerraformMessage, masked_outputs, parse_line, to_event};
use crate::masking::Masker;
use crate::process::{self, Control, Stopped, Stream};
use crate::providers::LOCK_FILE;
use crate::run::{PlannedChange, TerraformRun};
use crate::terraform::Terraform;
use crate::workspace::{Workspace, backend_config, lay_out, lock_file};

/// One run's commands, sharing its workspace, environment and stop control.
pub(crate) struct Runner<'a> {
    pub(crate) terraform: &'a Terraform,
    pub(crate) ws: &'a Workspace,
    pub(crate) env: &'a [(String, String)],
    pub(crate) control: &'a Control<'a>,
    pub(crate) masker: &'a Masker,
    pub(crate) events: &'a UnboundedSender<NewEvent>,
    pub(crate) time_limit: Duration,
}

/// What a `-json` command produced.
#[derive(Default)]
pub(crate) struct JsonRun {
    pub(crate) exit_code: Option<i32>,
    pub(crate) errors: Vec<String>,
    pub(crate) stderr_tail: Vec<String>,
    pub(crate) outputs: Map<String, Value>,
    /// The `planned_change` messages of a plan.
    pub(crate) planned: Vec<PlannedChange>,
}

impl JsonRun {
    pub(crate) fn failure(&self, command: &str) -> EngineError {
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

    pub(crate) fn check(&self, command: &str) -> Result<(), EngineError> {
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
            json!({"args": args, "terraform": self.terraform.version}),
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
    /// `init` installs providers into the shared plugin cache, one process
    /// at a time (`plugin_cache_lock`), and holds to the module's
    /// dependency lock file when it has one.
    pub(crate) async fn prepare(
        &mut self,
        run: &TerraformRun,
        plugin_cache_lock: &std::path::Path,
    ) -> Result<(), EngineError> {
        let mut digest = Sha256::new();
        for (path, content) in &run.module {
            digest.update(path.as_bytes());
            digest.update([0]);
            digest.update(content.as_bytes());
            digest.update([0]);
        }
        digest.update(backend_config(&run.backend).to_string());
        digest.update(&self.terraform.version);
        let digest = hex::encode(digest.finalize());
        let initialized = std::fs::read_to_string(&self.ws.init_marker).is_ok_and(|d| d == digest)
            && self.ws.data_dir.is_dir();
        if initialized {
            return Ok(());
        }
        lay_out(run, self.ws)?;
        let mut args = vec!["init", "-input=false", "-no-color", "-reconfigure"];
        if run.module.contains_key(LOCK_FILE) {
            args.push("-lockfile=readonly");
        }
        self.announce(&args);
        let _cache = lock_file(plugin_cache_lock).await?;
        let mut tail = Vec::new();
        let exit = process::run(
            &self.terraform.path,
            &args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>(),
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
    pub(crate) async fn json(&mut self, args: &[&str]) -> Result<JsonRun, EngineError> {
        self.announce(args);
        let mut run = JsonRun::default();
        let mut progress = Progress::default();
        let exit = process::run(
            &self.terraform.path,
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
    pub(crate) async fn show_state(&mut self) -> Result<(usize, Map<String, Value>), EngineError> {
        let args = ["show", "-json", "-no-color"];
        self.announce(&args);
        let mut stdout = String::new();
        let mut stderr = Vec::new();
        let exit = process::run(
            &self.terraform.path,
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
    fn counts_managed_resources_in_nested_modules() {
        let state = json!({
            "resources": [{"mode": "managed"}, {"mode": "data"}],
            "child_modules": [{"resources": [{"mode": "managed"}, {"mode": "managed"}]}]
        });
        assert_eq!(count_managed_resources(&state), 3);
        assert_eq!(count_managed_resources(&json!({})), 0);
    }
}
