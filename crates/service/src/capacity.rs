//! Capacity requests (DESIGN.md §3.8): a member asks for N nodes on a
//! cluster of their organization for a while; the cluster follows the sum
//! over people of each one's largest unexpired request. Anyone lists and
//! withdraws their own; owners and administrators all of them.

use chrono::{TimeDelta, Utc};
use slipway_api::types::*;
use slipway_core::capacity::check_request;
use slipway_core::duration::parse_duration;
use slipway_core::{CapacityRequest, ClusterName, Level};
use slipway_store::{StoreError, StoredCapacityRequest};
use slipway_worker::capacity::{Followed, apply};

use crate::caller::{Caller, scope};
use crate::error::{Error, Result};
use crate::{Service, parse_cluster_name};

fn view(stored: &StoredCapacityRequest) -> CapacityRequestView {
    let r = &stored.request;
    CapacityRequestView {
        id: r.id.clone(),
        cluster: r.cluster.to_string(),
        subject: r.subject.clone(),
        login: stored.name.clone(),
        nodes: r.nodes,
        expires_at: r.expires_at,
        created_at: r.created_at,
    }
}

impl Service {
    /// The cluster, if the caller may ask for its capacity: a member of its
    /// organization, or an administrator.
    async fn capacity_cluster(&self, caller: &Caller, name: &str) -> Result<ClusterName> {
        caller.require(scope::CLUSTERS_WRITE)?;
        let snap = self.snapshot(&parse_cluster_name(name)?).await?;
        let org = &snap.cluster.organization;
        if caller.level_for(org) < Level::OrgMember {
            return Err(Error::forbidden(format!(
                "only members of organization {org} and site administrators may ask for capacity on its clusters"
            )));
        }
        Ok(snap.cluster.name)
    }

    /// Whether the caller sees every request of the cluster's organization.
    async fn sees_all_requests(&self, caller: &Caller, cluster: &ClusterName) -> Result<bool> {
        if caller.identity.admin {
            return Ok(true);
        }
        let org = self.snapshot(cluster).await?.cluster.organization;
        self.is_owner(caller, &org).await
    }

    /// The cluster's active requests the caller may see.
    async fn visible_requests(
        &self,
        caller: &Caller,
        cluster: &ClusterName,
    ) -> Result<Vec<CapacityRequestView>> {
        let all = self.sees_all_requests(caller, cluster).await?;
        let now = Utc::now();
        Ok(self
            .store
            .capacity_requests(cluster)
            .await?
            .iter()
            .filter(|r| r.request.is_active(now))
            .filter(|r| all || r.request.subject == caller.subject().as_str())
            .map(view)
            .collect())
    }

    /// A capacity request: `nodes` for `ttl`. Redundant if the same person
    /// asked for the same size until the same time; otherwise the cluster
    /// follows at once (within the organization's limits and budget).
    pub async fn request_capacity(
        &self,
        caller: &Caller,
        name: &str,
        req: CreateCapacityRequest,
    ) -> Result<CapacityResponse> {
        let cluster = self.capacity_cluster(caller, name).await?;
        let now = Utc::now();
        let expires_at = match (&req.ttl, req.until) {
            (Some(ttl), None) => {
                let ttl = parse_duration("ttl", ttl)?;
                now + TimeDelta::from_std(ttl).map_err(|_| Error::invalid("ttl", "is too long"))?
            }
            (None, Some(until)) => until,
            _ => return Err(Error::invalid("ttl", "give exactly one of ttl and until")),
        };
        // Whole seconds: a repeated request is recognized as the same one.
        let expires_at =
            chrono::DateTime::from_timestamp(expires_at.timestamp(), 0).unwrap_or(expires_at);
        check_request(req.nodes, expires_at - now, &self.config.accounts.capacity).map_err(
            |e| match req.until {
                Some(_) if e.field == "ttl" => e.for_field("until"),
                _ => e,
            },
        )?;
        let stored = StoredCapacityRequest {
            request: CapacityRequest {
                id: format!("cap_{}", uuid::Uuid::now_v7().simple()),
                cluster: cluster.clone(),
                subject: caller.subject().to_string(),
                nodes: req.nodes,
                expires_at,
                created_at: now,
            },
            name: caller.name().to_owned(),
        };
        if !self.store.add_capacity_request(&stored).await? {
            return Ok(CapacityResponse {
                result: CapacityResult::Redundant,
                request: None,
                operation: None,
                refusal: None,
                requests: self.visible_requests(caller, &cluster).await?,
            });
        }
        self.audit(
            caller,
            caller.level_for(&self.snapshot(&cluster).await?.cluster.organization),
            "capacity.request",
            cluster.as_str(),
            "requested",
            serde_json::json!({"id": stored.request.id, "nodes": req.nodes, "expires_at": expires_at}),
        )
        .await;
        let mut response = self.follow(caller, &cluster).await?;
        response.request = Some(view(&stored));
        Ok(response)
    }

