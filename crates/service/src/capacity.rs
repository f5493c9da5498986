//! Capacity requests (docs/domain.md §8): a member asks for N nodes on a
//! cluster of their organization for a while; the cluster follows the sum
//! over people of each one's largest unexpired request. Anyone lists and
//! withdraws their own; owners and administrators all of them.

use chrono::Utc;
use slipway_accounts::capacity::{Followed, follow, pending};
use slipway_api::types::*;
use slipway_core::access::Action;
use slipway_core::capacity::request_expiry;
use slipway_core::duration::parse_duration;
use slipway_core::{CapacityRequest, CapacityWait, ClusterName};

use crate::Service;
use crate::caller::{Caller, scope};
use crate::error::{Error, Result};

pub(crate) fn wait_view(wait: &CapacityWait) -> CapacityWaitView {
    CapacityWaitView {
        code: wait.code.clone(),
        message: wait.message.clone(),
        since: wait.since,
    }
}

fn view(request: &CapacityRequest) -> CapacityRequestView {
    CapacityRequestView {
        id: request.id.clone(),
        cluster: request.cluster.to_string(),
        subject: request.subject.clone(),
        login: request.name.clone(),
        nodes: request.nodes,
        expires_at: request.expires_at,
        created_at: request.created_at,
        state: match request.waiting {
            Some(_) => CapacityState::Waiting,
            None => CapacityState::Active,
        },
        waiting: request.waiting.as_ref().map(wait_view),
    }
}

impl Service {
    /// The cluster, if the caller may ask for its capacity: a member of its
    /// organization, or an administrator (another organization's private
    /// cluster is answered as one that does not exist).
    async fn capacity_cluster(&self, caller: &Caller, name: &str) -> Result<ClusterName> {
        caller.require(scope::CLUSTERS_WRITE)?;
        let snap = self
            .authorized_snapshot(caller, name, Action::RequestCapacity)
            .await?;
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
            .filter(|r| r.is_active(now))
            .filter(|r| all || r.subject == caller.subject().as_str())
            .map(view)
            .collect())
    }

    /// A capacity request: `nodes` for `ttl` (or until `until`). Redundant
    /// if the same person asked for the same size until the same time;
    /// otherwise the cluster follows at once — within the organization's
    /// limits and budget: a change they refuse leaves the request waiting,
    /// with the reason, until the keeper can make it.
    pub async fn request_capacity(
        &self,
        caller: &Caller,
        name: &str,
        req: CreateCapacityRequest,
    ) -> Result<CapacityResponse> {
        let cluster = self.capacity_cluster(caller, name).await?;
        let now = Utc::now();
        let ttl = req
            .ttl
            .as_deref()
            .map(|ttl| parse_duration("ttl", ttl))
            .transpose()?;
        let expires_at = request_expiry(
            req.nodes,
            ttl,
            req.until,
            now,
            &self.config.accounts.capacity,
        )?;
        let request = CapacityRequest {
            id: format!("cap_{}", uuid::Uuid::now_v7().simple()),
            cluster: cluster.clone(),
            subject: caller.subject().to_string(),
            name: caller.name().to_owned(),
            nodes: req.nodes,
            expires_at,
            created_at: now,
            waiting: Some(pending(now)),
        };
        if !self.store.add_capacity_request(&request).await? {
            return Ok(CapacityResponse {
                result: CapacityResult::Redundant,
                request: None,
                operation: None,
                waiting: None,
                requests: self.visible_requests(caller, &cluster).await?,
            });
        }
        self.audit(
            caller,
            caller.level_for(&self.snapshot(&cluster).await?.cluster.organization),
            "capacity.request",
            cluster.as_str(),
            "requested",
            serde_json::json!({"id": request.id, "nodes": req.nodes, "expires_at": expires_at}),
        )
        .await;
        let mut response = self.follow(caller, &cluster).await?;
        response.request = response
            .requests
            .iter()
            .find(|r| r.id == request.id)
            .cloned()
            .or_else(|| Some(view(&request)));
        Ok(response)
    }

    /// The cluster follows its requests now; the answer says how.
    async fn follow(&self, caller: &Caller, cluster: &ClusterName) -> Result<CapacityResponse> {
        let followed = follow(self.store.as_ref(), cluster, &self.config.accounts.budget).await?;
        let (result, operation, waiting) = match followed {
            Followed::Queued(op) => (CapacityResult::Queued, Some(op.to_string()), None),
            Followed::Waiting(wait) => (CapacityResult::Waiting, None, Some(wait_view(&wait))),
            Followed::Nothing => (CapacityResult::Unchanged, None, None),
        };
        Ok(CapacityResponse {
            result,
            request: None,
            operation,
            waiting,
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
            .find(|r| r.id == id)
            .ok_or_else(|| {
                Error::not_found(format!("cluster {cluster} has no capacity request {id}"))
            })?;
        if found.subject != caller.subject().as_str()
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
