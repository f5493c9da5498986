//! What this process remembers for at most a second, so that a hot request
//! reads nothing from the store: who a credential authenticates, who may use
//! a cluster.
//!
//! Every change that could make a remembered answer wrong is announced by the
//! store (a [`Notification`]); the announcement, or any sign that one was
//! missed, makes a [`Memory`] forget everything before it answers again. A
//! change made in this process is announced before the call that made it
//! returns, so it takes effect at once here; another replica's reaches this
//! one with its notification (PostgreSQL NOTIFY), and at worst after
//! [`REMEMBERED`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use slipway_store::{Notification, Store};
use tokio::sync::broadcast::{self, error::TryRecvError};

/// How long a process remembers an answer at most: the bound on how late a
/// change takes effect here when no notification tells this process — a
/// change by another process on the same SQLite file (`slipway admin
/// bootstrap-token` while it serves), or a NOTIFY that failed. At one read
/// per key per second, remembering longer saves nothing.
const REMEMBERED: Duration = Duration::from_secs(1);

/// The most answers a memory keeps.
const MOST_REMEMBERED: u64 = 10_000;

/// Answers remembered by key for a short while, forgotten all at once when
/// the store announces a change that concerns them.
pub(crate) struct Memory<V> {
    /// None when nothing may be remembered.
    remembered: Option<moka::sync::Cache<String, (V, u64)>>,
    notes: parking_lot::Mutex<broadcast::Receiver<Notification>>,
    /// Counts the times everything was forgotten: an answer read before the
    /// latest is not remembered.
    generation: AtomicU64,
    /// Whether a notification announces a change this memory must forget.
    concerns: fn(&Notification) -> bool,
}

impl<V: Clone + Send + Sync + 'static> Memory<V> {
    /// Remembers for at most `longest` (never longer than [`REMEMBERED`];
    /// nothing when it is zero).
    pub(crate) fn new(
        store: &dyn Store,
        longest: Duration,
        concerns: fn(&Notification) -> bool,
    ) -> Self {
        Self {
            remembered: (!longest.is_zero()).then(|| {
                moka::sync::Cache::builder()
                    .max_capacity(MOST_REMEMBERED)
                    .time_to_live(longest.min(REMEMBERED))
                    .build()
            }),
            notes: parking_lot::Mutex::new(store.subscribe()),
            generation: AtomicU64::new(0),
            concerns,
        }
    }

    /// The current generation, after forgetting everything if a change
    /// was announced (or may have been missed) since last asked. Read it
    /// before reading the answer to [`remember`](Self::remember).
    pub(crate) fn generation(&self) -> u64 {
        let mut notes = self.notes.lock();
        let mut changed = false;
        loop {
            match notes.try_recv() {
                Ok(Notification::Resync) | Err(TryRecvError::Lagged(_)) => changed = true,
                Ok(note) => changed |= (self.concerns)(&note),
                Err(TryRecvError::Empty | TryRecvError::Closed) => break,
            }
        }
        if changed {
            self.generation.fetch_add(1, Ordering::SeqCst);
            if let Some(remembered) = &self.remembered {
                remembered.invalidate_all();
            }
        }
        self.generation.load(Ordering::SeqCst)
    }

    /// The answer remembered for `key`, if nothing changed since.
    pub(crate) fn recall(&self, key: &str) -> Option<V> {
        let remembered = self.remembered.as_ref()?;
        let generation = self.generation();
        let (value, read_in) = remembered.get(key)?;
        (read_in == generation).then_some(value)
    }

    /// Remembers an answer read in `generation`, unless a change was
    /// announced since.
    pub(crate) fn remember(&self, key: String, generation: u64, value: V) {
        if let Some(remembered) = &self.remembered
            && self.generation() == generation
        {
            remembered.insert(key, (value, generation));
        }
    }
}
