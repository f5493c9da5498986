//! `Control`: the first generation's cluster commands as Slipway's actions.
//! A first-generation "organization" had exactly one cluster of its name;
//! here a request's `name` is the cluster of that name (in its
//! organization). The same rules as the REST API decide — limits, budgets,
//! one infrastructure operation per cluster.
//!
//! The commands that change a cluster stream `Response` messages while
//! their operation runs: first what was decided, then the operation's log
//! live (Terraform's lines as `cli.stdout`, its commands as `cli.cmd_args`,
//! its errors as `cli.stderr`), then the cluster's `state`, and last a
//! message with `done = true`. A refusal (bad input, a conflicting
//! operation, a limit) is one message with `ps_server_error`, `error_msg`
//! and `done`, then a non-OK status — at once, never a hang. An operation
//! that ran and failed ends like the first generation's did: `done` with
//! `ps_server_error` and its error, status OK.

use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use chrono::Utc;
use futures::{Stream, StreamExt};
use slipway_api::types::{
    ActionResponse, ActionResult, BlueprintView, ClusterStatus, CreateCluster, DeployCluster,
};
use slipway_core::event::{Event, EventLevel, kinds};
use slipway_core::{OperationState, Variables};
use slipway_service::{Caller, Error, Kind, Service};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

use crate::GrpcConfig;
use crate::caller::caller;
use crate::proto::{
    self, AsgCfg, AsgCfgsReq, AsgCfgsRsp, CurrentSetUpCfgReq, CurrentSetUpCfgRsp, DestroyRequest,
    InitReq, InitRsp, PsVersionsReq, PsVersionsRsp, RefreshRequest, SetUpReq, StateOfCluster,
    TearDownReq, UpdateRequest, VersionsReq, VersionsRsp,
};
use crate::status::to_status;

/// The `Control` service.
pub struct Control {
    pub service: Arc<Service>,
    pub config: Arc<GrpcConfig>,
}

type Responses = Pin<Box<dyn Stream<Item = Result<proto::Response, Status>> + Send>>;

/// The first generation's set-up fields that become the blueprint's
/// variables of the same names, where it declares them.
const SETUP_VARIABLES: [&str; 4] = [
    "spot_allocation_strategy",
    "spot_max_price",
    "asg_cfg",
    "availability_zone",
];

#[tonic::async_trait]
impl proto::control_server::Control for Control {
    async fn init(&self, _: Request<InitReq>) -> Result<Response<InitRsp>, Status> {
        Err(Status::unimplemented(
            "Init was the first generation's test hook; Slipway has none (SetUp defines a cluster)",
        ))
    }

    /// The versions of the configured blueprint, `latest` first, then
    /// newest first. With a `name`, only if the caller may see that
    /// cluster.
    async fn get_versions(
        &self,
        request: Request<VersionsReq>,
    ) -> Result<Response<VersionsRsp>, Status> {
        let caller = caller(&request)?;
        let name = request.into_inner().name;
        if !name.is_empty() {
            self.service
                .cluster_status(&caller, &name)
                .await
                .map_err(to_status)?;
        }
        let versions = std::iter::once("latest".to_owned())
            .chain(self.versions(&caller).await?.into_iter().map(|b| b.version))
            .collect();
        Ok(Response::new(VersionsRsp { versions }))
    }

    /// For each version, the values its `asg_cfg` variable allows (none
    /// when it declares no such variable).
    async fn get_asg_cfgs(
        &self,
        request: Request<AsgCfgsReq>,
    ) -> Result<Response<AsgCfgsRsp>, Status> {
        let caller = caller(&request)?;
        let mut asg_cfg = Vec::new();
        for b in self.versions(&caller).await? {
            let version = self
                .service
                .blueprint_version(&caller, &b.name, &b.version)
                .await
                .map_err(to_status)?;
            asg_cfg.push(AsgCfg {
                version: b.version,
                asg_cfg_options: version
                    .metadata
                    .variables
                    .get("asg_cfg")
                    .map(|v| v.allowed.clone())
                    .unwrap_or_default(),
            });
        }
        Ok(Response::new(AsgCfgsRsp { asg_cfg }))
    }

