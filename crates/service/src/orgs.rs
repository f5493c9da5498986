//! Organizations: created by administrators, mapped to a GitHub
//! organization (and optionally a team), with limits; memberships requested
//! by a person and approved (or removed) by an owner or an administrator.

use chrono::Utc;
use slipway_api::types::*;
use slipway_core::credentials::{Withdrawn, withdrawn};
use slipway_core::duration::parse_duration;
use slipway_core::{Level, Limits, OrgName, Subject};
use slipway_store::{Membership, MembershipRole, MembershipState, Organization};

use crate::Service;
use crate::caller::{Caller, scope};
use crate::error::{Error, Result};
use crate::identities::{approved_organizations, identity_from};

fn organization_view(o: Organization) -> OrganizationView {
    OrganizationView {
        name: o.name.to_string(),
        github_org: o.github_org,
        github_team: o.github_team,
        limits: o.limits,
        destroy_when_idle: o.destroy_when_idle,
        created_at: o.created_at,
    }
}

fn membership_view(m: Membership) -> MembershipView {
    MembershipView {
        organization: m.organization.to_string(),
        subject: m.subject.to_string(),
        login: m.name,
        role: match m.role {
            MembershipRole::Owner => "owner",
            MembershipRole::Member => "member",
        }
        .into(),
        state: match m.state {
            MembershipState::Requested => "requested",
            MembershipState::Approved => "approved",
        }
        .into(),
        requested_at: m.requested_at,
        decided_by: m.decided_by,
        decided_at: m.decided_at,
    }
}

fn lifetime(field: &str, value: &str) -> Result<u64> {
    Ok(parse_duration(field, value)?.as_secs())
}

/// Applies a partial change to limits, and checks the result.
fn changed_limits(limits: Limits, update: &UpdateLimits) -> Result<Limits> {
    let changed = Limits {
        max_nodes: update.max_nodes.unwrap_or(limits.max_nodes),
        max_lifetime_secs: match &update.max_lifetime {
            Some(v) => lifetime("limits.max_lifetime", v)?,
            None => limits.max_lifetime_secs,
        },
        min_lifetime_secs: match &update.min_lifetime {
            Some(v) => lifetime("limits.min_lifetime", v)?,
            None => limits.min_lifetime_secs,
        },
        max_clusters: update.max_clusters.unwrap_or(limits.max_clusters),
        max_defined_clusters: update
            .max_defined_clusters
            .unwrap_or(limits.max_defined_clusters),
        max_running_operations: update
            .max_running_operations
            .unwrap_or(limits.max_running_operations),
    };
    changed
        .check()
        .map_err(|e| Error::from(e.clone().for_field(format!("limits.{}", e.field))))?;
    Ok(changed)
}

fn check_github_name(field: &str, value: &Option<String>) -> Result<()> {
    if let Some(v) = value {
        let ok = !v.is_empty()
            && v.len() <= 100
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !ok {
            return Err(Error::invalid(
                field,
                "must be a GitHub name: letters, digits, '-', '_' and '.'",
            ));
        }
    }
    Ok(())
}

impl Service {
    async fn org(&self, name: &str) -> Result<Organization> {
        let name = OrgName::parse(name)?;
        self.store
            .organization(&name)
            .await?
            .ok_or_else(|| Error::not_found(format!("organization {name} does not exist")))
    }

    /// An owner of the organization (by an approved owner membership) or an
    /// administrator.
    async fn require_owner(&self, caller: &Caller, org: &OrgName) -> Result<()> {
        caller.require(scope::ORGS_WRITE)?;
        if caller.identity.admin {
            return Ok(());
        }
        let owner = self
            .store
            .membership(org, caller.subject())
            .await?
            .is_some_and(|m| {
                m.role == MembershipRole::Owner && m.state == MembershipState::Approved
            });
        if owner {
            Ok(())
        } else {
            Err(Error::forbidden(format!(
                "only owners of organization {org} and site administrators may decide on its members"
            )))
        }
    }

