//! The commands on clusters, their operations and their runs: create,
//! deploy, destroy, refresh, remove, schedule, status, list, history,
//! TEST and RELEASE runs, logs and cancel.

use std::process::ExitCode;
use std::time::Duration;

use slipway_api::types::*;
use slipway_core::{ClusterState, OperationId, OperationState};

use crate::client::{Connection, parse_time, parse_vars};
use crate::exit::{self, Failure};
use crate::output;
use crate::wait;

impl Connection {
    #[allow(clippy::too_many_arguments)]
    pub async fn create_cluster(
        &self,
        name: String,
        blueprint: String,
        version: Option<String>,
        organization: Option<String>,
        public: bool,
        nodes: Option<u32>,
        vars: Vec<String>,
    ) -> Result<ExitCode, Failure> {
        let req = CreateCluster {
            name,
            blueprint,
            version,
            organization,
            public,
            nodes,
            variables: parse_vars(&vars)?,
        };
        let cluster = self.client.create_cluster(&req).await?;
        if self.json {
            output::json(&cluster);
        } else {
            println!(
                "Defined cluster {} ({}@{}, {} node(s), organization {}). Deploy it with: slipway deploy {}",
                cluster.name,
                cluster.blueprint,
                cluster.version,
                cluster.nodes,
                cluster.organization,
                cluster.name
            );
        }
        Ok(ExitCode::SUCCESS)
    }

    pub async fn deploy(
        &self,
        name: String,
        req: DeployCluster,
        wait: Option<Duration>,
    ) -> Result<ExitCode, Failure> {
        let response = self.client.deploy(&name, &req).await?;
        self.finish_action(response, wait, |cluster| {
            cluster.state == ClusterState::Running
        })
        .await
    }

    pub async fn destroy(
        &self,
        name: String,
        req: DestroyCluster,
        wait: Option<Duration>,
    ) -> Result<ExitCode, Failure> {
        let response = self.client.destroy(&name, &req).await?;
        let withdrawn = response.withdrawn_capacity_requests.len();
        if withdrawn > 0 && !self.json {
            eprintln!(
                "Destroying {name} withdraws its {withdrawn} capacity request{} ({}): capacity will not bring it back.",
                if withdrawn == 1 { "" } else { "s" },
                response.withdrawn_capacity_requests.join(", ")
            );
        }
        self.finish_action(response, wait, |cluster| {
            cluster.state == ClusterState::Absent
        })
        .await
    }

    pub async fn refresh(&self, name: String, wait: Option<Duration>) -> Result<ExitCode, Failure> {
        let response = self.client.refresh(&name).await?;
        self.finish_action(response, wait, |_| true).await
    }

    pub async fn remove_cluster(&self, name: String) -> Result<ExitCode, Failure> {
        let response = self.client.remove_cluster(&name).await?;
        self.report_action(&response);
        Ok(ExitCode::SUCCESS)
    }

    pub async fn set_protection(&self, name: String, protected: bool) -> Result<ExitCode, Failure> {
        let response = self.client.set_protection(&name, protected).await?;
        self.report_action(&response);
        Ok(ExitCode::SUCCESS)
    }

    pub async fn set_visibility(&self, name: String, public: bool) -> Result<ExitCode, Failure> {
        let response = self.client.set_visibility(&name, public).await?;
        self.report_action(&response);
        Ok(ExitCode::SUCCESS)
    }

