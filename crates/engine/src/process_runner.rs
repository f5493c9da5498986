//! TEST and RELEASE runs on the process runner: the steps of a job in a
//! directory of the run's own, each step's events as operation events.

use std::time::Duration;

use serde_json::json;
use slipway_core::event::{EventLevel, NewEvent, kinds};
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use crate::engine::Engine;
use crate::error::EngineError;
use crate::job;
use crate::process::Stream;

impl Engine {
    /// Runs a TEST or RELEASE run on the process runner: in a fresh
    /// directory of its own (`<work>/jobs/<run>`), removed afterwards with
    /// every process still working in it. Steps get [`STEP_GRACE`] to stop
    /// after SIGINT.
    pub async fn run_job(
        &self,
        run_id: &str,
        run: &job::JobRun,
        token: &str,
        events: &UnboundedSender<NewEvent>,
        cancel: &CancellationToken,
    ) -> Result<job::JobReport, EngineError> {
        let dir = self.config.work_root.join("jobs").join(run_id);
        let report = job::execute(&dir, run, token, cancel, STEP_GRACE, &mut |event| {
            let _ = events.send(job_event(&event));
        })
        .await;
        job::remove_run_dir(&dir)?;
        Ok(report)
    }
}

/// How long a job's step may take to stop after SIGINT before its process
/// group is killed.
pub const STEP_GRACE: Duration = Duration::from_secs(10);

/// A job's event as an operation event.
fn job_event(event: &job::JobEvent) -> NewEvent {
    let now = chrono::Utc::now();
    let message = job::describe(event);
    let (kind, level, data) = match event {
        job::JobEvent::Started { step, command } => (
            kinds::STEP_STARTED,
            EventLevel::Info,
            json!({"step": step, "command": command}),
        ),
        job::JobEvent::Output { step, stream, .. } => (
            kinds::STEP_OUTPUT,
            match stream {
                Stream::Stdout => EventLevel::Info,
                Stream::Stderr => EventLevel::Warn,
            },
            json!({"step": step, "stream": match stream { Stream::Stdout => "stdout", Stream::Stderr => "stderr" }}),
        ),
        job::JobEvent::Finished(result) => (
            kinds::STEP_FINISHED,
            if result.outcome == slipway_core::job::StepOutcome::Passed {
                EventLevel::Info
            } else {
                EventLevel::Error
            },
            serde_json::to_value(result).expect("a step result serializes"),
        ),
    };
    NewEvent {
        at: now,
        kind: kind.into(),
        level,
        message,
        data,
    }
}