    /// The cluster's definition as a `SetUpReq`.
    async fn get_current_set_up_cfg(
        &self,
        request: Request<CurrentSetUpCfgReq>,
    ) -> Result<Response<CurrentSetUpCfgRsp>, Status> {
        let caller = caller(&request)?;
        let name = request.into_inner().name;
        let status = self
            .service
            .cluster_status(&caller, &name)
            .await
            .map_err(to_status)?;
        let variables = self
            .service
            .cluster_variables(&caller, &name)
            .await
            .map_err(to_status)?;
        let text = |key: &str| {
            variables
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or_default()
                .to_owned()
        };
        Ok(Response::new(CurrentSetUpCfgRsp {
            setup_cfg: Some(SetUpReq {
                name: status.name,
                version: status.version,
                is_public: status.public,
                now: status.updated_at.to_rfc3339(),
                spot_allocation_strategy: text("spot_allocation_strategy"),
                spot_max_price: variables
                    .get("spot_max_price")
                    .and_then(serde_json::Value::as_f64)
                    .unwrap_or_default(),
                asg_cfg: text("asg_cfg"),
                availability_zone: text("availability_zone"),
            }),
        }))
    }

    async fn get_ps_versions(
        &self,
        request: Request<PsVersionsReq>,
    ) -> Result<Response<PsVersionsRsp>, Status> {
        caller(&request)?;
        Ok(Response::new(PsVersionsRsp {
            ps_versions: format!(
                "slipway {} (terraform {})",
                env!("CARGO_PKG_VERSION"),
                self.service.engine.terraform().version
            ),
        }))
    }

    type UpdateStream = Responses;

    /// Deploys the cluster at `num_nodes` (or resizes it).
    async fn update(&self, request: Request<UpdateRequest>) -> Result<Response<Responses>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let service = self.service.clone();
        let blueprint = self.config.gen1.blueprint.clone();
        Ok(streamed(
            "Update",
            req.name.clone(),
            move |out| async move {
                if req.max_nodes > 0 && !(req.min_nodes..=req.max_nodes).contains(&req.num_nodes) {
                    let e = Error::invalid(
                        "num_nodes",
                        format!(
                            "must be within min_nodes..max_nodes ({}..{}), got {}",
                            req.min_nodes, req.max_nodes, req.num_nodes
                        ),
                    );
                    return out.refused(e).await;
                }
                let deploy = DeployCluster {
                    nodes: Some(req.num_nodes),
                    ..DeployCluster::default()
                };
                let decided = service
                    .deploy(&caller, &req.name, deploy)
                    .await
                    .map_err(|e| set_up_first(e, &req.name, &blueprint));
                out.follow(&service, &caller, decided).await;
            },
        ))
    }

    type RefreshStream = Responses;

    /// Lets Terraform read what really exists of the cluster.
    async fn refresh(
        &self,
        request: Request<RefreshRequest>,
    ) -> Result<Response<Responses>, Status> {
        let caller = caller(&request)?;
        let name = request.into_inner().name;
        let service = self.service.clone();
        Ok(streamed("Refresh", name.clone(), move |out| async move {
            let decided = service.refresh(&caller, &name).await;
            out.follow(&service, &caller, decided).await;
        }))
    }

    type DestroyStream = Responses;

    async fn destroy(
        &self,
        request: Request<DestroyRequest>,
    ) -> Result<Response<Responses>, Status> {
        let caller = caller(&request)?;
        let name = request.into_inner().name;
        let service = self.service.clone();
        Ok(streamed("Destroy", name.clone(), move |out| async move {
            let decided = service.destroy(&caller, &name, Default::default()).await;
            out.follow(&service, &caller, decided).await;
        }))
    }

    type SetUpStream = Responses;

    /// Defines the cluster on the configured blueprint, in the organization
    /// of its name if there is one (else the default organization). A
    /// cluster already set up this way is left as it is; one with nothing
    /// deployed is defined again with the new version or public flag; a
    /// deployed one keeps its version (deploy another through the API).
    async fn set_up(&self, request: Request<SetUpReq>) -> Result<Response<Responses>, Status> {
        let caller = caller(&request)?;
        let req = request.into_inner();
        let service = self.service.clone();
        let blueprint = self.config.gen1.blueprint.clone();
        Ok(streamed(
            "SetUp",
            req.name.clone(),
            move |mut out| async move {
                match set_up(&service, &caller, &blueprint, &req).await {
                    Ok((said, status)) => {
                        out.say(said).await;
                        out.finish(&status, None).await;
                    }
                    Err(e) => out.refused(e).await,
                }
            },
        ))
    }

    type TearDownStream = Responses;

    /// Removes the cluster's definition; refused while it is deployed.
    async fn tear_down(
        &self,
        request: Request<TearDownReq>,
    ) -> Result<Response<Responses>, Status> {
        let caller = caller(&request)?;
        let name = request.into_inner().name;
        let service = self.service.clone();
        Ok(streamed("TearDown", name.clone(), move |out| async move {
            let decided = service.remove_cluster(&caller, &name).await;
            out.follow(&service, &caller, decided).await;
        }))
    }
}