    /// Waits for the action's operation (unless told not to) and reports.
    /// The action succeeded when its operation did and the cluster is where
    /// the action puts it.
    async fn finish_action(
        &self,
        mut response: ActionResponse,
        wait: Option<Duration>,
        arrived: impl Fn(&ClusterStatus) -> bool,
    ) -> Result<ExitCode, Failure> {
        let (Some(operation), Some(wait)) = (response.operation.clone(), wait) else {
            self.report_action(&response);
            return Ok(ExitCode::SUCCESS);
        };
        if !self.json {
            eprintln!(
                "{} {} of {}: operation {} (follow it with: slipway logs {} --follow)",
                match response.result {
                    ActionResult::Joined => "Joined the",
                    ActionResult::Queued
                    | ActionResult::AlreadyRunning
                    | ActionResult::NothingToDestroy
                    | ActionResult::Scheduled
                    | ActionResult::Unscheduled
                    | ActionResult::Removed
                    | ActionResult::VisibilityChanged
                    | ActionResult::ProtectionChanged => "Started the",
                },
                operation.kind,
                operation.cluster,
                operation.id,
                operation.id
            );
        }
        let (waited, cluster) = wait::follow_with_cluster(
            &self.client,
            &operation,
            &response.cluster.name,
            wait,
            self.json,
        )
        .await?;
        response.cluster = cluster;
        response.operation = Some(waited.operation.clone());
        self.report_action(&response);
        if waited.timed_out {
            return Err(Failure::still_running(&waited.operation));
        }
        if waited.operation.state == OperationState::Succeeded && arrived(&response.cluster) {
            Ok(ExitCode::SUCCESS)
        } else {
            let what = format!("{} is {}", response.cluster.name, response.cluster.state);
            Err(Failure::did_not_succeed(&waited.operation, &what))
        }
    }

    fn report_action(&self, response: &ActionResponse) {
        if self.json {
            output::json(response);
            return;
        }
        let c = &response.cluster;
        match (&response.result, &response.operation) {
            (ActionResult::AlreadyRunning, _) => println!(
                "{} is already running{}: nothing to deploy{}.",
                c.name,
                c.endpoint
                    .as_deref()
                    .map(|e| format!(" at {e}"))
                    .unwrap_or_default(),
                c.destroy_at
                    .map(|t| format!("; destroy scheduled at {}", t.to_rfc3339()))
                    .unwrap_or_default()
            ),
            (ActionResult::NothingToDestroy, _) => {
                println!("{} has nothing deployed: nothing to destroy.", c.name)
            }
            (ActionResult::Removed, _) => println!(
                "Removed cluster {} (its operations and costs stay in the history).",
                c.name
            ),
            (ActionResult::VisibilityChanged, _) => println!(
                "{} is {}: {}.",
                c.name,
                if c.public { "public" } else { "private" },
                if c.public {
                    "anyone signed in may use it once it is deployed"
                } else {
                    "only its organization may use it"
                }
            ),
            (ActionResult::ProtectionChanged, _) => println!(
                "{} {}",
                c.name,
                if c.protected {
                    "is protected: nothing destroys it, nor schedules its destroy, unless an administrator forces it."
                } else {
                    "is no longer protected."
                }
            ),
            (ActionResult::Scheduled | ActionResult::Unscheduled, _) => match c.destroy_at {
                Some(at) => println!("{} will be destroyed at {}.", c.name, at.to_rfc3339()),
                None => println!("{} has no scheduled destroy.", c.name),
            },
            (_, Some(op)) if !op.state.is_terminal() => output::operation(op),
            (_, Some(op)) => {
                output::operation(op);
                println!(
                    "{} is {}{}{}",
                    c.name,
                    c.state,
                    c.endpoint
                        .as_deref()
                        .map(|e| format!(" at {e}"))
                        .unwrap_or_default(),
                    c.destroy_at
                        .map(|t| format!("; destroy scheduled at {}", t.to_rfc3339()))
                        .unwrap_or_default()
                );
            }
            (_, None) => println!("{} is {}", c.name, c.state),
        }
    }

    pub async fn schedule_destroy(
        &self,
        name: String,
        at: Option<String>,
        after: Option<String>,
    ) -> Result<ExitCode, Failure> {
        let req = ScheduleDestroy {
            at: at.as_deref().map(|t| parse_time("at", t)).transpose()?,
            in_: after,
        };
        let response = self.client.schedule_destroy(&name, &req).await?;
        self.report_action(&response);
        Ok(ExitCode::SUCCESS)
    }

    pub async fn status(&self, name: String, watch: bool) -> Result<ExitCode, Failure> {
        if watch {
            use futures::StreamExt;
            let mut statuses = self.client.watch(&name).await?;
            while let Some(status) = statuses.next().await {
                let status = status?;
                if self.json {
                    println!(
                        "{}",
                        serde_json::to_string(&status).expect("statuses serialize")
                    );
                } else {
                    output::status_line(&status);
                }
            }
            return Ok(ExitCode::SUCCESS);
        }
        let cluster = self.client.cluster(&name).await?;
        if self.json {
            output::json(&cluster);
        } else {
            output::status(&cluster);
        }
        Ok(ExitCode::SUCCESS)
    }

