//! What can go wrong running Terraform.

use std::path::{Path, PathBuf};
use std::time::Duration;

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