impl Control {
    /// The configured blueprint's versions, newest first.
    async fn versions(&self, caller: &Caller) -> Result<Vec<BlueprintView>, Status> {
        let blueprint = &self.config.gen1.blueprint;
        let mut versions: Vec<BlueprintView> = self
            .service
            .blueprints(caller)
            .await
            .map_err(to_status)?
            .into_iter()
            .filter(|b| &b.name == blueprint)
            .collect();
        versions.sort_by_key(|b| std::cmp::Reverse(b.created_at));
        Ok(versions)
    }
}

/// `Update` of a cluster no one defined: NOT_FOUND, saying that `SetUp`
/// defines it (the first generation's clients call `SetUp`, then `Update`).
fn set_up_first(e: Error, name: &str, blueprint: &str) -> Error {
    match e.kind {
        Kind::NotFound => Error {
            message: format!(
                "{}: call SetUp first, which defines cluster {name} on blueprint {blueprint}; then Update deploys it",
                e.message
            ),
            ..e
        },
        Kind::Invalid
        | Kind::Unauthenticated
        | Kind::Forbidden
        | Kind::Conflict
        | Kind::OverLimit
        | Kind::RateLimited
        | Kind::Unavailable => e,
    }
}

/// SetUp: what was done, and the cluster as it is now.
async fn set_up(
    service: &Service,
    caller: &Caller,
    blueprint: &str,
    req: &SetUpReq,
) -> Result<(String, ClusterStatus), Error> {
    let asked = if req.version.is_empty() {
        "latest"
    } else {
        req.version.as_str()
    };
    let version = service.blueprint_version(caller, blueprint, asked).await?;
    let variables = setup_variables(&version.metadata.variables, req);
    let create = |organization: String| CreateCluster {
        name: req.name.clone(),
        blueprint: blueprint.to_owned(),
        version: Some(version.version.clone()),
        organization: Some(organization),
        public: req.is_public,
        nodes: None,
        variables: variables.clone(),
    };
    let existing = match service.cluster_status(caller, &req.name).await {
        Ok(status) => Some(status),
        Err(e) if e.kind == Kind::NotFound => None,
        Err(e) => return Err(e),
    };
    let Some(existing) = existing else {
        let organization = match service.organization(caller, &req.name).await {
            Ok(org) => org.name,
            Err(e) if e.kind == Kind::NotFound => {
                slipway_service::clusters::DEFAULT_ORGANIZATION.into()
            }
            Err(e) => return Err(e),
        };
        let status = service.create_cluster(caller, create(organization)).await?;
        return Ok((
            format!(
                "Set up {} on {}@{} in organization {}",
                status.name, status.blueprint, status.version, status.organization
            ),
            status,
        ));
    };
    let unchanged = existing.blueprint == blueprint
        && existing.version == version.version
        && existing.public == req.is_public;
    if unchanged {
        let said = format!(
            "{} is already set up on {}@{}",
            existing.name, existing.blueprint, existing.version
        );
        return Ok((said, existing));
    }
    if existing.state.may_exist() {
        return Err(Error::conflict(
            "still_deployed",
            format!(
                "{} is deployed at {}@{}: destroy it before setting it up again, or deploy the new version through the API (slipway deploy {} --version {})",
                existing.name, existing.blueprint, existing.version, existing.name, version.version
            ),
        ));
    }
    service.remove_cluster(caller, &req.name).await?;
    let status = service
        .create_cluster(caller, create(existing.organization))
        .await?;
    Ok((
        format!(
            "Set up {} again on {}@{} (public: {})",
            status.name, status.blueprint, status.version, status.public
        ),
        status,
    ))
}

