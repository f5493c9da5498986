//! What the web UI shows beside what the API answers: where the caller
//! stands with every organization (to show the ones they may ask to join),
//! an organization's clusters, and whether the caller owns one. Each is
//! authorized like the rest of the service: a person sees other
//! organizations' names only, never their clusters, members or money.

use std::collections::HashMap;

use slipway_api::types::ClusterStatus;
use slipway_core::{OrgName, Subject};
use slipway_store::{ClusterFilter, MembershipRole, MembershipState};

use crate::Service;
use crate::caller::{Caller, scope};
use crate::clusters::MAX_PAGE;
use crate::error::Result;

/// How the caller stands with an organization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Standing {
    /// An approved owner membership.
    Owner,
    /// A member: through GitHub or an approved membership.
    Member,
    /// Asked to join; not decided yet.
    Requested,
    /// None of these: the caller may ask to join.
    Outsider,
}

/// An organization as one caller sees it in the directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub name: String,
    pub standing: Standing,
}

impl Service {
    /// Every organization's name and the caller's standing with it, by
    /// name. Names only: what is inside an organization is for its members.
    pub async fn organization_directory(&self, caller: &Caller) -> Result<Vec<DirectoryEntry>> {
        caller.require(scope::CLUSTERS_READ)?;
        let mine = self.store.memberships_of(caller.subject()).await?;
        let mut entries: Vec<DirectoryEntry> = self
            .store
            .organizations()
            .await?
            .into_iter()
            .map(|org| {
                let recorded = mine.iter().find(|m| m.organization == org.name);
                let standing = match recorded {
                    Some(m)
                        if m.state == MembershipState::Approved
                            && m.role == MembershipRole::Owner =>
                    {
                        Standing::Owner
                    }
                    _ if caller.identity.organizations.contains(&org.name) => Standing::Member,
                    Some(m) if m.state == MembershipState::Requested => Standing::Requested,
                    _ => Standing::Outsider,
                };
                DirectoryEntry {
                    name: org.name.to_string(),
                    standing,
                }
            })
            .collect();
        entries.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(entries)
    }

    /// The clusters of an organization (its members and administrators),
    /// by name, at most one page of [`MAX_PAGE`].
    pub async fn organization_clusters(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<Vec<ClusterStatus>> {
        let org = self.member_organization(caller, name).await?;
        let snaps = self
            .store
            .clusters(&ClusterFilter {
                after: None,
                limit: MAX_PAGE,
                visible_to: None,
                organization: Some(org),
                ..Default::default()
            })
            .await?;
        self.statuses(&snaps).await
    }

    /// What to call the people behind subjects the caller was shown (who
    /// asked for an operation, who made a cluster): their GitHub login as
    /// last seen, or a Slipway identity's description. Unknown subjects
    /// are left out.
    pub async fn names_of(
        &self,
        caller: &Caller,
        subjects: &[&str],
    ) -> Result<HashMap<String, String>> {
        caller.require(scope::CLUSTERS_READ)?;
        let mut names = HashMap::new();
        for &text in subjects {
            if names.contains_key(text) {
                continue;
            }
            let Ok(subject) = Subject::parse(text) else {
                continue;
            };
            let name = if subject.is_bootstrap() {
                Some(crate::identities::bootstrap_identity().name)
            } else if subject.is_slipway() {
                Some(text.trim_start_matches("slipway:").to_owned())
            } else {
                self.store.user(&subject).await?.map(|u| u.login)
            };
            if let Some(name) = name {
                names.insert(text.to_owned(), name);
            }
        }
        Ok(names)
    }

    /// Whether the caller owns the organization (an approved owner
    /// membership; administrators are not owners by this).
    pub async fn owns_organization(&self, caller: &Caller, name: &str) -> Result<bool> {
        let org = OrgName::parse(name)?;
        self.is_owner(caller, &org).await
    }
}
