//! Who someone is, stably, whatever the source of their identity.
//!
//! A person signed in with GitHub is `github:<numeric id>`: logins can be
//! renamed and reused, numeric ids cannot. Slipway's own identities — the
//! bootstrap administrator, the scheduler, recovery, the budget and capacity
//! keepers, a trusted network's service identity — are `slipway:<name>`, a
//! namespace no sign-in can produce. So two sources never collide: a GitHub
//! user called `admin` is `github:<id>`, never the bootstrap administrator.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ValidationError;

/// A namespaced, stable subject: `github:<id>` or `slipway:<name>`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(transparent)]
pub struct Subject(String);

const GITHUB: &str = "github:";
const SLIPWAY: &str = "slipway:";

impl Subject {
    /// A person signed in with GitHub, by GitHub's numeric user id.
    pub fn github(id: i64) -> Self {
        Self(format!("{GITHUB}{id}"))
    }

    /// One of Slipway's own identities (`name`: lowercase letters, digits
    /// and `-`).
    pub fn slipway(name: &str) -> Self {
        debug_assert!(is_system_name(name), "{name:?}");
        Self(format!("{SLIPWAY}{name}"))
    }

    /// The administrator the bootstrap token belongs to.
    pub fn bootstrap() -> Self {
        Self::slipway("bootstrap")
    }

    /// The scheduler that fires scheduled destroys.
    pub fn scheduler() -> Self {
        Self::slipway("scheduler")
    }

    /// Recovery after a crash or a lost lease.
    pub fn recovery() -> Self {
        Self::slipway("recovery")
    }

    /// The keeper of capacity requests: every change capacity makes to a
    /// cluster is its, whoever's request it follows.
    pub fn capacity() -> Self {
        Self::slipway("capacity")
    }

    /// The drift keeper: the refreshes that check protected clusters.
    pub fn drift() -> Self {
        Self::slipway("drift")
    }

    pub fn parse(value: &str) -> Result<Self, ValidationError> {
        let valid = if let Some(id) = value.strip_prefix(GITHUB) {
            !id.is_empty()
                && id.len() <= 19
                && id.bytes().all(|b| b.is_ascii_digit())
                && id.parse::<i64>().is_ok()
        } else if let Some(name) = value.strip_prefix(SLIPWAY) {
            is_system_name(name)
        } else {
            false
        };
        if valid {
            Ok(Self(value.to_owned()))
        } else {
            Err(ValidationError::new(
                "subject",
                format!("must be github:<numeric id> or slipway:<name> (got {value:?})"),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The GitHub user id, for a GitHub subject.
    pub fn github_id(&self) -> Option<i64> {
        self.0.strip_prefix(GITHUB)?.parse().ok()
    }

    /// One of Slipway's own identities (not a person).
    pub fn is_slipway(&self) -> bool {
        self.0.starts_with(SLIPWAY)
    }

    /// For one of Slipway's own identities, its name (`scheduler` for
    /// `slipway:scheduler`).
    pub fn slipway_name(&self) -> Option<&str> {
        self.0.strip_prefix(SLIPWAY)
    }

    pub fn is_bootstrap(&self) -> bool {
        *self == Self::bootstrap()
    }
}

fn is_system_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Subject {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sources_are_namespaced() {
        assert_eq!(Subject::github(42).as_str(), "github:42");
        assert_eq!(Subject::bootstrap().as_str(), "slipway:bootstrap");
        assert_eq!(Subject::parse("github:42").unwrap().github_id(), Some(42));
        assert!(Subject::bootstrap().is_bootstrap() && Subject::bootstrap().is_slipway());
        assert!(!Subject::github(1).is_slipway());
        for bad in [
            "admin",
            "ADMIN",
            "github:",
            "github:abc",
            "github:-1",
            "slipway:",
            "slipway:Boot",
            "bootstrap",
        ] {
            assert!(Subject::parse(bad).is_err(), "{bad}");
        }
    }

    proptest! {
        /// Whatever a GitHub login or id is, the subject it yields is never
        /// one of Slipway's own.
        #[test]
        fn no_github_identity_is_a_slipway_one(id in any::<i64>()) {
            let s = Subject::github(id);
            prop_assert!(!s.is_slipway());
            prop_assert!(!s.is_bootstrap());
        }
    }
}
