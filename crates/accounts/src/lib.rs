//! Organizations' money and capacity, kept over the store: what the
//! service does when someone asks (reconcile now, request capacity) and the
//! worker's keepers do in the background (hourly reconciliation, capacity
//! expiries) are the same functions, here, below both.
//!
//! - [`accounting`]: costs accrued from which node count ran when,
//!   reconciliation of accounts, the budget's warnings and shutdown.
//! - [`cost_explorer`]: AWS Cost Explorer's figures, replacing the model's.
//! - [`capacity`]: a cluster made to follow its capacity requests.
//!
//! The rules are `core`'s; every change goes through the store's
//! transactions and the operation queue like a person's.

// A new variant of an enum must be handled where it is matched: no
// wildcard arm swallows it (ARCHITECTURE.md, "Adding an operation kind").
#![warn(clippy::wildcard_enum_match_arm)]

pub mod accounting;
pub mod capacity;
pub mod cost_explorer;
