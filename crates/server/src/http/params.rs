//! The schemas of path parameters, for the OpenAPI document: each names
//! or identifies something whose rule `core` (or the service) defines, and
//! says it as a pattern and a length taken from there.

use slipway_core::names::{self, OperationId};
use utoipa::ToSchema;
use utoipa::openapi::RefOr;

/// A string schema of names or ids: its pattern and length.
macro_rules! string_schema {
    ($(#[$doc:meta])* $type:ident, $name:literal, $pattern:expr, $max:expr) => {
        $(#[$doc])*
        pub struct $type;

        impl utoipa::PartialSchema for $type {
            fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some($pattern))
                    .min_length(Some(1))
                    .max_length(Some($max))
                    .into()
            }
        }

        impl ToSchema for $type {
            fn name() -> std::borrow::Cow<'static, str> {
                $name.into()
            }
        }
    };
}

string_schema!(
    /// A cluster's name, as a path parameter.
    ClusterNameParam,
    "ClusterName",
    names::NAME_PATTERN,
    names::NAME_MAX_LEN
);
string_schema!(
    /// A blueprint's name, as a path parameter.
    BlueprintNameParam,
    "BlueprintName",
    "^[a-z0-9][a-z0-9-]{0,63}$",
    64
);
string_schema!(
    /// A blueprint version, as a path parameter (`latest` only where a
    /// version is read).
    BlueprintVersionParam,
    "BlueprintVersion",
    "^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$",
    64
);
string_schema!(
    /// An organization's name, as a path parameter.
    OrgNameParam,
    "OrgName",
    names::NAME_PATTERN,
    names::NAME_MAX_LEN
);
string_schema!(
    /// An operation's id, as a path parameter.
    OperationIdParam,
    "OperationId",
    OperationId::PATTERN,
    OperationId::LEN
);
string_schema!(
    /// A capacity request's id, as a path parameter.
    CapacityRequestIdParam,
    "CapacityRequestId",
    "^cap_[0-9a-f]{32}$",
    36
);
string_schema!(
    /// A person, as a path parameter: their subject (`github:<id>`) or the
    /// GitHub login they signed in with.
    PersonParam,
    "Person",
    "^([A-Za-z0-9][A-Za-z0-9-]{0,38}|github:[0-9]{1,20})$",
    39
);
string_schema!(
    /// A deployment of a repository, as a path parameter.
    DeploymentParam,
    "Deployment",
    names::NAME_PATTERN,
    names::NAME_MAX_LEN
);
string_schema!(
    /// An environment of a repository, as a path parameter.
    EnvironmentParam,
    "Environment",
    names::NAME_PATTERN,
    names::NAME_MAX_LEN
);
