//! Who may do what (docs/domain.md §1, §3.4): the four levels, the actions on
//! a cluster, and the organization limits that bound what members deploy.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{MAX_NODES_CEILING, OrgName, Refusal, Subject, Timestamp};

/// A caller's level for one cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Level {
    /// No token: public clusters only, rate-limited by network region.
    Anonymous,
    /// Logged in with GitHub: public clusters, rate-limited per user.
    Member,
    /// A member of the organization that owns the cluster.
    OrgMember,
    /// A site administrator: everything, without limits.
    Admin,
}

impl Level {
    pub const ALL: [Level; 4] = [
        Level::Anonymous,
        Level::Member,
        Level::OrgMember,
        Level::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Anonymous => "anonymous",
            Level::Member => "member",
            Level::OrgMember => "org_member",
            Level::Admin => "admin",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Level::ALL
            .into_iter()
            .find(|l| l.as_str() == s)
            .ok_or_else(|| format!("unknown level {s:?}"))
    }
}

/// An authenticated person (or the owner of an API token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// Who it is, stably: `github:<id>`, or `slipway:<name>` for Slipway's
    /// own identities. Levels and ownership follow the subject, never a name.
    pub subject: Subject,
    /// What to call them: the GitHub login as of the last sign-in, or a
    /// description of a Slipway identity. For display only.
    pub name: String,
    /// A site administrator.
    pub admin: bool,
    /// The organizations the person is a member of.
    pub organizations: BTreeSet<OrgName>,
}

impl Identity {
    /// The level for a cluster owned by `organization`.
    pub fn level_for(&self, organization: &OrgName) -> Level {
        if self.admin {
            Level::Admin
        } else if self.organizations.contains(organization) {
            Level::OrgMember
        } else {
            Level::Member
        }
    }

    /// The level shown for the person overall: `admin` or `member`.
    pub fn site_level(&self) -> Level {
        if self.admin {
            Level::Admin
        } else {
            Level::Member
        }
    }
}

/// What is being done to a cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Read its status and logs.
    View,
    /// Ask for a cluster token (ACCESS).
    Access,
    /// Define, deploy, reschedule or destroy it.
    Manage,
    /// Run tests or a release against it.
    TestOrRelease,
    /// Ask for nodes on it for a while (a capacity request).
    RequestCapacity,
}

impl Action {
    fn describe(self) -> &'static str {
        match self {
            Action::View => "see",
            Action::Access => "get a token for",
            Action::Manage => "deploy, reschedule or destroy",
            Action::TestOrRelease => "run tests or releases against",
            Action::RequestCapacity => "ask for capacity on",
        }
    }
}

/// Whether `level` may do `action` to a public or private cluster owned by
/// `organization`; the refusal names the rule.
pub fn authorize(
    level: Level,
    action: Action,
    public: bool,
    organization: &OrgName,
) -> Result<(), Refusal> {
    let allowed = match (action, public) {
        (_, _) if level == Level::Admin => true,
        (Action::TestOrRelease, _) => false,
        (Action::View | Action::Access, true) => level >= Level::Member,
        (Action::View | Action::Access, false) => level >= Level::OrgMember,
        (Action::Manage, true) => false,
        (Action::Manage, false) => level >= Level::OrgMember,
        // An organization's members share its clusters' capacity, public
        // or private.
        (Action::RequestCapacity, _) => level >= Level::OrgMember,
    };
    if allowed {
        return Ok(());
    }
    let who = match (action, public) {
        (Action::TestOrRelease, _) | (Action::Manage, true) => "site administrators".to_owned(),
        (Action::View | Action::Access, true) => "logged-in members".to_owned(),
        (Action::View | Action::Access | Action::Manage, false) | (Action::RequestCapacity, _) => {
            format!("members of organization {organization} and site administrators")
        }
    };
    let kind = if public { "public" } else { "private" };
    Err(Refusal::Forbidden {
        rule: format!(
            "only {who} may {} a {kind} cluster (your level: {level})",
            action.describe()
        ),
    })
}