    pub async fn create_organization(
        &self,
        caller: &Caller,
        req: CreateOrganization,
    ) -> Result<OrganizationView> {
        caller.require(scope::ORGS_WRITE)?;
        caller.require_admin()?;
        let name = OrgName::parse(&req.name)?;
        check_github_name("github_org", &req.github_org)?;
        check_github_name("github_team", &req.github_team)?;
        if req.github_team.is_some() && req.github_org.is_none() {
            return Err(Error::invalid("github_team", "needs github_org"));
        }
        let limits = match &req.limits {
            Some(update) => changed_limits(Limits::default(), update)?,
            None => Limits::default(),
        };
        let now = Utc::now();
        let org = self
            .store
            .create_organization(Organization {
                name,
                github_org: req.github_org,
                github_team: req.github_team,
                limits,
                destroy_when_idle: req.destroy_when_idle,
                created_at: now,
                updated_at: now,
            })
            .await?;
        self.audit(
            caller,
            Level::Admin,
            "org.create",
            org.name.as_str(),
            "created",
            serde_json::to_value(&org).unwrap_or_default(),
        )
        .await;
        Ok(organization_view(org))
    }

    /// Organizations the caller belongs to (an administrator: all).
    pub async fn organizations(&self, caller: &Caller) -> Result<Vec<OrganizationView>> {
        caller.require(scope::CLUSTERS_READ)?;
        Ok(self
            .store
            .organizations()
            .await?
            .into_iter()
            .filter(|o| caller.identity.admin || caller.identity.organizations.contains(&o.name))
            .map(organization_view)
            .collect())
    }

    pub async fn organization(&self, caller: &Caller, name: &str) -> Result<OrganizationView> {
        caller.require(scope::CLUSTERS_READ)?;
        let org = self.org(name).await?;
        if caller.level_for(&org.name) < Level::OrgMember {
            return Err(Error::forbidden(format!(
                "only members of organization {} and site administrators may see it",
                org.name
            )));
        }
        Ok(organization_view(org))
    }

    /// Changes an organization's GitHub mapping or limits (administrators).
    pub async fn update_organization(
        &self,
        caller: &Caller,
        name: &str,
        req: UpdateOrganization,
    ) -> Result<OrganizationView> {
        caller.require(scope::ORGS_WRITE)?;
        caller.require_admin()?;
        let org = self.org(name).await?;
        check_github_name("github_org", &req.github_org)?;
        check_github_name("github_team", &req.github_team)?;
        let limits = match &req.limits {
            Some(update) => changed_limits(org.limits, update)?,
            None => org.limits,
        };
        let updated = Organization {
            github_org: req.github_org.or(org.github_org),
            github_team: req.github_team.or(org.github_team),
            limits,
            destroy_when_idle: req.destroy_when_idle.unwrap_or(org.destroy_when_idle),
            updated_at: Utc::now(),
            ..org
        };
        let updated = self.store.update_organization(updated).await?;
        self.audit(
            caller,
            Level::Admin,
            "org.update",
            updated.name.as_str(),
            "updated",
            serde_json::to_value(&updated).unwrap_or_default(),
        )
        .await;
        Ok(organization_view(updated))
    }

    /// The memberships recorded in Slipway (requested and approved). Members
    /// through GitHub are not listed: GitHub knows them.
    pub async fn members(&self, caller: &Caller, name: &str) -> Result<Vec<MembershipView>> {
        caller.require(scope::CLUSTERS_READ)?;
        let org = self.org(name).await?;
        if caller.level_for(&org.name) < Level::OrgMember {
            return Err(Error::forbidden(format!(
                "only members of organization {} and site administrators may see its members",
                org.name
            )));
        }
        Ok(self
            .store
            .memberships(&org.name)
            .await?
            .into_iter()
            .map(membership_view)
            .collect())
    }

    /// The caller asks to join an organization.
    pub async fn request_membership(&self, caller: &Caller, name: &str) -> Result<MembershipView> {
        caller.require(scope::ORGS_WRITE)?;
        let org = self.org(name).await?;
        if caller.subject().is_slipway() {
            return Err(Error::invalid(
                "login",
                "only people signed in with GitHub may ask to join an organization",
            ));
        }
        if let Some(existing) = self.store.membership(&org.name, caller.subject()).await? {
            return Ok(membership_view(existing));
        }
        let membership = Membership {
            organization: org.name.clone(),
            subject: caller.subject().clone(),
            name: Some(caller.name().to_owned()),
            role: MembershipRole::Member,
            state: MembershipState::Requested,
            requested_at: Utc::now(),
            decided_by: None,
            decided_at: None,
        };
        self.store.put_membership(membership.clone()).await?;
        self.audit(
            caller,
            caller.level_for(&org.name),
            "org.request",
            org.name.as_str(),
            "requested",
            serde_json::json!({}),
        )
        .await;
        Ok(membership_view(membership))
    }

