//! Operations: see them, list them page by page, read and follow their
//! logs, and cancel them — a cancel is recorded durably and reaches
//! whichever worker runs the operation.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use futures::Stream;
use slipway_api::types::*;
use slipway_core::access::Action;
use slipway_core::event::kinds;
use slipway_core::{ClusterName, Operation, OperationId};
use slipway_store::{CancelOutcome, OperationFilter};
use tokio::sync::broadcast;

use crate::caller::{Caller, scope};
use crate::clusters::page_limit;
use crate::error::{Error, Kind, Result};
use crate::tails::{FollowedEvent, Stretch, Tail};
use crate::{Service, operation_view, parse_operation_id};

/// The most events one read of a log returns.
const EVENTS_PAGE: u32 = 100_000;

impl Service {
    /// An operation, if the caller may do `action` to its cluster.
    pub(crate) async fn authorized_operation(
        &self,
        caller: &Caller,
        id: &str,
        action: Action,
    ) -> Result<Operation> {
        let id = parse_operation_id(id)?;
        let missing = || Error::not_found(format!("operation {id} does not exist"));
        let op = self.store.operation(&id).await?.ok_or_else(missing)?;
        // An operation of a cluster the caller may not see (or that was
        // removed) is answered as one that does not exist.
        match self
            .authorized_snapshot(caller, op.cluster.as_str(), action)
            .await
        {
            Ok(_) => Ok(op),
            Err(e) if e.kind == Kind::NotFound => Err(missing()),
            Err(e) => Err(e),
        }
    }

    pub async fn operation(&self, caller: &Caller, id: &str) -> Result<OperationView> {
        caller.require(scope::CLUSTERS_READ)?;
        Ok(operation_view(
            &self.authorized_operation(caller, id, Action::View).await?,
        ))
    }

    /// What a listing covers: the named cluster, if the caller may see it,
    /// or — for administrators only — every cluster (`None`).
    pub(crate) async fn listing_scope(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
    ) -> Result<Option<ClusterName>> {
        caller.require(scope::CLUSTERS_READ)?;
        match cluster {
            Some(name) => Ok(Some(
                self.authorized_snapshot(caller, name, Action::View)
                    .await?
                    .cluster
                    .name,
            )),
            None => {
                caller.require_admin()?;
                Ok(None)
            }
        }
    }

    /// A page of operations, newest first: of one cluster, or (for
    /// administrators) of all.
    pub async fn operations(
        &self,
        caller: &Caller,
        cluster: Option<&str>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<OperationPage> {
        let cluster = self.listing_scope(caller, cluster).await?;
        let limit = page_limit(limit)?;
        let before = cursor
            .map(|c| OperationId::parse(c).map_err(|e| e.for_field("cursor")))
            .transpose()?;
        let ops = self
            .store
            .operations(&OperationFilter {
                cluster,
                before,
                active_only: false,
                limit,
            })
            .await?;
        let next_cursor = (ops.len() == limit as usize)
            .then(|| ops.last().map(|op| op.id.to_string()))
            .flatten();
        Ok(OperationPage {
            operations: ops.iter().map(operation_view).collect(),
            next_cursor,
        })
    }

    /// An operation's log after event `after`.
    pub async fn events(&self, caller: &Caller, id: &str, after: u64) -> Result<EventPage> {
        let operation = self.operation(caller, id).await?;
        let events = self
            .store
            .events(&parse_operation_id(id)?, after, EVENTS_PAGE)
            .await?;
        Ok(EventPage { operation, events })
    }

    /// An operation's log after event `after`, then every event as it is
    /// stored, ending after the operation's last.
    pub async fn follow_operation(
        self: Arc<Self>,
        caller: &Caller,
        id: &str,
        after: u64,
    ) -> Result<impl Stream<Item = Arc<FollowedEvent>> + Send + 'static> {
        self.operation(caller, id).await?;
        let follow = Follow::new(self, parse_operation_id(id)?, after);
        Ok(futures::stream::unfold(follow, |mut follow| async move {
            let event = follow.next().await?;
            Some((event, follow))
        }))
    }

    /// The archived log of a finished operation (JSON lines), archiving it
    /// now if that has not happened yet.
    pub async fn archived_log(&self, caller: &Caller, id: &str) -> Result<bytes::Bytes> {
        caller.require(scope::CLUSTERS_READ)?;
        let op = self.authorized_operation(caller, id, Action::View).await?;
        let unavailable = |e: &dyn std::fmt::Display| {
            tracing::error!(error = %e, location = %self.storage.location, "object storage failed");
            Error::unavailable("object storage is unavailable")
        };
        match self.storage.log(&op).await {
            Ok(Some(log)) => Ok(log),
            Ok(None) if op.state.is_terminal() => self
                .storage
                .archive_log(self.store.as_ref(), &op)
                .await
                .map_err(|e| unavailable(&e)),
            Ok(None) => Err(Error::conflict(
                "still_running",
                format!(
                    "operation {} is still {}: its log is archived when it ends (follow it with the events)",
                    op.id, op.state
                ),
            )),
            Err(e) => Err(unavailable(&e)),
        }
    }