/// An organization's limits on what its members deploy (administrators have
/// none but the absolute ceiling on nodes) — and, for everyone, on how many
/// of its clusters' operations run at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Limits {
    /// Nodes in one cluster.
    pub max_nodes: u32,
    /// How far ahead a deploy's destroy time may be, in seconds.
    pub max_lifetime_secs: u64,
    /// How near a deploy's destroy time may be, in seconds.
    pub min_lifetime_secs: u64,
    /// Clusters of the organization deployed at once.
    pub max_clusters: u32,
    /// Clusters its members may define, deployed or not: names are unique
    /// site-wide, so an organization may not hold more than it uses.
    #[serde(default = "Limits::default_max_defined_clusters")]
    pub max_defined_clusters: u32,
    /// Operations of its clusters running at once, whoever asked: its
    /// share of the workers (`fairness`). Its queue is bounded already: a
    /// cluster has one infrastructure operation queued or running at a time.
    #[serde(default = "Limits::default_max_running_operations")]
    pub max_running_operations: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_nodes: 50,
            max_lifetime_secs: 12 * 3600,
            min_lifetime_secs: 15 * 60,
            max_clusters: 10,
            max_defined_clusters: Self::default_max_defined_clusters(),
            max_running_operations: Self::default_max_running_operations(),
        }
    }
}

fn human(secs: u64) -> String {
    crate::duration::format_duration(Duration::from_secs(secs))
}

impl Limits {
    /// Checks the limits themselves.
    pub fn check(&self) -> Result<(), crate::ValidationError> {
        if self.max_nodes == 0 || self.max_nodes > MAX_NODES_CEILING {
            return Err(crate::ValidationError::new(
                "max_nodes",
                format!("must be between 1 and {MAX_NODES_CEILING}"),
            ));
        }
        if self.min_lifetime_secs > self.max_lifetime_secs {
            return Err(crate::ValidationError::new(
                "min_lifetime_secs",
                "must not exceed max_lifetime_secs",
            ));
        }
        if self.max_running_operations == 0 {
            return Err(crate::ValidationError::new(
                "max_running_operations",
                "must be at least 1 (none would leave its operations queued for ever)",
            ));
        }
        Ok(())
    }

    /// Checks the size of a cluster.
    pub fn check_nodes(&self, nodes: u32) -> Result<(), Refusal> {
        if nodes > self.max_nodes {
            return Err(Refusal::OverLimit {
                limit: "max_nodes".into(),
                rule: format!(
                    "the organization allows at most {} nodes per cluster (asked for {nodes})",
                    self.max_nodes
                ),
            });
        }
        Ok(())
    }

    /// The refusal of a deploy that carries no destroy time.
    pub fn missing_destroy_time(&self) -> Refusal {
        Refusal::OverLimit {
            limit: "max_lifetime".into(),
            rule: format!(
                "deploys by organization members must carry a destroy time (--ttl or --destroy-at) of at most {}",
                human(self.max_lifetime_secs)
            ),
        }
    }

    fn default_max_defined_clusters() -> u32 {
        50
    }

    fn default_max_running_operations() -> u32 {
        8
    }

    /// Checks the number of clusters defined, given how many the
    /// organization has already.
    pub fn check_defined(&self, defined: u32) -> Result<(), Refusal> {
        if defined >= self.max_defined_clusters {
            return Err(Refusal::OverLimit {
                limit: "max_defined_clusters".into(),
                rule: format!(
                    "the organization may define at most {} clusters, and has {defined}; remove one it no longer needs (slipway cluster remove)",
                    self.max_defined_clusters
                ),
            });
        }
        Ok(())
    }

    /// Checks the number of clusters deployed at once, given how many of the
    /// organization's other clusters are deployed or being deployed.
    pub fn check_clusters(&self, deployed_elsewhere: u32) -> Result<(), Refusal> {
        if deployed_elsewhere >= self.max_clusters {
            return Err(Refusal::OverLimit {
                limit: "max_clusters".into(),
                rule: format!(
                    "the organization allows at most {} clusters deployed at once, and {deployed_elsewhere} are",
                    self.max_clusters
                ),
            });
        }
        Ok(())
    }

    /// Checks a destroy time against the lifetime bounds.
    pub fn check_lifetime(&self, destroy_at: Timestamp, now: Timestamp) -> Result<(), Refusal> {
        let lifetime = (destroy_at - now).num_seconds().max(0).unsigned_abs();
        if lifetime > self.max_lifetime_secs {
            return Err(Refusal::OverLimit {
                limit: "max_lifetime".into(),
                rule: format!(
                    "the organization allows a lifetime of at most {} (asked for {})",
                    human(self.max_lifetime_secs),
                    human(lifetime)
                ),
            });
        }
        if lifetime < self.min_lifetime_secs {
            return Err(Refusal::OverLimit {
                limit: "min_lifetime".into(),
                rule: format!(
                    "the organization requires a lifetime of at least {} (asked for {})",
                    human(self.min_lifetime_secs),
                    human(lifetime)
                ),
            });
        }
        Ok(())
    }
}

