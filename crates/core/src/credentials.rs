//! Rules about credentials that outlive a single request: which API tokens
//! keep the site administrable (so the last one is never revoked), and
//! whose cluster tokens must die when a person's access is withdrawn.

use std::collections::BTreeSet;

use chrono::TimeDelta;

use crate::{Identity, OrgName, Refusal, Timestamp};

/// An administrator credential counts as lasting only with more than this
/// left before it expires: a token about to expire cannot stand in for the
/// one being revoked.
pub const LASTING_FOR: TimeDelta = TimeDelta::days(1);

/// An API token as the last-administrator rule sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminCredential {
    pub id: String,
    /// It carries an administrator scope and its owner is an administrator
    /// (the bootstrap administrator, or a person recorded as one).
    pub administers: bool,
    pub expires_at: Option<Timestamp>,
    pub revoked: bool,
}

impl AdminCredential {
    /// Whether it administers the site and stays valid: not revoked, and
    /// with no expiry or more than [`LASTING_FOR`] left at `now`.
    pub fn lasts(&self, now: Timestamp) -> bool {
        self.administers
            && !self.revoked
            && self
                .expires_at
                .is_none_or(|at| at.signed_duration_since(now) > LASTING_FOR)
    }
}

/// Whether the token `target` may be revoked, given every other credential
/// (`others`, the target excluded or not). Refused when it lasts and no
/// other lasting credential would remain — unless people can become
/// administrators by signing in with GitHub (`github_admins`: GitHub sign-in
/// and administrator logins, organizations or teams configured).
pub fn check_revocation(
    target: &AdminCredential,
    others: &[AdminCredential],
    github_admins: bool,
    now: Timestamp,
) -> Result<(), Refusal> {
    if github_admins || !target.lasts(now) {
        return Ok(());
    }
    if others.iter().any(|c| c.id != target.id && c.lasts(now)) {
        return Ok(());
    }
    Err(Refusal::LastAdminCredential {
        credential: target.id.clone(),
    })
}

/// The access a person lost between two views of who they are, as far as
/// cluster tokens go: their tokens for these clusters must no longer work.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withdrawn {
    /// Their level for every cluster is what it was.
    Nothing,
    /// No longer a member of these organizations (and not an
    /// administrator): their tokens for those organizations' clusters.
    Organizations(BTreeSet<OrgName>),
    /// No longer an administrator: their tokens for every cluster, which
    /// carried the administrator level.
    Everything,
}

/// What `before` could reach and `after` cannot. A cluster token carries
/// the level it was issued at, so any drop counts: an administrator who is
/// no longer one loses every token; a member who left an organization loses
/// the tokens for its clusters (for a public one the level drops from org
/// member to member).
pub fn withdrawn(before: &Identity, after: &Identity) -> Withdrawn {
    if before.admin && !after.admin {
        return Withdrawn::Everything;
    }
    if after.admin {
        return Withdrawn::Nothing;
    }
    let lost: BTreeSet<OrgName> = before
        .organizations
        .difference(&after.organizations)
        .cloned()
        .collect();
    if lost.is_empty() {
        Withdrawn::Nothing
    } else {
        Withdrawn::Organizations(lost)
    }
}

