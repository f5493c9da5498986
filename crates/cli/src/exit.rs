//! Exit codes and how errors are reported: one readable line on stderr, or
//! the API's JSON error document with `--json`.

use std::process::ExitCode;

use slipway_api::types::{ErrorBody, ErrorDetail};
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

    /// The failure, naming the operation it happened to: its id in the
    /// message (with how to follow it, as it may still run) and in the
    /// error document.
    pub fn for_operation(mut self, id: &str) -> Self {
        if self.error.operation.as_deref() != Some(id) {
            self.error.message = format!(
                "operation {id}: {} (follow it with: slipway logs {id} --follow)",
                self.error.message
            );
            self.error.operation = Some(id.to_owned());
        }
        self
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
            other => {
                let code = other.status().map_or(FAILED, code_for_status);
                Failure::new(code, "unavailable", other.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_names_the_operation_once_with_how_to_follow_it() {
        let failure = Failure::new(
            FAILED,
            "unavailable",
            "cannot reach Slipway at http://x/v1/operations/op_1",
        )
        .for_operation("op_1")
        .for_operation("op_1");
        assert_eq!(
            failure.error.message,
            "operation op_1: cannot reach Slipway at http://x/v1/operations/op_1 (follow it with: slipway logs op_1 --follow)"
        );
        assert_eq!(failure.error.operation.as_deref(), Some("op_1"));
        assert_eq!(failure.code, FAILED);
    }
}