/// Checks the absolute ceiling that binds everyone.
pub fn check_ceiling(nodes: u32) -> Result<(), Refusal> {
    if nodes > MAX_NODES_CEILING {
        return Err(Refusal::OverLimit {
            limit: "max_nodes".into(),
            rule: format!(
                "no cluster may have more than {MAX_NODES_CEILING} nodes (asked for {nodes})"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone, Utc};
    use proptest::prelude::*;

    fn org(n: &str) -> OrgName {
        OrgName::parse(n).unwrap()
    }

    fn identity(admin: bool, orgs: &[&str]) -> Identity {
        Identity {
            subject: Subject::github(1),
            name: "alice".into(),
            admin,
            organizations: orgs.iter().map(|o| org(o)).collect(),
        }
    }

    #[test]
    fn levels_follow_membership() {
        assert_eq!(
            identity(false, &["research"]).level_for(&org("research")),
            Level::OrgMember
        );
        assert_eq!(
            identity(false, &["other"]).level_for(&org("research")),
            Level::Member
        );
        assert_eq!(
            identity(true, &[]).level_for(&org("research")),
            Level::Admin
        );
        assert!(Level::Anonymous < Level::Member && Level::OrgMember < Level::Admin);
    }

    /// The whole matrix of docs/domain.md §4.
    #[test]
    fn the_access_matrix() {
        use Level::*;
        let research = org("research");
        let expect = |level, action, public, allowed: bool| {
            assert_eq!(
                authorize(level, action, public, &research).is_ok(),
                allowed,
                "{level} {action:?} public={public}"
            );
        };
        for public in [true, false] {
            expect(Admin, Action::Access, public, true);
            expect(Admin, Action::Manage, public, true);
            expect(Admin, Action::TestOrRelease, public, true);
            expect(Anonymous, Action::Access, public, false);
            expect(Anonymous, Action::Manage, public, false);
            for level in [Member, OrgMember] {
                expect(level, Action::TestOrRelease, public, false);
            }
        }
        expect(Member, Action::Access, true, true);
        expect(Member, Action::Access, false, false);
        expect(OrgMember, Action::Access, false, true);
        expect(Member, Action::Manage, true, false);
        expect(OrgMember, Action::Manage, true, false);
        expect(Member, Action::Manage, false, false);
        expect(OrgMember, Action::Manage, false, true);
        for public in [true, false] {
            expect(Admin, Action::RequestCapacity, public, true);
            expect(OrgMember, Action::RequestCapacity, public, true);
            expect(Member, Action::RequestCapacity, public, false);
            expect(Anonymous, Action::RequestCapacity, public, false);
        }
        let refusal = authorize(Member, Action::Manage, false, &research).unwrap_err();
        assert!(
            refusal.to_string().contains("organization research"),
            "{refusal}"
        );
    }

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 5, 1, 8, 0, 0).unwrap()
    }

    #[test]
    fn limits_name_the_limit_broken() {
        let limits = Limits::default();
        let limit = |r: Result<(), Refusal>| match r {
            Err(Refusal::OverLimit { limit, .. }) => limit,
            other => panic!("expected a limit, got {other:?}"),
        };
        assert!(limits.check_nodes(50).is_ok());
        assert_eq!(limit(limits.check_nodes(51)), "max_nodes");
        assert!(
            limits
                .check_lifetime(now() + TimeDelta::hours(2), now())
                .is_ok()
        );
        assert_eq!(
            limit(limits.check_lifetime(now() + TimeDelta::hours(13), now())),
            "max_lifetime"
        );
        assert_eq!(
            limit(limits.check_lifetime(now() + TimeDelta::minutes(10), now())),
            "min_lifetime"
        );
        assert_eq!(limit(Err(limits.missing_destroy_time())), "max_lifetime");
        assert!(limits.check_clusters(9).is_ok());
        assert_eq!(limit(limits.check_clusters(10)), "max_clusters");
        assert!(check_ceiling(1000).is_ok());
        assert!(check_ceiling(1001).is_err());
    }

    proptest! {
        #[test]
        fn lifetimes_inside_the_bounds_are_accepted(mins in 0i64..1000) {
            let limits = Limits::default();
            let ok = limits.check_lifetime(now() + TimeDelta::minutes(mins), now()).is_ok();
            prop_assert_eq!(ok, (15..=720).contains(&mins));
        }
    }
}
