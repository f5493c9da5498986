//! How results are shown: readable text — lists as aligned tables with a
//! header — or one JSON document with `--json`.
//!
//! With `--json` every command prints one document on stdout. A list is
//! always `{"<items>": [...], "next_cursor": "…" | null}`: its items under
//! their plural name (`clusters`, `operations`, `runs`, `tokens`,
//! `members`, `requests`, `entries`, `events`), and where the next page
//! starts (`null` on the last page). Errors are `{"error": {...}}` on
//! stderr (see `exit`).

use comfy_table::{CellAlignment, ColumnConstraint, ContentArrangement, presets};
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

/// A list with `--json`: `{"<key>": items, "next_cursor": cursor}`, the one
/// shape every list command prints.
pub fn json_list<T: Serialize>(key: &str, items: &[T], next_cursor: Option<&str>) {
    let mut document = serde_json::Map::new();
    document.insert(
        key.to_owned(),
        serde_json::to_value(items).expect("API documents serialize"),
    );
    document.insert("next_cursor".to_owned(), next_cursor.into());
    json(&document);
}

/// A table for people: a header, then one row per item, in columns aligned
/// with two spaces between them (no borders, no colour: it is read by
/// people and by `grep`/`awk` alike). Columns named in `right` are numbers,
/// aligned right.
pub struct Table {
    table: comfy_table::Table,
    right: &'static [usize],
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        let mut table = comfy_table::Table::new();
        table
            .load_style(presets::NOTHING)
            .set_content_arrangement(ContentArrangement::Disabled)
            .set_header(header.iter().copied());
        Self { table, right: &[] }
    }

    /// Aligns these columns (numbers) right.
    pub fn right(mut self, columns: &'static [usize]) -> Self {
        self.right = columns;
        self
    }

    pub fn row<S: ToString>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Self {
        self.table
            .add_row(cells.into_iter().map(|c| c.to_string()).collect::<Vec<_>>());
        self
    }

    /// The table as text, without trailing spaces.
    pub fn render(mut self) -> String {
        let last = self.table.column_count().saturating_sub(1);
        for (i, column) in self.table.column_iter_mut().enumerate() {
            // Two spaces between columns, none before the first or after the last.
            column.set_padding((0, if i == last { 0 } else { 2 }));
            column.set_constraint(ColumnConstraint::ContentWidth);
            if self.right.contains(&i) {
                column.set_cell_alignment(CellAlignment::Right);
            }
        }
        self.table.trim_fmt()
    }

    pub fn print(self) {
        println!("{}", self.render());
    }
}

fn or_dash(value: Option<impl ToString>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
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
    println!("protected:     {}", c.protected);
    if !c.drift.is_empty() {
        println!(
            "drifted:       {} (changed outside Slipway; a deploy of the same configuration repairs it)",
            c.drift.join(", ")
        );
    }
    if let Some(why) = &c.deprecated {
        println!(
            "deprecated:    {}@{} is deprecated ({why}); move on with slipway deploy {} --version V",
            c.blueprint, c.version, c.name
        );
    }
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
    let mut table = Table::new(&["NAME", "STATE", "NODES", "DESTROY AT", "ENDPOINT"]).right(&[2]);
    for c in clusters {
        let marks: Vec<&str> = [
            (c.protected, "protected"),
            (!c.drift.is_empty(), "drifted"),
            (c.deprecated.is_some(), "deprecated version"),
        ]
        .into_iter()
        .filter_map(|(on, mark)| on.then_some(mark))
        .collect();
        table.row([
            c.name.clone(),
            if marks.is_empty() {
                c.state.as_str().to_owned()
            } else {
                format!("{} ({})", c.state, marks.join(", "))
            },
            c.nodes.to_string(),
            or_dash(c.destroy_at.as_ref().map(time)),
            or_dash(c.endpoint.as_deref()),
        ]);
    }
    table.print();
}