    /// Cancels an operation: a queued one at once; a running one by a
    /// durable request that whichever worker holds its lease acts on
    /// (SIGINT to Terraform, then a kill after the grace period). One that
    /// had already ended is a conflict (`already_ended`, naming it): the
    /// answer says the cancel came too late.
    pub async fn cancel(&self, caller: &Caller, id: &str) -> Result<OperationView> {
        caller.require(scope::CLUSTERS_WRITE)?;
        let op = self
            .authorized_operation(caller, id, Action::Manage)
            .await?;
        let outcome = self
            .store
            .request_cancel(&op.id, caller.subject(), caller.name(), Utc::now())
            .await?;
        let result = match &outcome {
            CancelOutcome::Cancelled(_) => "cancelled",
            CancelOutcome::Requested(_) => "requested",
            CancelOutcome::AlreadyOver(_) => "already_over",
        };
        let level = caller.level_for(&self.snapshot(&op.cluster).await?.cluster.organization);
        self.audit(
            caller,
            level,
            "operation.cancel",
            op.cluster.as_str(),
            result,
            serde_json::json!({"operation": op.id}),
        )
        .await;
        match outcome {
            CancelOutcome::Cancelled(op) | CancelOutcome::Requested(op) => Ok(operation_view(&op)),
            // Too late: nothing was cancelled, and the caller is told so.
            CancelOutcome::AlreadyOver(op) => {
                let mut e = Error::conflict(
                    "already_ended",
                    format!(
                        "too late: operation {} ({} of {}) had already ended ({}); nothing was cancelled",
                        op.id, op.kind, op.cluster, op.state
                    ),
                );
                e.operation = Some(op.id.to_string());
                Err(e)
            }
        }
    }
}

/// Follows one operation's log: reads what is stored, then takes what the
/// operation's [`Tail`](crate::tails::Tail) hands on, reading the store
/// again whenever it falls behind.
struct Follow {
    service: Arc<Service>,
    id: OperationId,
    last: u64,
    pending: VecDeque<Arc<FollowedEvent>>,
    /// Held while following: the tail reads as long as someone follows.
    _tail: Arc<Tail>,
    stretches: broadcast::Receiver<Stretch>,
    /// Read the store from `last` before taking stretches again.
    behind: bool,
    done: bool,
}

impl Follow {
    fn new(service: Arc<Service>, id: OperationId, after: u64) -> Self {
        let tail = service
            .tails
            .of(&service.store, &service.shutdown, id.clone(), after);
        Self {
            stretches: tail.subscribe(),
            _tail: tail,
            service,
            id,
            last: after,
            pending: VecDeque::new(),
            behind: true,
            done: false,
        }
    }

    async fn next(&mut self) -> Option<Arc<FollowedEvent>> {
        let store = self.service.store.clone();
        loop {
            if let Some(event) = self.pending.pop_front() {
                if event.seq <= self.last {
                    continue;
                }
                self.last = event.seq;
                self.done = event.kind == kinds::FINISHED;
                return Some(event);
            }
            if self.done {
                return None;
            }
            if self.behind {
                match store.events(&self.id, self.last, 500).await {
                    Ok(events) if !events.is_empty() => {
                        self.pending
                            .extend(events.into_iter().map(FollowedEvent::new));
                        continue;
                    }
                    Ok(_) => self.behind = false,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot read events; retrying");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        continue;
                    }
                }
                // All stored is shown: an operation over whose log has no
                // finish ends here.
                if let Ok(Some(op)) = store.operation(&self.id).await
                    && op.state.is_terminal()
                    && store
                        .events(&self.id, self.last, 1)
                        .await
                        .is_ok_and(|e| e.is_empty())
                {
                    return None;
                }
            }
            tokio::select! {
                stretch = self.stretches.recv() => match stretch {
                    Ok(events) if events.is_empty() => self.behind = true,
                    Ok(events) => self
                        .pending
                        .extend(events.iter().filter(|e| e.seq > self.last).cloned()),
                    Err(broadcast::error::RecvError::Lagged(_)) => self.behind = true,
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                () = self.service.shutdown.cancelled() => return None,
            }
        }
    }
}

impl Error {
    /// Whether the error is a client's (4xx-like): a stream ends on one.
    pub fn is_client_error(&self) -> bool {
        !matches!(self.kind, Kind::Unavailable)
    }
}
