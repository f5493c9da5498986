//! The checks of a blueprint version being published that need Terraform:
//! `terraform init -backend=false` (providers from the mirror or the
//! registries, into the shared plugin cache; the version's dependency lock
//! file enforced) and `terraform validate`, in a directory of their own.
//! Where the providers cannot be installed, validation is skipped and the
//! reason said; a lock file that does not match the providers, or a module
//! Terraform finds invalid, is refused.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::process::{self, Control, Interrupt};
use crate::providers::LOCK_FILE;
use crate::workspace::{lock_file, safe_join};

/// How long publishing's `init` and `validate` may take together.
const TIME_LIMIT: Duration = Duration::from_secs(300);

/// What Terraform's checks of a version found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Validation {
    /// `terraform validate` passed. `lock_file`: the dependency lock file
    /// `init` wrote, for a module that came without one and needs
    /// providers — it is stored with the version, so every run installs
    /// these very providers.
    Passed { lock_file: Option<String> },
    /// The providers could not be installed here, so nothing was validated.
    Skipped { why: String },
}

/// `terraform validate -json`'s answer, as far as Slipway reads it.
#[derive(Deserialize)]
struct Validated {
    valid: bool,
    #[serde(default)]
    diagnostics: Vec<Diagnostic>,
}

#[derive(Deserialize)]
struct Diagnostic {
    severity: String,
    summary: String,
    #[serde(default)]
    detail: String,
    range: Option<Range>,
}

#[derive(Deserialize)]
struct Range {
    filename: String,
    start: Position,
}

#[derive(Deserialize)]
struct Position {
    line: u64,
}

/// What Terraform says when the providers it installs are not the ones
/// the dependency lock file records.
const LOCK_MISMATCH: &[&str] = &[
    // A package whose checksum the lock file does not record.
    "doesn't match any of the checksums previously recorded",
    // A provider the module requires that the lock file does not name.
    "the lock file is read-only",
];

impl Engine {
    /// Runs `init -backend=false` and `validate` on a module being
    /// published (`files`: the module's, metadata excluded) of `blueprint`.
    pub async fn validate(
        &self,
        blueprint: &str,
        files: &BTreeMap<String, String>,
    ) -> Result<Validation, EngineError> {
        let dir = tempfile::Builder::new()
            .prefix("validate-")
            .tempdir_in(&self.config.work_root)
            .map_err(|e| EngineError::io(&self.config.work_root, e))?;
        let module = dir.path().join("module");
        for (relative, content) in files {
            let path = safe_join(&module, relative)?;
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| EngineError::io(parent, e))?;
            }
            std::fs::write(&path, content).map_err(|e| EngineError::io(&path, e))?;
        }
        let mut env = self.base_environment(&dir.path().join(".terraform"));
        env.extend(self.aws_environment(None, blueprint));
        let cancel = CancellationToken::new();
        let control = Control {
            cancel: &cancel,
            deadline: Instant::now() + TIME_LIMIT,
            grace: self.config.cancel_grace,
            interrupt: Interrupt::Command,
        };
        let locked = files.contains_key(LOCK_FILE);

        let mut init = vec!["init", "-backend=false", "-input=false", "-no-color"];
        if locked {
            init.push("-lockfile=readonly");
        }
        let (ok, output) = {
            let _cache = lock_file(&self.plugin_cache_lock).await?;
            self.command(&init, &module, &env, dir.path(), &control)
                .await?
        };
        if !ok {
            let said = errors(&output);
            // Terraform wraps its messages: compare words, not lines.
            let flat = output.split_whitespace().collect::<Vec<_>>().join(" ");
            if locked && LOCK_MISMATCH.iter().any(|m| flat.contains(m)) {
                return Err(EngineError::InvalidModule {
                    file: LOCK_FILE.into(),
                    reason: format!(
                        "the providers do not match the dependency lock file, so no run could install them: {said}. Update it where the providers are (terraform providers lock), then publish a new version"
                    ),
                });
            }
            return Ok(Validation::Skipped {
                why: format!(
                    "terraform validate: the module's providers cannot be installed here ({said})"
                ),
            });
        }

        let (_, output) = self
            .command(
                &["validate", "-json", "-no-color"],
                &module,
                &env,
                dir.path(),
                &control,
            )
            .await?;
        let validated: Validated =
            serde_json::from_str(&output).map_err(|e| EngineError::Terraform {
                command: "validate".into(),
                message: format!("unreadable answer ({e}): {output}"),
            })?;
        if !validated.valid {
            let first = validated
                .diagnostics
                .iter()
                .find(|d| d.severity == "error")
                .ok_or_else(|| EngineError::Terraform {
                    command: "validate".into(),
                    message: "invalid, without saying why".into(),
                })?;
            let file = first.range.as_ref().map_or_else(
                || "(module)".to_owned(),
                |r| format!("{}:{}", r.filename, r.start.line),
            );
            let detail = if first.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", first.detail)
            };
            return Err(EngineError::InvalidModule {
                file,
                reason: format!("terraform validate: {}{detail}", first.summary),
            });
        }
        let lock_file = if locked {
            None
        } else {
            std::fs::read_to_string(module.join(LOCK_FILE)).ok()
        };
        Ok(Validation::Passed { lock_file })
    }

    /// Runs one Terraform command in `module`: whether it succeeded, and
    /// what it printed (stdout, then stderr).
    async fn command(
        &self,
        args: &[&str],
        module: &std::path::Path,
        env: &[(String, String)],
        scratch: &std::path::Path,
        control: &Control<'_>,
    ) -> Result<(bool, String), EngineError> {
        let (mut stdout, mut stderr) = (String::new(), String::new());
        let exit = process::run(
            &self.terraform.path,
            &args.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>(),
            module,
            env,
            &process::Outputs::new(scratch, args[0]),
            control,
            &mut |stream, line| {
                let into = match stream {
                    process::Stream::Stdout => &mut stdout,
                    process::Stream::Stderr => &mut stderr,
                };
                into.push_str(&line);
                into.push('\n');
            },
        )
        .await?;
        if exit.stopped.is_some() {
            return Err(EngineError::TimedOut(TIME_LIMIT));
        }
        stdout.push_str(&stderr);
        Ok((exit.status.success(), stdout))
    }
}

/// A command's errors, each its summary and the first paragraph of its
/// detail, which names what failed (else the output's last line).
fn errors(output: &str) -> String {
    let mut said: Vec<&str> = Vec::new();
    let mut lines = output.lines().map(str::trim).peekable();
    while let Some(line) = lines.next() {
        if let Some(summary) = line.strip_prefix("Error: ") {
            said.push(summary);
            while lines.next_if(|l| l.is_empty()).is_some() {}
            while let Some(detail) = lines.next_if(|l| !l.is_empty()) {
                said.push(detail);
            }
        }
    }
    if said.is_empty() {
        output
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("")
            .trim()
            .to_owned()
    } else {
        said.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::errors;

    #[test]
    fn errors_are_summarised_with_the_first_line_of_their_detail() {
        let output = "Initializing provider plugins...\n\nError: Failed to query available provider packages\n\nCould not retrieve the list of available versions for provider\nhashicorp/aws: could not connect to registry.terraform.io\n\nmore detail\n";
        assert_eq!(
            errors(output),
            "Failed to query available provider packages Could not retrieve the list of available versions for provider hashicorp/aws: could not connect to registry.terraform.io"
        );
        assert_eq!(errors("one\nlast words\n\n"), "last words");
    }
}
