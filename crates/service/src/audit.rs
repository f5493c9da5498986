//! The audit log's group commit. Requests that write an entry at the same
//! time share one transaction (one statement per hundred entries) instead
//! of contending for the database's write lock one by one; each request
//! waits until its entry is stored before it answers, so a crash loses no
//! entry anyone was answered for.

use std::sync::Arc;

use slipway_store::{NewAuditEntry, Store};
use tokio::sync::{mpsc, oneshot};

/// The most entries one commit takes.
const MAX_GROUP: usize = 256;
/// Entries waiting for the writer, at most (senders wait beyond it).
const QUEUE: usize = 4096;

/// An entry and who waits for it to be stored.
type Pending = (NewAuditEntry, oneshot::Sender<Result<(), String>>);

/// Writes audit entries in groups.
pub(crate) struct AuditWriter {
    queue: mpsc::Sender<Pending>,
}

impl AuditWriter {
    /// Starts the writer (on the current Tokio runtime); it stops when the
    /// writer is dropped.
    pub(crate) fn start(store: Arc<dyn Store>) -> Self {
        let (queue, mut pending) = mpsc::channel::<Pending>(QUEUE);
        tokio::spawn(async move {
            let mut group = Vec::with_capacity(MAX_GROUP);
            while pending.recv_many(&mut group, MAX_GROUP).await > 0 {
                let (entries, waiting): (Vec<NewAuditEntry>, Vec<_>) = group.drain(..).unzip();
                let written = store
                    .append_audits(&entries)
                    .await
                    .map_err(|e| e.to_string());
                for reply in waiting {
                    let _ = reply.send(written.clone());
                }
            }
        });
        Self { queue }
    }

    /// Stores `entry` with whatever else is being written now; returns once
    /// it is committed.
    pub(crate) async fn write(&self, entry: NewAuditEntry) -> Result<(), String> {
        let (reply, stored) = oneshot::channel();
        let stopped = || "the audit log's writer has stopped".to_owned();
        self.queue
            .send((entry, reply))
            .await
            .map_err(|_| stopped())?;
        stored.await.map_err(|_| stopped())?
    }
}