    /// A page of clusters (`--json`: the page, with `next_cursor`).
    pub async fn list(&self, query: ClusterQuery) -> Result<ExitCode, Failure> {
        let page = self.client.clusters(&query).await?;
        if self.json {
            output::json_list("clusters", &page.clusters, page.next_cursor.as_deref());
        } else {
            output::list(&page.clusters);
            if let Some(cursor) = &page.next_cursor {
                // The next page of the same search and filters.
                let mut next = format!("slipway list --cursor {cursor}");
                for (flag, value) in [
                    ("--search", query.search.as_deref()),
                    ("--state", query.state.map(|s| s.as_str())),
                    ("--org", query.organization.as_deref()),
                ] {
                    if let Some(value) = value {
                        next.push_str(&format!(" {flag} {value}"));
                    }
                }
                match query.public {
                    Some(true) => next.push_str(" --public"),
                    Some(false) => next.push_str(" --private"),
                    None => {}
                }
                if query.mine == Some(true) {
                    next.push_str(" --mine");
                }
                if let Some(limit) = query.limit {
                    next.push_str(&format!(" --limit {limit}"));
                }
                eprintln!("more: {next}");
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// A page of the cluster's operations, newest first, each with the
    /// state versions its Terraform wrote (`--json`: under `states`).
    pub async fn history(&self, name: String, page: PageQuery) -> Result<ExitCode, Failure> {
        let (operations, states) = tokio::try_join!(
            self.client.operations(Some(&name), &page),
            self.client.state_history(&name)
        )?;
        if self.json {
            #[derive(serde::Serialize)]
            struct Entry<'a> {
                #[serde(flatten)]
                operation: &'a OperationView,
                states: Vec<&'a StateVersionView>,
            }
            let entries: Vec<Entry> = operations
                .operations
                .iter()
                .map(|operation| Entry {
                    operation,
                    states: states
                        .iter()
                        .filter(|s| s.operation == operation.id)
                        .collect(),
                })
                .collect();
            output::json_list("operations", &entries, operations.next_cursor.as_deref());
        } else {
            output::history(&operations.operations, &states);
            if let Some(cursor) = &operations.next_cursor {
                eprintln!("more: slipway history {name} --cursor {cursor}");
            }
        }
        Ok(ExitCode::SUCCESS)
    }

    /// TEST or RELEASE: starts the run, follows its log unless told not to
    /// wait, and reports every step. Exit 0 when it passed, 1 when it did
    /// not, 5 when still running at the end of the wait.
    pub async fn run_job(
        &self,
        name: String,
        release: bool,
        version: String,
        wait: Option<Duration>,
    ) -> Result<ExitCode, Failure> {
        let run = self.client.start_run(&name, release, &version).await?;
        let Some(wait) = wait else {
            if self.json {
                output::json(&run);
            } else {
                println!(
                    "Queued the {} of {name} at {version}: run {} (follow it with: slipway logs {} --follow)",
                    run.operation.kind, run.operation.id, run.operation.id
                );
            }
            return Ok(ExitCode::SUCCESS);
        };
        if !self.json {
            eprintln!(
                "Started the {} of {name} at {version}: run {} (follow it with: slipway logs {} --follow)",
                run.operation.kind, run.operation.id, run.operation.id
            );
        }
        let deadline = tokio::time::Instant::now() + wait;
        let waited = wait::follow(&self.client, &run.operation, wait, self.json).await?;
        let id = &run.operation.id;
        let run = wait::final_reads(&self.client, deadline)
            .run(id)
            .await
            .map_err(wait::naming(id))?;
        if self.json {
            output::json(&run);
        } else {
            output::run(&run);
        }
        if waited.timed_out {
            Err(Failure::still_running(&run.operation))
        } else if run.passed == Some(true) {
            Ok(ExitCode::SUCCESS)
        } else {
            let what = format!(
                "the {} of {name} at {version} did not pass",
                run.operation.kind
            );
            Err(Failure::did_not_succeed(&run.operation, &what))
        }
    }

    pub async fn runs(&self, cluster: Option<String>) -> Result<ExitCode, Failure> {
        let runs = self.client.runs(cluster.as_deref()).await?;
        if self.json {
            output::json_list("runs", &runs, None);
        } else {
            output::runs(&runs);
        }
        Ok(ExitCode::SUCCESS)
    }

    pub async fn run_report(&self) -> Result<ExitCode, Failure> {
        let report = self.client.run_report().await?;
        if self.json {
            output::json_list("runs", &report.runs, None);
        } else {
            output::run_report(&report);
        }
        Ok(ExitCode::SUCCESS)
    }

    /// The operation a `logs` target names: an id, or a cluster's last one.
    async fn operation_of(&self, target: &str) -> Result<String, Failure> {
        if OperationId::looks_like(target) {
            return Ok(target.to_owned());
        }
        let cluster = self.client.cluster(target).await?;
        cluster.last_operation.map(|op| op.id).ok_or_else(|| {
            Failure::new(
                exit::BAD_INPUT,
                "no_operations",
                format!("cluster {target} has run no operation yet"),
            )
        })
    }

    pub async fn logs(&self, target: String, follow: bool) -> Result<ExitCode, Failure> {
        let id = self.operation_of(&target).await?;
        if follow {
            let mut events = self.client.follow(&id, 0);
            while let Some(event) = events.next().await {
                let event = event.map_err(wait::naming(&id))?;
                if self.json {
                    println!(
                        "{}",
                        serde_json::to_string(&event).expect("events serialize")
                    );
                } else {
                    println!("{}", output::event_line(&event));
                }
            }
        } else {
            let page = self.client.events(&id, 0).await?;
            if self.json {
                // A list like every other, with the operation it is the log of.
                output::json(&serde_json::json!({
                    "operation": page.operation,
                    "events": page.events,
                    "next_cursor": null,
                }));
            } else {
                for event in &page.events {
                    println!("{}", output::event_line(event));
                }
            }
        }
        let op = wait::final_reads(&self.client, tokio::time::Instant::now())
            .operation(&id)
            .await
            .map_err(wait::naming(&id))?;
        if op.state == OperationState::Failed {
            Err(Failure::did_not_succeed(&op, "the operation failed"))
        } else {
            Ok(ExitCode::SUCCESS)
        }
    }

    /// Cancels an operation and says what came of it, as the API's answer
    /// shows: a queued one is cancelled at once (its state `cancelled`); a
    /// running one is asked to stop (still `running`: its worker stops it
    /// at its next lease renewal); one that had already ended was not
    /// cancelled at all — too late, exit 4 with the operation named.
    pub async fn cancel(&self, operation: String) -> Result<ExitCode, Failure> {
        let op = self.client.cancel(&operation).await?;
        let result = match op.state {
            OperationState::Queued | OperationState::Running => "cancel_requested",
            OperationState::Cancelled => "cancelled",
            OperationState::Succeeded | OperationState::Failed | OperationState::Interrupted => {
                let mut too_late = Failure::new(
                    exit::REFUSED,
                    "already_ended",
                    format!(
                        "too late: operation {} ({} of {}) had already ended ({}); nothing was cancelled",
                        op.id, op.kind, op.cluster, op.state
                    ),
                );
                too_late.error.operation = Some(op.id);
                return Err(too_late);
            }
        };
        if self.json {
            output::json(&serde_json::json!({"result": result, "operation": op}));
        } else if result == "cancelled" {
            println!(
                "Cancelled operation {} ({} of {}){}.",
                op.id,
                op.kind,
                op.cluster,
                op.error
                    .as_deref()
                    .map(|e| format!(": {e}"))
                    .unwrap_or_default()
            );
        } else {
            println!(
                "Cancel requested: operation {} ({} of {}) is {}; its worker stops it (Terraform saves its state first). Follow it with: slipway logs {} --follow",
                op.id, op.kind, op.cluster, op.state, op.id
            );
        }
        Ok(ExitCode::SUCCESS)
    }
}