/// The set-up fields the blueprint declares as variables, where given.
fn setup_variables(
    declared: &std::collections::BTreeMap<String, slipway_core::blueprint::VariableSpec>,
    req: &SetUpReq,
) -> Variables {
    SETUP_VARIABLES
        .into_iter()
        .filter(|name| declared.contains_key(*name))
        .filter_map(|name| {
            let value = match name {
                "spot_allocation_strategy" => text(&req.spot_allocation_strategy),
                "spot_max_price" => {
                    (req.spot_max_price != 0.0).then(|| serde_json::json!(req.spot_max_price))
                }
                "asg_cfg" => text(&req.asg_cfg),
                _ => text(&req.availability_zone),
            }?;
            Some((name.to_owned(), value))
        })
        .collect()
}

fn text(value: &str) -> Option<serde_json::Value> {
    (!value.is_empty()).then(|| serde_json::Value::String(value.to_owned()))
}

/// Runs `work` with the sending half of a stream and answers the other.
fn streamed<F, Fut>(command: &'static str, name: String, work: F) -> Response<Responses>
where
    F: FnOnce(Out) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(64);
    tokio::spawn(work(Out {
        tx,
        command,
        name,
        seq: 0,
        started: Instant::now(),
    }));
    Response::new(Box::pin(ReceiverStream::new(rx)))
}

/// The sending half of a command's stream.
struct Out {
    tx: mpsc::Sender<Result<proto::Response, Status>>,
    command: &'static str,
    name: String,
    seq: u32,
    started: Instant,
}

impl Out {
    /// Sends a message, numbered; false once the client is gone.
    async fn send(&mut self, mut message: proto::Response) -> bool {
        self.seq += 1;
        message.seq = self.seq;
        message.ps_cmd = self.command.to_owned();
        message.name.clone_from(&self.name);
        self.tx.send(Ok(message)).await.is_ok()
    }

    async fn cli(&mut self, cli: proto::CliRsp) -> bool {
        self.send(proto::Response {
            cli: Some(proto::CliRsp {
                valid: true,
                updating: true,
                ..cli
            }),
            ..proto::Response::default()
        })
        .await
    }

    async fn say(&mut self, line: String) -> bool {
        self.cli(proto::CliRsp {
            stdout: line + "\n",
            ..proto::CliRsp::default()
        })
        .await
    }

    /// One line of the operation's log.
    async fn event(&mut self, event: &Event) -> bool {
        let line = format!("{}\n", event.message);
        let cli = if event.kind == kinds::COMMAND {
            proto::CliRsp {
                cmd_args: event.message.clone(),
                ..proto::CliRsp::default()
            }
        } else if event.kind == kinds::STDERR || event.level == EventLevel::Error {
            proto::CliRsp {
                stderr: line,
                ..proto::CliRsp::default()
            }
        } else {
            proto::CliRsp {
                stdout: line,
                ..proto::CliRsp::default()
            }
        };
        self.cli(cli).await
    }

    /// A refusal: one message saying it, then the status.
    async fn refused(mut self, e: Error) {
        let status = to_status(e);
        let sent = self
            .send(proto::Response {
                done: true,
                ps_server_error: true,
                error_msg: status.message().to_owned(),
                ..proto::Response::default()
            })
            .await;
        if sent {
            let _ = self.tx.send(Err(status)).await;
        }
    }

