//! Waiting for an operation while showing its progress: a progress bar
//! (resources done out of planned, the resource in progress) on a terminal,
//! plain lines otherwise, nothing but the final document with `--json`.
//!
//! The operation runs on whichever worker leased it, not on the replica the
//! CLI talks to: if that replica dies or restarts, the CLI follows through
//! the same URL again — behind a load balancer, another replica — resuming
//! the log where it left off, and keeps trying until its wait ends. An
//! error always names the operation, which may well still be running.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use slipway_api::types::{ClusterStatus, OperationView};
use slipway_api::{Client, ClientError};
use slipway_core::event::{Event, EventLevel, kinds};
use tokio::time::Instant;

use crate::exit::Failure;
use crate::output::event_line;

/// How long the reads after a wait (the operation's end, its cluster) keep
/// retrying through a replica's death, at least.
const FINAL_READS: Duration = Duration::from_secs(10);

/// How the wait ended.
pub struct Waited {
    /// The operation as it was when the wait ended.
    pub operation: OperationView,
    /// The wait ended before the operation did.
    pub timed_out: bool,
}

enum Display {
    Bar(ProgressBar),
    Lines,
    Quiet,
}

impl Display {
    fn new(json: bool) -> Self {
        if json {
            Display::Quiet
        } else if std::io::stderr().is_terminal() {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {wide_msg}",
                )
                .expect("a valid template"),
            );
            bar.enable_steady_tick(Duration::from_millis(120));
            Display::Bar(bar)
        } else {
            Display::Lines
        }
    }

    fn show(&self, event: &Event) {
        match self {
            Display::Quiet => {}
            Display::Lines => {
                if event.level != EventLevel::Debug {
                    eprintln!("{}", event_line(event));
                }
            }
            Display::Bar(bar) => {
                if let Some(p) = event.data.get("progress") {
                    let number = |k: &str| p.get(k).and_then(serde_json::Value::as_u64);
                    if let (Some(done), Some(planned)) = (number("done"), number("planned")) {
                        bar.set_length(planned);
                        bar.set_position(done);
                    }
                    match p.get("current").and_then(serde_json::Value::as_str) {
                        Some(current) => bar.set_message(current.to_owned()),
                        None => bar.set_message(event.message.clone()),
                    }
                } else if event.level != EventLevel::Debug {
                    bar.set_message(event.message.clone());
                }
                if matches!(event.level, EventLevel::Warn | EventLevel::Error) {
                    bar.println(event_line(event));
                }
            }
        }
    }

    fn finish(&self) {
        if let Display::Bar(bar) = self {
            bar.finish_and_clear();
        }
    }
}

/// Follows `operation` until it ends or `wait` passes. A failure names the
/// operation.
pub async fn follow(
    client: &Client,
    operation: &OperationView,
    wait: Duration,
    json: bool,
) -> Result<Waited, Failure> {
    let id = &operation.id;
    let deadline = Instant::now() + wait;
    let timed_out = watch(client, operation, deadline, json)
        .await
        .map_err(naming(id))?;
    let operation = final_reads(client, deadline)
        .operation(id)
        .await
        .map_err(naming(id))?;
    Ok(Waited {
        timed_out: timed_out && !operation.state.is_terminal(),
        operation,
    })
}

/// Follows `operation` like [`follow`], then reads it and its cluster at
/// once (two requests in parallel, not one after the other).
pub async fn follow_with_cluster(
    client: &Client,
    operation: &OperationView,
    cluster: &str,
    wait: Duration,
    json: bool,
) -> Result<(Waited, ClusterStatus), Failure> {
    let id = &operation.id;
    let deadline = Instant::now() + wait;
    let timed_out = watch(client, operation, deadline, json)
        .await
        .map_err(naming(id))?;
    let reads = final_reads(client, deadline);
    let (operation, cluster) = tokio::join!(reads.operation(id), reads.cluster(cluster));
    let operation = operation.map_err(naming(id))?;
    Ok((
        Waited {
            timed_out: timed_out && !operation.state.is_terminal(),
            operation,
        },
        cluster.map_err(naming(id))?,
    ))
}

/// The client for what is read once the wait is over: retrying through a
/// replica's death until the wait's end, and a little beyond it.
pub fn final_reads(client: &Client, deadline: Instant) -> Client {
    client.retrying_reads_until(deadline.max(Instant::now() + FINAL_READS))
}

/// Turns an error met while following operation `id` into a failure that
/// names it — and says how to follow it, as it may well still run.
pub fn naming(id: &str) -> impl Fn(ClientError) -> Failure + '_ {
    move |e| Failure::from(e).for_operation(id)
}

/// Shows the operation's events until it ends (`false`) or `deadline`
/// passes (`true`), following it through another replica if the one it
/// reached dies.
async fn watch(
    client: &Client,
    operation: &OperationView,
    deadline: Instant,
    json: bool,
) -> Result<bool, ClientError> {
    let display = Display::new(json);
    let mut events = client
        .follow(&operation.id, 0)
        .patience(deadline.saturating_duration_since(Instant::now()));
    let deadline = tokio::time::sleep_until(deadline);
    tokio::pin!(deadline);
    let mut timed_out = false;
    loop {
        tokio::select! {
            next = events.next() => match next {
                Some(Ok(event)) => {
                    display.show(&event);
                    if event.kind == kinds::FINISHED {
                        break;
                    }
                }
                Some(Err(e)) => {
                    display.finish();
                    return Err(e);
                }
                None => break,
            },
            () = &mut deadline => {
                timed_out = true;
                break;
            }
        }
    }
    display.finish();
    Ok(timed_out)
}
