//! Exit codes and how errors are reported: one readable line on stderr, or
//! the API's JSON error document with `--json`.

use std::process::ExitCode;

use slipway_api::types::{ErrorBody, ErrorDetail, OperationView};
use slipway_api::{ClientError, StatusCode};

/// The operation failed (or the server could not be reached).
pub const FAILED: u8 = 1;
/// Bad input: usage or validation.
pub const BAD_INPUT: u8 = 2;
/// Not authenticated or not allowed.
pub const NOT_ALLOWED: u8 = 3;
/// Refused by a rule or a conflict.
pub const REFUSED: u8 = 4;
/// Still running when the wait ended.
pub const STILL_RUNNING: u8 = 5;

/// A command that did not succeed: its exit code and what to tell the user.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub error: ErrorDetail,
}

impl Failure {
    pub fn new(code: u8, kind: &str, message: impl Into<String>) -> Self {
        Self {
            code,
            error: ErrorDetail {
                code: kind.to_owned(),
                message: message.into(),
                field: None,
                operation: None,
            },
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(BAD_INPUT, "invalid_request", message)
    }

    /// Names the operation concerned.
    pub fn with_operation(mut self, id: &str) -> Self {
        self.error.operation = Some(id.to_owned());
        self
    }

    /// An operation still running when the wait ended (exit 5).
    pub fn still_running(op: &OperationView) -> Self {
        Self::new(
            STILL_RUNNING,
            "still_running",
            format!(
                "operation {} ({} of {}) is still {} after the wait; follow it with: slipway logs {} --follow",
                op.id, op.kind, op.cluster, op.state, op.id
            ),
        )
        .with_operation(&op.id)
    }

    /// An operation that did not do what was asked (exit 1): it failed, was
    /// cancelled or interrupted, or left the cluster elsewhere.
    pub fn did_not_succeed(op: &OperationView, what: &str) -> Self {
        Self::new(
            FAILED,
            "operation_failed",
            format!(
                "{what}: operation {} ({} of {}) {}{}; see its log: slipway logs {}",
                op.id,
                op.kind,
                op.cluster,
                op.state,
                op.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default(),
                op.id
            ),
        )
        .with_operation(&op.id)
    }

    /// Bad input in one field (a flag or argument, named as the API names
    /// the request's field).
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        let mut failure = Self::usage(message);
        failure.error.field = Some(field.to_owned());
        failure
    }

    /// A usage error clap found (an unknown flag, a missing argument, a
    /// value that does not parse), as the same document: the flag at fault
    /// in `field` where clap names one.
    pub fn from_clap(e: &clap::Error) -> Self {
        use clap::error::{ContextKind, ContextValue};
        // What clap says, without its usage and help lines.
        let rendered = e.render().to_string();
        let message = rendered
            .lines()
            .map(str::trim)
            .take_while(|l| !l.is_empty() && !l.starts_with("Usage:"))
            .collect::<Vec<_>>()
            .join(" ");
        let message = message.trim_start_matches("error: ").to_owned();
        let field = match e.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(arg)) => Some(arg.clone()),
            Some(ContextValue::Strings(args)) => args.first().cloned(),
            _ => None,
        }
        .and_then(|arg| field_of(&arg));
        let mut failure = Self::usage(message);
        failure.error.field = field;
        failure
    }

    /// Prints the failure on stderr and returns its exit code.
    pub fn report(self, json: bool) -> ExitCode {
        if json {
            let body = ErrorBody { error: self.error };
            eprintln!(
                "{}",
                serde_json::to_string(&body).expect("errors serialize")
            );
        } else {
            eprintln!("slipway: error: {}", self.error.message);
        }
        ExitCode::from(self.code)
    }
}

/// The field clap's name of an argument stands for: `--nodes <NODES>` →
/// `nodes`, `--destroy-at <DESTROY_AT>` → `destroy_at`, `<NAME>` → `name`,
/// a group `<--at <AT>|--in <IN_>>` → its first flag, `at`.
fn field_of(arg: &str) -> Option<String> {
    let name: String = match arg.find("--") {
        Some(at) => arg[at + 2..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect(),
        None => arg
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
            .collect(),
    };
    let name = name.to_lowercase().replace('-', "_");
    (!name.is_empty()).then_some(name)
}

/// The exit code for an HTTP error status.
pub fn code_for_status(status: StatusCode) -> u8 {
    match status.as_u16() {
        401 | 403 => NOT_ALLOWED,
        409 | 422 | 423 | 429 => REFUSED,
        400..=499 => BAD_INPUT,
        _ => FAILED,
    }
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        match e {
            ClientError::Api { status, body } => Failure {
                code: code_for_status(status),
                error: body.error,
            },
            ClientError::Transport { .. } => Failure::new(FAILED, "unavailable", e.to_string()),
            ClientError::Unexpected { status, .. } => {
                Failure::new(code_for_status(status), "unexpected_answer", e.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::field_of;

    #[test]
    fn clap_argument_names_become_the_fields_the_api_names() {
        assert_eq!(field_of("--nodes <NODES>").as_deref(), Some("nodes"));
        assert_eq!(
            field_of("--destroy-at <DESTROY_AT>").as_deref(),
            Some("destroy_at")
        );
        assert_eq!(field_of("<NAME>").as_deref(), Some("name"));
        assert_eq!(field_of("<--at <AT>|--in <IN_>>").as_deref(), Some("at"));
        assert_eq!(field_of("--bogus").as_deref(), Some("bogus"));
        assert_eq!(field_of("<>"), None);
    }
}
