//! The cluster side of Slipway: what runs in front of and on a cluster's
//! machines.
//!
//! - [`gateway`]: `slipway gateway`, the cluster's front door (docs/domain.md
//!   §7) — token verification, access rules, rate limits, load balancing.
//! - [`node`]: the `slipway node` process that stands in for a cluster node
//!   in the embedded `local` blueprint (docs/domain.md §5).
//! - [`probe`]: `slipway probe`, checks of a cluster through its gateway —
//!   the `local` blueprint's TEST suites.

// A new variant of an enum must be handled where it is matched: no
// wildcard arm swallows it (ARCHITECTURE.md, "Adding an operation kind").
#![warn(clippy::wildcard_enum_match_arm)]

mod detached;
pub mod gateway;
pub mod node;
pub mod probe;
