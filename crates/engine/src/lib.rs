//! Everything in Slipway that knows Terraform.
//!
//! An [`Engine`] runs [`TerraformRun`]s (and, in [`job`], the steps of a
//! TEST or RELEASE job). Terraform's state lives with Slipway (the
//! HTTP backend), so working directories hold nothing that matters: one per
//! blueprint version, laid out and initialized once and then shared by every
//! run of that version, with each run's variables in a file of its own.
//! A run is `apply` (or `apply -destroy`) with `-json`, every line turned
//! into an operation event with progress, secrets masked on the way; an
//! observation (`plan -detailed-exitcode` and `show -json`) tells what
//! Terraform's state really holds, for recovery.
//!
//! What is where:
//! - `engine`: the [`Engine`], its configuration, and one Terraform run
//!   from start to end ([`Engine::run`]);
//! - `run`: what a run is asked ([`TerraformRun`], [`StateBackend`],
//!   [`STANDARD_VARIABLES`]) and what it reports ([`RunReport`],
//!   [`Observation`]);
//! - `workspace`: the module's shared working directory and the run's own;
//! - `runner`: a run's Terraform commands (`init`, the `-json` commands,
//!   `show -json`) and their events;
//! - `leftovers`: what a process that died left behind ([`LeftoverRun`],
//!   [`UnsavedState`]), for recovery;
//! - `process_runner`: TEST and RELEASE runs on the process runner
//!   ([`Engine::run_job`]), whose steps [`job`] runs;
//! - `error`: [`EngineError`];
//! - [`aws`]: the AWS profile a run's credentials come from;
//! - [`providers`]: where providers are installed from and cached, and
//!   the lock file that pins them; `validate` (`Engine::validate`): the
//!   checks of a version being published that need Terraform;
//! - [`terraform`] (finding and installing Terraform), [`module`] (what a
//!   module declares), [`catalog`] (blueprints), [`events`] (Terraform's
//!   `-json` stream, typed), [`masking`] (secrets kept out of events), and
//!   `process` (one command in its own process group).

pub mod aws;
pub mod catalog;
pub mod check;
mod engine;
mod error;
pub mod events;
pub mod job;
mod leftovers;
pub mod masking;
pub mod module;
mod process;
mod process_runner;
pub mod providers;
mod run;
mod runner;
pub mod terraform;
mod validate;
mod workspace;

pub use crate::engine::{Engine, EngineConfig};
pub use crate::error::EngineError;
pub use crate::leftovers::{LeftoverRun, UnsavedState};
pub use crate::process_runner::STEP_GRACE;
pub use crate::run::{
    Observation, PlanSummary, PlannedChange, RunReport, STANDARD_VARIABLES, StateBackend,
    TerraformRun,
};
pub use crate::terraform::{Terraform, TerraformSource};
pub use crate::validate::Validation;
