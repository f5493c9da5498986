//! Organizations: created by administrators, mapped to a GitHub
//! organization (and optionally a team), with limits; memberships requested
//! by a person and approved (or removed) by an owner or an administrator.

use chrono::Utc;
use slipway_api::types::*;
use slipway_core::duration::parse_duration;
use slipway_core::{Level, Limits, OrgName};
use slipway_store::{Membership, MembershipRole, MembershipState, Organization};

use crate::app::App;
use crate::auth::{Caller, scope};
use crate::error::ApiError;

fn organization_view(o: Organization) -> OrganizationView {
    OrganizationView {
        name: o.name.to_string(),
        github_org: o.github_org,
        github_team: o.github_team,
        limits: o.limits,
        created_at: o.created_at,
    }
}

fn membership_view(m: Membership) -> MembershipView {
    MembershipView {
        organization: m.organization.to_string(),
        login: m.login,
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

fn lifetime(field: &str, value: &str) -> Result<u64, ApiError> {
    Ok(parse_duration(field, value)?.as_secs())
}

/// Applies a partial change to limits, and checks the result.
fn changed_limits(limits: Limits, update: &UpdateLimits) -> Result<Limits, ApiError> {
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
    };
    changed
        .check()
        .map_err(|e| ApiError::from(e.clone().for_field(format!("limits.{}", e.field))))?;
    Ok(changed)
}

fn check_github_name(field: &str, value: &Option<String>) -> Result<(), ApiError> {
    if let Some(v) = value {
        let ok = !v.is_empty()
            && v.len() <= 100
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.');
        if !ok {
            return Err(ApiError::invalid(
                field,
                "must be a GitHub name: letters, digits, '-', '_' and '.'",
            ));
        }
    }
    Ok(())
}

impl App {
    async fn org(&self, name: &str) -> Result<Organization, ApiError> {
        let name = OrgName::parse(name)?;
        self.store
            .organization(&name)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("organization {name} does not exist")))
    }

    /// An owner of the organization (by an approved owner membership) or an
    /// administrator.
    async fn require_owner(&self, caller: &Caller, org: &OrgName) -> Result<(), ApiError> {
        caller.require(scope::ORGS_WRITE)?;
        if caller.identity.admin {
            return Ok(());
        }
        let owner = self
            .store
            .membership(org, caller.login())
            .await?
            .is_some_and(|m| {
                m.role == MembershipRole::Owner && m.state == MembershipState::Approved
            });
        if owner {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "only owners of organization {org} and site administrators may decide on its members"
            )))
        }
    }

    pub async fn create_organization(
        &self,
        caller: &Caller,
        req: CreateOrganization,
    ) -> Result<OrganizationView, ApiError> {
        caller.require(scope::ORGS_WRITE)?;
        caller.require_admin()?;
        let name = OrgName::parse(&req.name)?;
        check_github_name("github_org", &req.github_org)?;
        check_github_name("github_team", &req.github_team)?;
        if req.github_team.is_some() && req.github_org.is_none() {
            return Err(ApiError::invalid("github_team", "needs github_org"));
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
    pub async fn organizations(&self, caller: &Caller) -> Result<Vec<OrganizationView>, ApiError> {
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

    pub async fn organization(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<OrganizationView, ApiError> {
        caller.require(scope::CLUSTERS_READ)?;
        let org = self.org(name).await?;
        if caller.level_for(&org.name) < Level::OrgMember {
            return Err(ApiError::forbidden(format!(
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
    ) -> Result<OrganizationView, ApiError> {
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
    pub async fn members(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<Vec<MembershipView>, ApiError> {
        caller.require(scope::CLUSTERS_READ)?;
        let org = self.org(name).await?;
        if caller.level_for(&org.name) < Level::OrgMember {
            return Err(ApiError::forbidden(format!(
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
    pub async fn request_membership(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<MembershipView, ApiError> {
        caller.require(scope::ORGS_WRITE)?;
        let org = self.org(name).await?;
        if let Some(existing) = self.store.membership(&org.name, caller.login()).await? {
            return Ok(membership_view(existing));
        }
        let membership = Membership {
            organization: org.name.clone(),
            login: caller.login().to_owned(),
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

    /// An owner or administrator approves a member (or makes one an owner).
    pub async fn approve_membership(
        &self,
        caller: &Caller,
        name: &str,
        login: &str,
        req: ApproveMembership,
    ) -> Result<MembershipView, ApiError> {
        let org = self.org(name).await?;
        self.require_owner(caller, &org.name).await?;
        let now = Utc::now();
        let existing = self.store.membership(&org.name, login).await?;
        if existing.is_none() && !caller.identity.admin {
            return Err(ApiError::not_found(format!(
                "{login} has not asked to join organization {}",
                org.name
            )));
        }
        let membership = Membership {
            organization: org.name.clone(),
            login: login.to_owned(),
            role: if req.owner {
                MembershipRole::Owner
            } else {
                MembershipRole::Member
            },
            state: MembershipState::Approved,
            requested_at: existing.map_or(now, |m| m.requested_at),
            decided_by: Some(caller.login().to_owned()),
            decided_at: Some(now),
        };
        self.store.put_membership(membership.clone()).await?;
        self.audit(
            caller,
            caller.level_for(&org.name),
            "org.approve",
            org.name.as_str(),
            "approved",
            serde_json::json!({"login": login, "owner": req.owner}),
        )
        .await;
        Ok(membership_view(membership))
    }

    /// An owner or administrator removes a member (anyone may leave).
    pub async fn remove_membership(
        &self,
        caller: &Caller,
        name: &str,
        login: &str,
    ) -> Result<(), ApiError> {
        let org = self.org(name).await?;
        if login != caller.login() {
            self.require_owner(caller, &org.name).await?;
        }
        if !self.store.remove_membership(&org.name, login).await? {
            return Err(ApiError::not_found(format!(
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
            serde_json::json!({"login": login}),
        )
        .await;
        Ok(())
    }
}

/// Organizations declared in the configuration: created if missing, their
/// mapping and limits updated otherwise.
pub async fn apply_configured_organizations(app: &App) -> anyhow::Result<()> {
    for declared in &app.config.auth.organizations {
        let name = OrgName::parse(&declared.name)?;
        let now = Utc::now();
        let existing = app.store.organization(&name).await?;
        let org = Organization {
            name: name.clone(),
            github_org: declared.github_org.clone(),
            github_team: declared.github_team.clone(),
            limits: declared.limits.unwrap_or_default(),
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
