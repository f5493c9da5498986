//! The service's errors as gRPC statuses: the code by kind, the message
//! for people, the stable error code in the `slipway-error-code` metadata.

use slipway_service::{Error, Kind};
use tonic::{Code, Status};

/// The status for a refusal or failure.
pub fn to_status(e: Error) -> Status {
    let code = match e.kind {
        Kind::Invalid => Code::InvalidArgument,
        Kind::Unauthenticated => Code::Unauthenticated,
        Kind::Forbidden => Code::PermissionDenied,
        Kind::NotFound => Code::NotFound,
        // Another operation in the way: the client may retry once it ends.
        Kind::Conflict if e.code == "operation_in_progress" => Code::Aborted,
        Kind::Conflict => Code::FailedPrecondition,
        Kind::OverLimit | Kind::RateLimited => Code::ResourceExhausted,
        Kind::Unavailable => Code::Unavailable,
    };
    let message = match &e.field {
        Some(field) if !e.message.contains(field.as_str()) => format!("{field}: {}", e.message),
        _ => e.message.clone(),
    };
    let mut status = Status::new(code, message);
    if let Ok(value) = e.code.parse() {
        status.metadata_mut().insert("slipway-error-code", value);
    }
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_code_and_the_error_code_travels_in_metadata() {
        let conflict = Error::conflict("operation_in_progress", "operation op_1 is in the way");
        let status = to_status(conflict);
        assert_eq!(status.code(), Code::Aborted);
        assert_eq!(
            status.metadata().get("slipway-error-code").unwrap(),
            "operation_in_progress"
        );
        assert_eq!(
            to_status(Error::conflict("still_deployed", "destroy it first")).code(),
            Code::FailedPrecondition
        );
        assert_eq!(
            to_status(Error::invalid("name", "must be a cluster name")).code(),
            Code::InvalidArgument
        );
        assert_eq!(
            to_status(Error::forbidden("members only")).code(),
            Code::PermissionDenied
        );
        assert_eq!(
            to_status(Error::unauthenticated("no token")).code(),
            Code::Unauthenticated
        );
    }
}
