//! One reader per followed operation, whatever the number of followers: a
//! [`Tail`] reads each new stretch of an operation's log from the store
//! once, when the store says events arrived, and hands it to every
//! follower of this process. A thousand people following one deploy cost
//! one read per batch of events, not a thousand, and only the tails listen
//! to the store's notifications.
//!
//! A follower subscribes to the tail before it reads what is stored, so it
//! misses nothing between the two, and keeps only events past its own
//! cursor; one that falls behind (the channel lagged) reads the store
//! again from its cursor.
//!
//! The followers share each event, not copies of it ([`FollowedEvent`]):
//! its JSON is encoded once, by the first follower that sends it, and
//! every other sends the same text.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;
use slipway_core::OperationId;
use slipway_core::event::{Event, kinds};
use slipway_store::{Notification, Store};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// Stretches of log a slow follower may fall behind by before it reads the
/// store itself.
const BACKLOG: usize = 256;
/// The most events one read takes.
const READ: u32 = 500;
/// How long a tail waits for a notification before it looks anyway (a
/// notification from another replica may be lost while it reconnects).
const RECHECK: Duration = Duration::from_secs(10);

/// A stretch of an operation's log, shared by its followers.
pub(crate) type Stretch = Arc<[Arc<FollowedEvent>]>;

/// An event of a followed log, as every follower in this process shares
/// it; it reads as the [`Event`] it is.
#[derive(Debug)]
pub struct FollowedEvent {
    event: Event,
    json: OnceLock<String>,
}

impl FollowedEvent {
    pub(crate) fn new(event: Event) -> Arc<Self> {
        Arc::new(Self {
            event,
            json: OnceLock::new(),
        })
    }

    /// The event as JSON (the API's `Event`), encoded at most once.
    pub fn json(&self) -> &str {
        self.json
            .get_or_init(|| serde_json::to_string(&self.event).expect("events serialize"))
    }
}

impl std::ops::Deref for FollowedEvent {
    type Target = Event;

    fn deref(&self) -> &Event {
        &self.event
    }
}

/// The tails of the operations followed in this process.
#[derive(Default)]
pub struct Tails(Mutex<HashMap<OperationId, Weak<Tail>>>);

/// The reader of one operation's log.
pub(crate) struct Tail {
    stretches: broadcast::Sender<Stretch>,
}

impl Tail {
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Stretch> {
        self.stretches.subscribe()
    }
}

impl Tails {
    /// The tail of `operation`, started from `after` if none runs; it ends
    /// with the operation's log, or when no one follows it any more.
    pub(crate) fn of(
        &self,
        store: &Arc<dyn Store>,
        shutdown: &CancellationToken,
        operation: OperationId,
        after: u64,
    ) -> Arc<Tail> {
        let mut tails = self.0.lock();
        if let Some(tail) = tails.get(&operation).and_then(Weak::upgrade) {
            return tail;
        }
        let (stretches, _) = broadcast::channel(BACKLOG);
        let tail = Arc::new(Tail { stretches });
        tails.retain(|_, t| t.strong_count() > 0);
        tails.insert(operation.clone(), Arc::downgrade(&tail));
        tokio::spawn(read(
            store.clone(),
            shutdown.clone(),
            operation,
            after,
            Arc::downgrade(&tail),
        ));
        tail
    }
}

/// Reads the operation's new events whenever the store says some arrived,
/// and hands them to the followers, until the log ends or no one follows.
async fn read(
    store: Arc<dyn Store>,
    shutdown: CancellationToken,
    operation: OperationId,
    mut last: u64,
    tail: Weak<Tail>,
) {
    let mut notifications = store.subscribe();
    loop {
        // Everything stored past what was handed on. A read that comes
        // back short has it all: what is stored after it is announced to
        // `notifications`, which listened before the read.
        loop {
            let Some(tail) = tail.upgrade() else { return };
            match store.events(&operation, last, READ).await {
                Ok(events) if events.is_empty() => break,
                Ok(events) => {
                    let complete = events.len() < READ as usize;
                    last = events.last().map_or(last, |e| e.seq);
                    let finished = events.iter().any(|e| e.kind == kinds::FINISHED);
                    // No follower now is no error: one may come.
                    let _ = tail
                        .stretches
                        .send(events.into_iter().map(FollowedEvent::new).collect());
                    if finished {
                        return;
                    }
                    if complete {
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, %operation, "cannot read the log; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
        // Wait until more may be stored.
        let recheck = tokio::time::sleep(RECHECK);
        tokio::pin!(recheck);
        loop {
            tokio::select! {
                note = notifications.recv() => match note {
                    // Announced events already handed on (read along
                    // with an earlier stretch) need no read.
                    Ok(Notification::Events { operation: o, last_seq }) if o == operation && last_seq > last => break,
                    Ok(Notification::Finished { operation: o, .. }) if o == operation => break,
                    Ok(Notification::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = &mut recheck => {
                    // A log that ended without a finish (an operation over
                    // before Slipway wrote one): an empty stretch says so.
                    let over = store
                        .operation(&operation)
                        .await
                        .is_ok_and(|op| op.is_none_or(|op| op.state.is_terminal()));
                    let drained = store
                        .events(&operation, last, 1)
                        .await
                        .is_ok_and(|e| e.is_empty());
                    if over && drained {
                        if let Some(tail) = tail.upgrade() {
                            let _ = tail.stretches.send(Arc::from(Vec::new()));
                        }
                        return;
                    }
                    break;
                }
                () = shutdown.cancelled() => return,
            }
        }
        if tail.strong_count() == 0 {
            return;
        }
    }
}