    /// The cluster follows its requests now; the answer says how.
    async fn follow(&self, caller: &Caller, cluster: &ClusterName) -> Result<CapacityResponse> {
        let followed = apply(
            self.store.as_ref(),
            cluster,
            &self.config.accounts.budget,
            caller.subject(),
            caller.name(),
        )
        .await;
        let (result, operation, refusal) = match followed {
            Ok(Followed::Queued(op)) => (CapacityResult::Queued, Some(op.to_string()), None),
            Ok(Followed::Waiting(op)) => (CapacityResult::Waiting, Some(op.to_string()), None),
            Ok(Followed::Nothing) => (CapacityResult::Unchanged, None, None),
            Err(StoreError::Refused(refusal)) => {
                let e = Error::from(refusal);
                (
                    CapacityResult::Refused,
                    None,
                    Some(ErrorDetail {
                        code: e.code,
                        message: e.message,
                        field: e.field,
                        operation: e.operation,
                    }),
                )
            }
            Err(e) => return Err(e.into()),
        };
        Ok(CapacityResponse {
            result,
            request: None,
            operation,
            refusal,
            requests: self.visible_requests(caller, cluster).await?,
        })
    }

    /// The cluster's active requests: the caller's own (owners and
    /// administrators: all).
    pub async fn capacity_requests(
        &self,
        caller: &Caller,
        name: &str,
    ) -> Result<Vec<CapacityRequestView>> {
        let cluster = self.capacity_cluster(caller, name).await?;
        self.visible_requests(caller, &cluster).await
    }

    /// Withdraws a request (one's own; owners and administrators: any); the
    /// cluster follows what remains.
    pub async fn withdraw_capacity(
        &self,
        caller: &Caller,
        name: &str,
        id: &str,
    ) -> Result<CapacityResponse> {
        let cluster = self.capacity_cluster(caller, name).await?;
        let found = self
            .store
            .capacity_requests(&cluster)
            .await?
            .into_iter()
            .find(|r| r.request.id == id)
            .ok_or_else(|| {
                Error::not_found(format!("cluster {cluster} has no capacity request {id}"))
            })?;
        if found.request.subject != caller.subject().as_str()
            && !self.sees_all_requests(caller, &cluster).await?
        {
            return Err(Error::forbidden(
                "only whoever asked, owners of the organization and administrators may withdraw a request",
            ));
        }
        self.store.withdraw_capacity_request(id).await?;
        self.audit(
            caller,
            caller.level_for(&self.snapshot(&cluster).await?.cluster.organization),
            "capacity.withdraw",
            cluster.as_str(),
            "withdrawn",
            serde_json::json!({"id": id}),
        )
        .await;
        let mut response = self.follow(caller, &cluster).await?;
        response.request = Some(view(&found));
        Ok(response)
    }
}