/// Tokens issued at or before `now` are refused from `now` on: the cut-off
/// in whole seconds (a token's `iat`), strictly after `now`'s second, so a
/// token issued earlier in the same second is caught.
pub fn issued_before_cutoff(now: Timestamp) -> i64 {
    now.timestamp().saturating_add(1)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use proptest::prelude::*;

    use super::*;
    use crate::Subject;

    fn now() -> Timestamp {
        Utc.with_ymd_and_hms(2026, 3, 1, 9, 0, 0).unwrap()
    }

    fn credential(id: &str, expires_in: Option<TimeDelta>) -> AdminCredential {
        AdminCredential {
            id: id.into(),
            administers: true,
            expires_at: expires_in.map(|d| now() + d),
            revoked: false,
        }
    }

    #[test]
    fn only_valid_administrator_credentials_with_a_day_left_last() {
        assert!(credential("a", None).lasts(now()));
        assert!(credential("a", Some(TimeDelta::days(30))).lasts(now()));
        assert!(credential("a", Some(LASTING_FOR + TimeDelta::seconds(1))).lasts(now()));
        assert!(!credential("a", Some(LASTING_FOR)).lasts(now()));
        assert!(!credential("a", Some(TimeDelta::seconds(5))).lasts(now()));
        assert!(!credential("a", Some(-TimeDelta::seconds(5))).lasts(now()));
        let revoked = AdminCredential {
            revoked: true,
            ..credential("a", None)
        };
        assert!(!revoked.lasts(now()));
        let not_admin = AdminCredential {
            administers: false,
            ..credential("a", None)
        };
        assert!(!not_admin.lasts(now()));
    }

    #[test]
    fn the_last_lasting_credential_is_not_revoked() {
        let bootstrap = credential("bootstrap", None);
        let brief = credential("brief", Some(TimeDelta::seconds(5)));
        let month = credential("month", Some(TimeDelta::days(30)));

        let refused = check_revocation(&bootstrap, std::slice::from_ref(&bootstrap), false, now());
        assert_eq!(
            refused,
            Err(Refusal::LastAdminCredential {
                credential: "bootstrap".into()
            })
        );
        assert_eq!(refused.unwrap_err().code(), "last_admin_credential");
        // A token about to expire does not stand in for it.
        assert!(
            check_revocation(
                &bootstrap,
                &[bootstrap.clone(), brief.clone()],
                false,
                now()
            )
            .is_err()
        );
        // One that lasts does.
        assert!(check_revocation(&bootstrap, std::slice::from_ref(&month), false, now()).is_ok());
        // A credential that does not last may always go.
        assert!(check_revocation(&brief, std::slice::from_ref(&brief), false, now()).is_ok());
        // GitHub administrators can always sign in.
        assert!(check_revocation(&bootstrap, &[], true, now()).is_ok());
    }

    proptest! {
        /// Whatever the credentials, a revocation allowed by the rule leaves
        /// a lasting credential, unless the revoked one did not last itself
        /// or GitHub administrators exist.
        #[test]
        fn an_allowed_revocation_never_leaves_none(
            creds in proptest::collection::vec(
                (any::<bool>(), any::<bool>(), proptest::option::of(-100i64..100)),
                1..6,
            ),
            target in 0usize..6,
        ) {
            let creds: Vec<AdminCredential> = creds
                .into_iter()
                .enumerate()
                .map(|(i, (administers, revoked, hours))| AdminCredential {
                    id: format!("t{i}"),
                    administers,
                    expires_at: hours.map(|h| now() + TimeDelta::hours(h)),
                    revoked,
                })
                .collect();
            let target = &creds[target % creds.len()];
            let lasting_before = creds.iter().filter(|c| c.lasts(now())).count();
            if check_revocation(target, &creds, false, now()).is_ok() && target.lasts(now()) {
                let left = creds
                    .iter()
                    .filter(|c| c.id != target.id && c.lasts(now()))
                    .count();
                prop_assert!(left >= 1);
                prop_assert_eq!(left, lasting_before - 1);
            }
        }
    }

    fn identity(admin: bool, orgs: &[&str]) -> Identity {
        Identity {
            subject: Subject::github(7),
            name: "alice".into(),
            admin,
            organizations: orgs.iter().map(|o| OrgName::parse(o).unwrap()).collect(),
        }
    }

    #[test]
    fn withdrawn_access_is_what_the_person_can_no_longer_reach() {
        let org = |o: &str| OrgName::parse(o).unwrap();
        assert_eq!(
            withdrawn(&identity(false, &["a", "b"]), &identity(false, &["a"])),
            Withdrawn::Organizations([org("b")].into())
        );
        assert_eq!(
            withdrawn(&identity(false, &["a"]), &identity(false, &["a", "b"])),
            Withdrawn::Nothing
        );
        assert_eq!(
            withdrawn(&identity(true, &["a"]), &identity(false, &["a"])),
            Withdrawn::Everything,
            "an administrator's tokens carried the admin level"
        );
        assert_eq!(
            withdrawn(&identity(true, &["a", "b"]), &identity(true, &[])),
            Withdrawn::Nothing,
            "an administrator keeps the admin level everywhere"
        );
        assert_eq!(
            withdrawn(&identity(false, &["a"]), &identity(true, &[])),
            Withdrawn::Nothing
        );
    }

    #[test]
    fn the_cutoff_covers_the_whole_second_of_now() {
        let at = now() + TimeDelta::milliseconds(999);
        assert_eq!(issued_before_cutoff(at), now().timestamp() + 1);
        assert!(now().timestamp() < issued_before_cutoff(at));
    }
}
