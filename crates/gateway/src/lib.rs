//! The cluster side of Slipway: what runs on a cluster's machines.
//!
//! For now this is [`node`], the `slipway node` process that stands in for a
//! cluster node in the embedded `local` blueprint (DESIGN.md §3.5). The
//! cluster gateway (DESIGN.md §3.7) will live here too.

pub mod gateway;
pub mod node;
