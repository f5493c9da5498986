//! How results are shown: readable text, or one JSON document with `--json`.

use serde::Serialize;
use slipway_api::types::{ClusterStatus, OperationView, RunReport, RunView, StateVersionView};
use slipway_core::event::{Event, EventLevel};
use slipway_core::job::StepOutcome;

pub fn json<T: Serialize>(value: &T) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).expect("API documents serialize")
    );
}

fn time(t: &chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

pub fn status(c: &ClusterStatus) {
    let or_none = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    println!("name:          {}", c.name);
    println!("state:         {}", c.state);
    println!("endpoint:      {}", or_none(c.endpoint.clone()));
    println!("nodes:         {}", c.nodes);
    println!("blueprint:     {}@{}", c.blueprint, c.version);
    println!("organization:  {}", c.organization);
    println!("public:        {}", c.public);
    println!(
        "destroy at:    {}",
        or_none(c.destroy_at.as_ref().map(time))
    );
    if let Some(op) = &c.last_operation {
        println!("last operation: {} {} {}", op.id, op.kind, op.state);
    }
    if let Some(error) = &c.error {
        println!("error:         {error}");
    }
    if !c.outputs.is_empty() {
        println!("outputs:");
        for (name, value) in &c.outputs {
            println!("  {name} = {value}");
        }
    }
}

/// A status in one line, for `status --watch`.
pub fn status_line(c: &ClusterStatus) {
    println!(
        "{} {} {} nodes={} endpoint={} destroy_at={}{}",
        time(&c.updated_at),
        c.name,
        c.state,
        c.nodes,
        c.endpoint.as_deref().unwrap_or("-"),
        c.destroy_at
            .as_ref()
            .map(time)
            .unwrap_or_else(|| "-".into()),
        c.last_operation
            .as_ref()
            .map(|op| format!(" last={} {} {}", op.id, op.kind, op.state))
            .unwrap_or_default()
    );
}

pub fn list(clusters: &[ClusterStatus]) {
    println!(
        "{:<24} {:<11} {:>5}  {:<20}  ENDPOINT",
        "NAME", "STATE", "NODES", "DESTROY AT"
    );
    for c in clusters {
        println!(
            "{:<24} {:<11} {:>5}  {:<20}  {}",
            c.name,
            c.state.as_str(),
            c.nodes,
            c.destroy_at
                .as_ref()
                .map(time)
                .unwrap_or_else(|| "-".into()),
            c.endpoint.as_deref().unwrap_or("-")
        );
    }
}

/// Operations, newest first, with the state versions (serials) each wrote.
pub fn history(operations: &[OperationView], states: &[StateVersionView]) {
    println!(
        "{:<36} {:<8} {:<11} {:<20} {:<20} STATES",
        "OPERATION", "KIND", "STATE", "REQUESTED BY", "CREATED"
    );
    for op in operations {
        let written: Vec<String> = states
            .iter()
            .filter(|s| s.operation == op.id)
            .map(|s| s.serial.to_string())
            .collect();
        println!(
            "{:<36} {:<8} {:<11} {:<20} {:<20} {}",
            op.id,
            op.kind,
            op.state,
            op.requested_by,
            time(&op.created_at),
            if written.is_empty() {
                "-".into()
            } else {
                written.join(",")
            }
        );
    }
}

/// A run and every step's result.
pub fn run(run: &RunView) {
    let op = &run.operation;
    let verdict = match run.passed {
        Some(true) => "passed".to_owned(),
        Some(false) => "failed".to_owned(),
        None => op.state.to_string(),
    };
    println!(
        "{} of {} at {} (run {}): {verdict}",
        op.kind, op.cluster, run.version, op.id
    );
    for step in &run.steps {
        let exit = match (step.outcome, step.exit_code) {
            (StepOutcome::Failed, Some(code)) => format!("exit {code}"),
            _ => String::new(),
        };
        println!(
            "  {:<24} {:<10} {:<8} {:>8.1}s",
            step.name,
            step.outcome.as_str(),
            exit,
            step.duration_ms as f64 / 1000.0
        );
    }
    if let Some(error) = &op.error {
        println!("error: {error}");
    }
}

pub fn runs(runs: &[RunView]) {
    println!(
        "{:<36} {:<20} {:<8} {:<16} {:<11} {:<7} FINISHED",
        "RUN", "CLUSTER", "KIND", "VERSION", "STATE", "PASSED"
    );
    for run in runs {
        let op = &run.operation;
        println!(
            "{:<36} {:<20} {:<8} {:<16} {:<11} {:<7} {}",
            op.id,
            op.cluster,
            op.kind,
            run.version,
            op.state,
            run.passed.map_or("-", |p| if p { "yes" } else { "no" }),
            op.finished_at
                .as_ref()
                .map(time)
                .unwrap_or_else(|| "-".into())
        );
    }
}

pub fn run_report(report: &RunReport) {
    println!(
        "{:<20} {:<8} {:<16} {:<7} {:>5} {:>9}  LATEST RUN",
        "CLUSTER", "KIND", "VERSION", "LATEST", "RUNS", "PASS RATE"
    );
    for line in &report.runs {
        println!(
            "{:<20} {:<8} {:<16} {:<7} {:>5} {:>8.0}%  {} ({})",
            line.cluster,
            line.kind,
            line.version,
            if line.latest_passed {
                "passed"
            } else {
                "failed"
            },
            line.runs,
            line.pass_rate * 100.0,
            line.latest_run,
            time(&line.latest_at)
        );
    }
}

pub fn operation(op: &OperationView) {
    println!(
        "operation {} ({} of {}, {}): {}",
        op.id, op.kind, op.cluster, op.reason, op.state
    );
    if let Some(error) = &op.error {
        println!("error: {error}");
    }
}

/// One line of an operation's log.
pub fn event_line(event: &Event) -> String {
    let progress = event
        .data
        .get("progress")
        .and_then(|p| Some((p.get("done")?.as_u64()?, p.get("planned")?.as_u64()?)))
        .map(|(done, planned)| format!("[{done}/{planned}] "))
        .unwrap_or_default();
    format!(
        "{} {:<5} {}{}",
        time(&event.at),
        level(event.level),
        progress,
        event.message
    )
}

fn level(level: EventLevel) -> &'static str {
    level.as_str()
}