    /// Reports what was decided and, if it queued or joined an operation,
    /// follows its log to the end; then the cluster's state and `done`.
    async fn follow(
        mut self,
        service: &Arc<Service>,
        caller: &Caller,
        decided: Result<ActionResponse, Error>,
    ) {
        let response = match decided {
            Ok(response) => response,
            Err(e) => return self.refused(e).await,
        };
        let Some(operation) = response.operation else {
            let said = match response.result {
                ActionResult::AlreadyRunning => "already running as asked: nothing to do",
                ActionResult::NothingToDestroy => "nothing deployed: nothing to destroy",
                ActionResult::Removed => "removed",
                ActionResult::VisibilityChanged | ActionResult::ProtectionChanged => "changed",
                ActionResult::Queued
                | ActionResult::Joined
                | ActionResult::Scheduled
                | ActionResult::Unscheduled => "done",
            };
            self.say(format!("{} {said}", response.cluster.name)).await;
            return self.finish(&response.cluster, None).await;
        };
        let joined = if response.result == ActionResult::Joined {
            "joined"
        } else {
            "queued"
        };
        let started = self
            .cli(proto::CliRsp {
                cmd_args: format!(
                    "{} of {}: operation {} {joined} at {}",
                    operation.kind,
                    operation.cluster,
                    operation.id,
                    Utc::now().to_rfc3339()
                ),
                ..proto::CliRsp::default()
            })
            .await;
        if !started {
            return;
        }
        let events = match service
            .clone()
            .follow_operation(caller, &operation.id, 0)
            .await
        {
            Ok(events) => events,
            Err(e) => return self.refused(e).await,
        };
        let mut events = std::pin::pin!(events);
        while let Some(event) = events.next().await {
            if !self.event(&event).await {
                return;
            }
        }
        let ended = match service.operation(caller, &operation.id).await {
            Ok(ended) => ended,
            Err(e) => return self.refused(e).await,
        };
        if !ended.state.is_terminal() {
            let status = Status::unavailable(format!(
                "Slipway is shutting down; operation {} goes on (follow it with: slipway logs {} --follow)",
                ended.id, ended.id
            ));
            let _ = self.tx.send(Err(status)).await;
            return;
        }
        let error = (ended.state != OperationState::Succeeded).then(|| {
            ended
                .error
                .clone()
                .unwrap_or_else(|| format!("the operation ended {}", ended.state))
        });
        let cluster = match service.cluster_status(caller, &response.cluster.name).await {
            Ok(cluster) => cluster,
            Err(e) if e.kind == Kind::NotFound => response.cluster,
            Err(e) => return self.refused(e).await,
        };
        self.finish(&cluster, error).await;
    }

    /// The cluster's state, then the last message.
    async fn finish(mut self, cluster: &ClusterStatus, error: Option<String>) {
        let state = StateOfCluster {
            valid: true,
            deployed: cluster.state.may_exist(),
            deployed_state: cluster.state.to_string(),
            ip_address: cluster.endpoint.as_deref().map(host_of).unwrap_or_default(),
        };
        let sent = self
            .send(proto::Response {
                state: Some(state),
                ..proto::Response::default()
            })
            .await;
        if !sent {
            return;
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let line = match &error {
            None => format!(
                "{} {} completed, elapsed {elapsed:.1}s\n",
                self.command, self.name
            ),
            Some(e) => format!(
                "{} {} failed after {elapsed:.1}s: {e}\n",
                self.command, self.name
            ),
        };
        let last = proto::Response {
            done: true,
            ps_server_error: error.is_some(),
            error_msg: error.unwrap_or_default(),
            cli: Some(proto::CliRsp {
                valid: true,
                updating: false,
                stdout: line,
                ..proto::CliRsp::default()
            }),
            ..proto::Response::default()
        };
        self.send(last).await;
    }
}

/// The host of an endpoint URL (`http://10.0.0.5:8080/` → `10.0.0.5`).
fn host_of(endpoint: &str) -> String {
    let rest = endpoint
        .split_once("://")
        .map_or(endpoint, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    let host = match authority.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => authority.rsplit_once(':').map_or(authority, |(h, _)| h),
    };
    host.to_owned()
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn the_ip_address_is_the_endpoints_host() {
        assert_eq!(host_of("http://127.0.0.1:41234"), "127.0.0.1");
        assert_eq!(host_of("https://10.0.0.5/health"), "10.0.0.5");
        assert_eq!(host_of("http://[::1]:8080/"), "::1");
        assert_eq!(host_of("cluster.example.org"), "cluster.example.org");
    }
}
