//! Validated names and identifiers: of clusters, organizations, blueprints,
//! operations and project versions. Once parsed, a name is known to follow
//! its rule, so code further in never checks again.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::validation::ValidationError;

fn is_lower_alnum(c: char) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit()
}

/// `[a-z0-9][a-z0-9-]{0,max_tail}`: lowercase letters, digits and `-`,
/// starting with a letter or digit.
fn check_dns_like(field: &str, value: &str, max_len: usize) -> Result<(), ValidationError> {
    let rule = || {
        ValidationError::new(
            field,
            format!(
                "must be 1 to {max_len} characters of lowercase letters, digits and '-', starting with a letter or digit (got {value:?})"
            ),
        )
    };
    let mut chars = value.chars();
    match chars.next() {
        Some(first) if is_lower_alnum(first) => {}
        _ => return Err(rule()),
    }
    if value.len() > max_len || !chars.all(|c| is_lower_alnum(c) || c == '-') {
        return Err(rule());
    }
    Ok(())
}

macro_rules! validated_name {
    ($(#[$doc:meta])* $name:ident, $field:literal, $check:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Parses `value`, naming the field and the rule when it does not follow it.
            pub fn parse(value: &str) -> Result<Self, ValidationError> {
                let check: fn(&str) -> Result<(), ValidationError> = $check;
                check(value)?;
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl std::str::FromStr for $name {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

/// How long a cluster's or an organization's name may be.
pub const NAME_MAX_LEN: usize = 40;

/// What [`ClusterName::parse`] and [`OrgName::parse`] accept, as a regular
/// expression (the OpenAPI document's pattern; a test holds the two to
/// each other).
pub const NAME_PATTERN: &str = "^[a-z0-9][a-z0-9-]{0,39}$";

validated_name!(
    /// A cluster's name: `[a-z0-9][a-z0-9-]{0,39}`, unique site-wide. It is also
    /// the exact audience of the cluster's tokens.
    ClusterName,
    "name",
    |v| check_dns_like("name", v, NAME_MAX_LEN)
);

validated_name!(
    /// An organization's name, same alphabet as cluster names.
    OrgName,
    "organization",
    |v| check_dns_like("organization", v, NAME_MAX_LEN)
);

validated_name!(
    /// A blueprint's name, same alphabet as cluster names, up to 64 characters.
    BlueprintName,
    "blueprint",
    |v| check_dns_like("blueprint", v, 64)
);

/// Checks a blueprint version label: `latest`, or 1 to 64 characters of letters,
/// digits, `.`, `_`, `+` and `-`, starting with a letter or digit.
pub fn check_version(value: &str) -> Result<(), ValidationError> {
    let mut chars = value.chars();
    let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && value.len() <= 64
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-'));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "version",
            format!(
                "must be 1 to 64 characters of letters, digits, '.', '_', '+' and '-', starting with a letter or digit (got {value:?})"
            ),
        ))
    }
}

/// The version of the project a run checks out: a tag, a branch or a
/// commit.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobVersion(String);

impl JobVersion {
    /// What git accepts as a ref name or a commit, and nothing a shell or
    /// `git` could take for an option.
    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || "._/-+@".contains(c);
        let valid = (1..=200).contains(&value.len())
            && value.chars().all(allowed)
            && !value.starts_with(['-', '/', '.'])
            && !value.ends_with(['/', '.'])
            && !value.ends_with(".lock")
            && !value.contains("..")
            && !value.contains("//")
            && !value.contains("@{");
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValidationError::new(
                "version",
                format!(
                    "must be a tag, branch or commit of the project: letters, digits and . _ / - + @, not starting with - / or . (got {value:?})"
                ),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for JobVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for JobVersion {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<JobVersion> for String {
    fn from(v: JobVersion) -> Self {
        v.0
    }
}

/// An operation's identifier: `op_` followed by 32 lowercase hex digits (a
/// UUIDv7, so identifiers sort by creation time). The `_` keeps it apart from
/// every cluster name, so `slipway logs X` is never ambiguous.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(try_from = "String", into = "String")]
pub struct OperationId(String);

impl OperationId {
    const PREFIX: &'static str = "op_";
    /// What [`OperationId::parse`] accepts, as a regular expression.
    pub const PATTERN: &'static str = "^op_[0-9a-f]{32}$";
    /// An id's length.
    pub const LEN: usize = 35;

    pub fn from_uuid(id: uuid::Uuid) -> Self {
        Self(format!("{}{}", Self::PREFIX, id.simple()))
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let hex = value.strip_prefix(Self::PREFIX).filter(|h| {
            h.len() == 32
                && h.chars()
                    .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        });
        match hex {
            Some(_) => Ok(Self(value.to_owned())),
            None => Err(ValidationError::new(
                "operation",
                format!("must be an operation id: op_ followed by 32 hex digits (got {value:?})"),
            )),
        }
    }

    /// Whether `value` looks like an operation id rather than a cluster name.
    pub fn looks_like(value: &str) -> bool {
        value.starts_with(Self::PREFIX)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for OperationId {
    type Error = ValidationError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<OperationId> for String {
    fn from(id: OperationId) -> Self {
        id.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #[test]
        fn every_name_the_pattern_allows_parses(name in NAME_PATTERN.trim_start_matches('^').trim_end_matches('$')) {
            proptest::prop_assert!(ClusterName::parse(&name).is_ok(), "{name:?}");
            proptest::prop_assert!(OrgName::parse(&name).is_ok(), "{name:?}");
        }

        #[test]
        fn every_operation_id_the_pattern_allows_parses(id in OperationId::PATTERN.trim_start_matches('^').trim_end_matches('$')) {
            proptest::prop_assert!(OperationId::parse(&id).is_ok(), "{id:?}");
            proptest::prop_assert_eq!(id.len(), OperationId::LEN);
        }
    }
    use proptest::prelude::*;

    #[test]
    fn cluster_names_follow_the_rule() {
        for ok in ["a", "0", "dev-alice", "a-", "abc123", &"x".repeat(40)] {
            assert!(ClusterName::parse(ok).is_ok(), "{ok} should be valid");
        }
        for bad in [
            "",
            "-a",
            "A",
            "dev_alice",
            "dev.alice",
            "dév",
            " a",
            &"x".repeat(41),
        ] {
            let err = ClusterName::parse(bad).unwrap_err();
            assert_eq!(err.field, "name");
            assert!(err.rule.contains("lowercase letters"), "{err}");
        }
    }

    #[test]
    fn names_deserialize_only_when_valid() {
        assert!(serde_json::from_str::<ClusterName>("\"ok-name\"").is_ok());
        assert!(serde_json::from_str::<ClusterName>("\"Bad\"").is_err());
    }

    #[test]
    fn versions_follow_the_rule() {
        for ok in ["latest", "1.2.3", "v4.5.1", "1.0.0+build.7", "main_2"] {
            assert!(check_version(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".1", "1 2", "a/b", &"1".repeat(65)] {
            assert_eq!(check_version(bad).unwrap_err().field, "version");
        }
    }

    proptest! {
        #[test]
        fn every_name_matching_the_pattern_parses(s in "[a-z0-9][a-z0-9-]{0,39}") {
            prop_assert!(ClusterName::parse(&s).is_ok());
        }

        #[test]
        fn every_parsed_name_matches_the_pattern(s in "\\PC{0,50}") {
            if let Ok(name) = ClusterName::parse(&s) {
                let n = name.as_str();
                prop_assert!(!n.is_empty() && n.len() <= 40);
                prop_assert!(n.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
                prop_assert!(!n.starts_with('-'));
            }
        }
    }
}