    /// A person named by subject (`github:<id>`) or by the GitHub login
    /// they last signed in with. Only people who signed in can be named: a
    /// login alone may later belong to someone else.
    async fn person(&self, who: &str) -> Result<(Subject, String)> {
        let unknown = || {
            Error::not_found(format!(
                "{who} has not signed in to Slipway: they must sign in once before they can be named"
            ))
        };
        let user = match Subject::parse(who) {
            Ok(subject) => self.store.user(&subject).await?,
            Err(_) => self.store.user_by_login(who).await?,
        }
        .ok_or_else(unknown)?;
        Ok((user.subject, user.login))
    }

    /// An owner or administrator approves a member (or makes one an owner).
    pub async fn approve_membership(
        &self,
        caller: &Caller,
        name: &str,
        who: &str,
        req: ApproveMembership,
    ) -> Result<MembershipView> {
        let org = self.org(name).await?;
        self.require_owner(caller, &org.name).await?;
        let (subject, login) = self.person(who).await?;
        let now = Utc::now();
        let existing = self.store.membership(&org.name, &subject).await?;
        if existing.is_none() && !caller.identity.admin {
            return Err(Error::not_found(format!(
                "{login} has not asked to join organization {}",
                org.name
            )));
        }
        let membership = Membership {
            organization: org.name.clone(),
            subject: subject.clone(),
            name: Some(login.clone()),
            role: if req.owner {
                MembershipRole::Owner
            } else {
                MembershipRole::Member
            },
            state: MembershipState::Approved,
            requested_at: existing.map_or(now, |m| m.requested_at),
            decided_by: Some(caller.subject().to_string()),
            decided_at: Some(now),
        };
        self.store.put_membership(membership.clone()).await?;
        self.audit(
            caller,
            caller.level_for(&org.name),
            "org.approve",
            org.name.as_str(),
            "approved",
            serde_json::json!({"subject": subject, "login": login, "owner": req.owner}),
        )
        .await;
        Ok(membership_view(membership))
    }

    /// An owner or administrator removes a member (anyone may leave). If
    /// that ends the person's membership (GitHub grants no other), the
    /// cluster tokens they were issued for the organization's clusters are
    /// revoked in the same transaction: every gateway refuses them within
    /// its refresh period.
    pub async fn remove_membership(&self, caller: &Caller, name: &str, who: &str) -> Result<()> {
        let org = self.org(name).await?;
        let (subject, login) = self.person(who).await?;
        if subject != *caller.subject() {
            self.require_owner(caller, &org.name).await?;
        }
        let now = Utc::now();
        let revocation = self
            .withdrawn_by_removal(&org.name, &subject)
            .await?
            .then(|| self.cluster_token_revocation(&subject, Some(org.name.clone()), now));
        if !self
            .store
            .remove_membership(&org.name, &subject, revocation.as_ref())
            .await?
        {
            return Err(Error::not_found(format!(
                "{login} has no membership of organization {} recorded in Slipway",
                org.name
            )));
        }
        self.audit(
            caller,
            caller.level_for(&org.name),
            "org.remove",
            org.name.as_str(),
            "removed",
            serde_json::json!({
                "subject": subject,
                "login": login,
                "cluster_tokens_revoked": revocation.is_some(),
            }),
        )
        .await;
        Ok(())
    }

    /// Whether removing `subject`'s membership of `org` takes access away
    /// (core's rule on who they are with and without it).
    async fn withdrawn_by_removal(&self, org: &OrgName, subject: &Subject) -> Result<bool> {
        let Some(user) = self.store.user(subject).await? else {
            return Ok(false);
        };
        let approved = approved_organizations(self, subject).await?;
        let mut without = approved.clone();
        without.remove(org);
        Ok(withdrawn(
            &identity_from(&user, &approved),
            &identity_from(&user, &without),
        ) != Withdrawn::Nothing)
    }
}

/// Organizations declared in the configuration: created if missing, their
/// mapping and limits updated otherwise.
pub async fn apply_configured_organizations(service: &Service) -> anyhow::Result<()> {
    let app = service;
    for declared in &app.config.auth.organizations {
        let name = OrgName::parse(&declared.name)?;
        let now = Utc::now();
        let existing = app.store.organization(&name).await?;
        let org = Organization {
            name: name.clone(),
            github_org: declared.github_org.clone(),
            github_team: declared.github_team.clone(),
            limits: declared.limits.unwrap_or_default(),
            destroy_when_idle: declared.destroy_when_idle,
            created_at: existing.as_ref().map_or(now, |o| o.created_at),
            updated_at: now,
        };
        org.limits.check()?;
        match existing {
            Some(_) => app.store.update_organization(org).await?,
            None => app.store.create_organization(org).await?,
        };
    }
    Ok(())
}