/// Operations, newest first, with the state versions (serials) each wrote.
pub fn history(operations: &[OperationView], states: &[StateVersionView]) {
    let mut table = Table::new(&[
        "OPERATION",
        "KIND",
        "STATE",
        "REASON",
        "REQUESTED BY",
        "CREATED",
        "STATES",
    ]);
    for op in operations {
        let written: Vec<String> = states
            .iter()
            .filter(|s| s.operation == op.id)
            .map(|s| s.serial.to_string())
            .collect();
        table.row([
            op.id.clone(),
            op.kind.to_string(),
            op.state.to_string(),
            op.reason.to_string(),
            op.requested_by.clone(),
            time(&op.created_at),
            if written.is_empty() {
                "-".into()
            } else {
                written.join(",")
            },
        ]);
    }
    table.print();
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
    if !run.steps.is_empty() {
        let mut table = Table::new(&["STEP", "OUTCOME", "EXIT", "SECONDS"]).right(&[2, 3]);
        for step in &run.steps {
            let exit = match (step.outcome, step.exit_code) {
                (StepOutcome::Failed, Some(code)) => code.to_string(),
                _ => "-".to_owned(),
            };
            table.row([
                step.name.clone(),
                step.outcome.as_str().to_owned(),
                exit,
                format!("{:.1}", step.duration_ms as f64 / 1000.0),
            ]);
        }
        table.print();
    }
    if let Some(error) = &op.error {
        println!("error: {error}");
    }
}

pub fn runs(runs: &[RunView]) {
    let mut table = Table::new(&[
        "RUN", "CLUSTER", "KIND", "VERSION", "STATE", "PASSED", "FINISHED",
    ]);
    for run in runs {
        let op = &run.operation;
        table.row([
            op.id.clone(),
            op.cluster.clone(),
            op.kind.to_string(),
            run.version.clone(),
            op.state.to_string(),
            run.passed
                .map_or("-", |p| if p { "yes" } else { "no" })
                .to_owned(),
            or_dash(op.finished_at.as_ref().map(time)),
        ]);
    }
    table.print();
}

pub fn run_report(report: &RunReport) {
    let mut table = Table::new(&[
        "CLUSTER",
        "KIND",
        "VERSION",
        "LATEST",
        "RUNS",
        "PASS RATE",
        "LATEST RUN",
        "AT",
    ])
    .right(&[4, 5]);
    for line in &report.runs {
        table.row([
            line.cluster.to_string(),
            line.kind.to_string(),
            line.version.clone(),
            if line.latest_passed {
                "passed"
            } else {
                "failed"
            }
            .to_owned(),
            line.runs.to_string(),
            format!("{:.0}%", line.pass_rate * 100.0),
            line.latest_run.to_string(),
            time(&line.latest_at),
        ]);
    }
    table.print();
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

/// What a repository asks for (`slipway render`): one block per cluster.
pub fn desired(repository: &slipway_repo::Repository, desired: &[slipway_repo::Desired]) {
    let order = repository
        .environments
        .iter()
        .map(|e| match &e.requires {
            Some(r) => format!("{} (after {r})", e.name),
            None => e.name.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ");
    println!(
        "Organization {}{}; environments {order}.",
        repository.organization,
        repository
            .server
            .as_deref()
            .map(|s| format!(" on {s}"))
            .unwrap_or_default()
    );
    for d in desired {
        println!();
        println!("{}  ({} in {})", d.cluster, d.deployment, d.environment);
        let lifecycle = match d.lifecycle {
            slipway_repo::Lifecycle::Ephemeral { ttl } => format!(
                "ephemeral: destroyed {} after each apply",
                slipway_core::duration::format_duration(ttl)
            ),
            slipway_repo::Lifecycle::Persistent => {
                "persistent: protected, never scheduled for destroy".into()
            }
        };
        println!(
            "  {}@{}, {}, {lifecycle}",
            d.blueprint,
            d.version,
            if d.public { "public" } else { "private" }
        );
        println!(
            "  nodes:     {}",
            d.nodes
                .map_or_else(|| "the blueprint's default".into(), |n| n.to_string())
        );
        if d.variables.is_empty() {
            println!("  variables: none set");
        } else {
            let shown: Vec<String> = d
                .variables
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            println!("  variables: {}", shown.join(" "));
        }
        match &d.secrets {
            Some(s) => println!(
                "  secrets:   {} (encrypted; sha256 {})",
                s.path,
                &s.digest[..12]
            ),
            None => println!("  secrets:   none"),
        }
        println!(
            "  digest:    {} (what environments share: {})",
            &d.digest[..12],
            &d.common_digest[..12]
        );
    }
}
