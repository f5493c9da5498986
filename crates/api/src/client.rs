//! A typed client of the HTTP API.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::{Stream, StreamExt};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use slipway_core::event::{Event, kinds};

use crate::types::*;

/// What can go wrong calling the API.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error document.
    #[error("{}", body.error.message)]
    Api { status: StatusCode, body: ErrorBody },
    /// The server could not be reached or the connection broke.
    #[error("cannot reach Slipway at {url}: {source}")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The server answered something that is not the API's JSON.
    #[error("unexpected answer from the server ({status}): {detail}")]
    Unexpected { status: StatusCode, detail: String },
}

impl ClientError {
    /// The HTTP status of an API error.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } | ClientError::Unexpected { status, .. } => {
                Some(*status)
            }
            ClientError::Transport { .. } => None,
        }
    }

    /// The API error's code, e.g. `operation_in_progress`.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api { body, .. } => Some(&body.error.code),
            ClientError::Transport { .. } | ClientError::Unexpected { .. } => None,
        }
    }

    /// What asking again later may cure: a replica dying or restarting
    /// (behind a load balancer, another answers) — the connection failing
    /// or breaking, or 502, 503, 504 — or the caller's rate (429).
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Transport { .. } => true,
            ClientError::Api { status, .. } | ClientError::Unexpected { status, .. } => matches!(
                *status,
                StatusCode::TOO_MANY_REQUESTS
                    | StatusCode::BAD_GATEWAY
                    | StatusCode::SERVICE_UNAVAILABLE
                    | StatusCode::GATEWAY_TIMEOUT
            ),
        }
    }
}

/// The first pause before asking again after a transient failure; it
/// doubles up to [`MAX_RETRY_PAUSE`].
const FIRST_RETRY_PAUSE: Duration = Duration::from_millis(200);
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(2);

/// How many times a request refused for the caller's rate is sent again
/// (each after the server's `Retry-After`, at most [`MAX_RETRY_AFTER`]).
const RATE_LIMITED_RETRIES: u32 = 10;
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);

/// The pause before attempt `n + 1` after `n` transient failures.
fn retry_pause(failures: u32) -> Duration {
    FIRST_RETRY_PAUSE
        .saturating_mul(1 << failures.min(8))
        .min(MAX_RETRY_PAUSE)
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

/// A client of one Slipway server.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
    /// Until when reads (GET) are asked again after a transient failure.
    retry_reads_until: Option<tokio::time::Instant>,
}

impl Client {
    /// `base_url` like `http://127.0.0.1:7878`; `token` is sent as a bearer token.
    pub fn new(base_url: &str, token: Option<String>) -> Self {
        let mut http = reqwest::Client::builder().connect_timeout(Duration::from_secs(10));
        if base_url.starts_with("http://") {
            // Nothing to verify: skip loading the system's root
            // certificates, which costs a command several milliseconds.
            // (A redirect to https would then fail verification.)
            http = http.tls_certs_only(std::iter::empty());
        }
        let http = http
            .build()
            .expect("an HTTP client with default TLS settings");
        Self {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            token,
            retry_reads_until: None,
        }
    }

    /// This client, but its reads (GET, which change nothing) are asked
    /// again after a transient failure ([`ClientError::is_transient`]) until
    /// `until`: through a load balancer, a replica that died is replaced by
    /// another. Requests that change something are never repeated.
    pub fn retrying_reads_until(&self, until: tokio::time::Instant) -> Self {
        Self {
            retry_reads_until: Some(until),
            ..self.clone()
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let req = self.http.request(method, format!("{}{path}", self.base));
        match &self.token {
            Some(token) => req.bearer_auth(token),
            None => req,
        }
    }

    async fn send<T: DeserializeOwned>(&self, mut req: RequestBuilder) -> Result<T> {
        let mut failures = 0;
        let mut limited = 0;
        loop {
            // Refused for the caller's rate (429), a request was not
            // processed: any may be sent again once the server says.
            let copy = req.try_clone();
            let again = self.retry_reads_until.and_then(|until| {
                let copy = req.try_clone()?;
                let is_read = copy.try_clone()?.build().ok()?.method() == Method::GET;
                is_read.then_some((until, copy))
            });
            let (result, retry_after) = self.send_once(req).await;
            match (result, again, copy) {
                (Err(e), _, Some(copy))
                    if e.status() == Some(StatusCode::TOO_MANY_REQUESTS)
                        && limited < RATE_LIMITED_RETRIES =>
                {
                    tokio::time::sleep(
                        retry_after
                            .unwrap_or(Duration::from_secs(1))
                            .min(MAX_RETRY_AFTER),
                    )
                    .await;
                    limited += 1;
                    req = copy;
                }
                (Err(e), Some((until, copy)), _)
                    if e.is_transient()
                        && tokio::time::Instant::now() + retry_pause(failures) < until =>
                {
                    tokio::time::sleep(retry_pause(failures)).await;
                    failures += 1;
                    req = copy;
                }
                (result, _, _) => return result,
            }
        }
    }

    /// One request: its answer, and the server's `Retry-After`.
    async fn send_once<T: DeserializeOwned>(
        &self,
        req: RequestBuilder,
    ) -> (Result<T>, Option<Duration>) {
        let response = match req.send().await {
            Ok(response) => response,
            Err(source) => {
                return (
                    Err(ClientError::Transport {
                        url: self.base.clone(),
                        source,
                    }),
                    None,
                );
            }
        };
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok()?.trim().parse().ok())
            .map(Duration::from_secs);
        let bytes = match response.bytes().await {
            Ok(bytes) => bytes,
            Err(source) => {
                return (
                    Err(ClientError::Transport {
                        url: self.base.clone(),
                        source,
                    }),
                    retry_after,
                );
            }
        };
        let result = if status.is_success() {
            serde_json::from_slice(&bytes).map_err(|e| ClientError::Unexpected {
                status,
                detail: e.to_string(),
            })
        } else {
            match serde_json::from_slice::<ErrorBody>(&bytes) {
                Ok(body) => Err(ClientError::Api { status, body }),
                Err(_) => Err(ClientError::Unexpected {
                    status,
                    detail: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
                }),
            }
        };
        (result, retry_after)
    }

    pub async fn health(&self) -> Result<Health> {
        self.send(self.http.get(format!("{}/healthz", self.base)))
            .await
    }

    pub async fn create_cluster(&self, req: &CreateCluster) -> Result<ClusterStatus> {
        self.send(self.request(Method::POST, "/v1/clusters").json(req))
            .await
    }

    pub async fn cluster(&self, name: &str) -> Result<ClusterStatus> {
        self.send(self.request(Method::GET, &format!("/v1/clusters/{name}")))
            .await
    }

    /// A page of the clusters the caller may see, by name.
    /// A page of the clusters `query` lets through.
    pub async fn clusters(&self, query: &ClusterQuery) -> Result<ClusterPage> {
        self.send(self.request(Method::GET, "/v1/clusters").query(query))
            .await
    }

    pub async fn deploy(&self, name: &str, req: &DeployCluster) -> Result<ActionResponse> {
        self.send(
            self.request(Method::POST, &format!("/v1/clusters/{name}/deploy"))
                .json(req),
        )
        .await
    }

    pub async fn destroy(&self, name: &str, req: &DestroyCluster) -> Result<ActionResponse> {
        let request = self.request(Method::POST, &format!("/v1/clusters/{name}/destroy"));
        // Without force, no body: the plain destroy every client sends.
        let request = if req.force {
            request.json(req)
        } else {
            request
        };
        self.send(request).await
    }

    pub async fn set_protection(&self, name: &str, protected: bool) -> Result<ActionResponse> {
        self.send(
            self.request(Method::PUT, &format!("/v1/clusters/{name}/protection"))
                .json(&ClusterProtection { protected }),
        )
        .await
    }

    pub async fn refresh(&self, name: &str) -> Result<ActionResponse> {
        self.send(self.request(Method::POST, &format!("/v1/clusters/{name}/refresh")))
            .await
    }

    pub async fn remove_cluster(&self, name: &str) -> Result<ActionResponse> {
        self.send(self.request(Method::DELETE, &format!("/v1/clusters/{name}")))
            .await
    }

    pub async fn set_visibility(&self, name: &str, public: bool) -> Result<ActionResponse> {
        self.send(
            self.request(Method::PUT, &format!("/v1/clusters/{name}/visibility"))
                .json(&ClusterVisibility { public }),
        )
        .await
    }

    pub async fn schedule_destroy(
        &self,
        name: &str,
        req: &ScheduleDestroy,
    ) -> Result<ActionResponse> {
        self.send(
            self.request(Method::PUT, &format!("/v1/clusters/{name}/schedule"))
                .json(req),
        )
        .await
    }

    pub async fn unschedule_destroy(&self, name: &str) -> Result<ActionResponse> {
        self.send(self.request(Method::DELETE, &format!("/v1/clusters/{name}/schedule")))
            .await
    }

    pub async fn operation(&self, id: &str) -> Result<OperationView> {
        self.send(self.request(Method::GET, &format!("/v1/operations/{id}")))
            .await
    }

    /// A page of operations, newest first; of one cluster if given.
    pub async fn operations(
        &self,
        cluster: Option<&str>,
        page: &PageQuery,
    ) -> Result<OperationPage> {
        let path = match cluster {
            Some(c) => format!("/v1/clusters/{c}/operations"),
            None => "/v1/operations".to_owned(),
        };
        self.send(self.request(Method::GET, &path).query(page))
            .await
    }

    /// TEST (or RELEASE, with `release`) of the project at `version`.
    pub async fn start_run(&self, cluster: &str, release: bool, version: &str) -> Result<RunView> {
        let action = if release { "release" } else { "test" };
        self.send(
            self.request(Method::POST, &format!("/v1/clusters/{cluster}/{action}"))
                .json(&RunRequest {
                    version: version.to_owned(),
                }),
        )
        .await
    }

    /// One run.
    pub async fn run(&self, id: &str) -> Result<RunView> {
        self.send(self.request(Method::GET, &format!("/v1/runs/{id}")))
            .await
    }

    /// Runs, newest first: of one cluster, or of all.
    pub async fn runs(&self, cluster: Option<&str>) -> Result<Vec<RunView>> {
        let path = match cluster {
            Some(c) => format!("/v1/clusters/{c}/runs"),
            None => "/v1/runs".to_owned(),
        };
        self.send(self.request(Method::GET, &path)).await
    }

    /// The latest result and pass rate per cluster, kind and version.
    pub async fn run_report(&self) -> Result<RunReport> {
        self.send(self.request(Method::GET, "/v1/reports/runs"))
            .await
    }

    /// Every version of a cluster's Terraform state, oldest first.
    pub async fn state_history(&self, cluster: &str) -> Result<Vec<StateVersionView>> {
        self.send(self.request(Method::GET, &format!("/v1/clusters/{cluster}/states")))
            .await
    }

    /// The events of an operation after sequence number `after`.
    pub async fn events(&self, id: &str, after: u64) -> Result<EventPage> {
        self.send(self.request(
            Method::GET,
            &format!("/v1/operations/{id}/events?after={after}"),
        ))
        .await
    }

    pub async fn cancel(&self, id: &str) -> Result<OperationView> {
        self.send(self.request(Method::POST, &format!("/v1/operations/{id}/cancel")))
            .await
    }

    /// A cluster's status now and after every change, as server-sent
    /// events, until the connection ends.
    pub async fn watch(&self, name: &str) -> Result<JsonStream<ClusterStatus>> {
        let response = open_stream(self, &format!("/v1/clusters/{name}/watch"), None).await?;
        Ok(sse_json(response, &self.base))
    }

    // ---- identity and access ----

    pub async fn device_start(&self) -> Result<DeviceStart> {
        self.send(self.request(Method::POST, "/v1/auth/device"))
            .await
    }

    pub async fn device_poll(&self, device_code: &str) -> Result<DevicePollResponse> {
        let body = DevicePoll {
            device_code: device_code.to_owned(),
        };
        self.send(
            self.request(Method::POST, "/v1/auth/device/token")
                .json(&body),
        )
        .await
    }

    pub async fn github_token_login(&self, token: &str) -> Result<Session> {
        let body = GitHubTokenLogin {
            token: token.to_owned(),
        };
        self.send(
            self.request(Method::POST, "/v1/auth/github-token")
                .json(&body),
        )
        .await
    }

    pub async fn logout(&self) -> Result<()> {
        self.send_empty(self.request(Method::POST, "/v1/auth/logout"))
            .await
    }

    pub async fn whoami(&self) -> Result<WhoAmI> {
        self.send(self.request(Method::GET, "/v1/whoami")).await
    }

    pub async fn access(&self, cluster: &str) -> Result<ClusterToken> {
        self.send(self.request(Method::POST, &format!("/v1/clusters/{cluster}/access")))
            .await
    }

    pub async fn create_token(&self, req: &CreateToken) -> Result<CreatedToken> {
        self.send(self.request(Method::POST, "/v1/tokens").json(req))
            .await
    }

    pub async fn tokens(&self) -> Result<Vec<TokenView>> {
        self.send(self.request(Method::GET, "/v1/tokens")).await
    }

    pub async fn revoke_token(&self, id: &str) -> Result<()> {
        self.send_empty(self.request(Method::DELETE, &format!("/v1/tokens/{id}")))
            .await
    }

    pub async fn create_organization(&self, req: &CreateOrganization) -> Result<OrganizationView> {
        self.send(self.request(Method::POST, "/v1/orgs").json(req))
            .await
    }

    pub async fn organization(&self, name: &str) -> Result<OrganizationView> {
        self.send(self.request(Method::GET, &format!("/v1/orgs/{name}")))
            .await
    }

    pub async fn update_organization(
        &self,
        name: &str,
        req: &UpdateOrganization,
    ) -> Result<OrganizationView> {
        self.send(
            self.request(Method::PATCH, &format!("/v1/orgs/{name}"))
                .json(req),
        )
        .await
    }

    pub async fn members(&self, org: &str) -> Result<Vec<MembershipView>> {
        self.send(self.request(Method::GET, &format!("/v1/orgs/{org}/members")))
            .await
    }

    pub async fn request_membership(&self, org: &str) -> Result<MembershipView> {
        self.send(self.request(Method::POST, &format!("/v1/orgs/{org}/members")))
            .await
    }

    pub async fn approve_membership(
        &self,
        org: &str,
        login: &str,
        owner: bool,
    ) -> Result<MembershipView> {
        self.send(
            self.request(
                Method::POST,
                &format!("/v1/orgs/{org}/members/{login}/approve"),
            )
            .json(&ApproveMembership { owner }),
        )
        .await
    }

    pub async fn remove_membership(&self, org: &str, login: &str) -> Result<()> {
        self.send_empty(self.request(Method::DELETE, &format!("/v1/orgs/{org}/members/{login}")))
            .await
    }

    pub async fn account(&self, org: &str) -> Result<AccountView> {
        self.send(self.request(Method::GET, &format!("/v1/orgs/{org}/account")))
            .await
    }

    pub async fn update_account(
        &self,
        org: &str,
        req: &UpdateAccount,
    ) -> Result<ReconciliationView> {
        self.send(
            self.request(Method::PATCH, &format!("/v1/orgs/{org}/account"))
                .json(req),
        )
        .await
    }

    pub async fn reconcile(&self, org: &str) -> Result<ReconciliationView> {
        self.send(self.request(Method::POST, &format!("/v1/orgs/{org}/account/reconcile")))
            .await
    }

    pub async fn costs(&self, org: &str, query: &CostQuery) -> Result<CostHistory> {
        self.send(
            self.request(Method::GET, &format!("/v1/orgs/{org}/costs"))
                .query(query),
        )
        .await
    }

    pub async fn forecast(&self, org: &str) -> Result<ForecastView> {
        self.send(self.request(Method::GET, &format!("/v1/orgs/{org}/forecast")))
            .await
    }

    pub async fn request_capacity(
        &self,
        cluster: &str,
        req: &CreateCapacityRequest,
    ) -> Result<CapacityResponse> {
        self.send(
            self.request(Method::POST, &format!("/v1/clusters/{cluster}/capacity"))
                .json(req),
        )
        .await
    }

    pub async fn capacity_requests(&self, cluster: &str) -> Result<Vec<CapacityRequestView>> {
        self.send(self.request(Method::GET, &format!("/v1/clusters/{cluster}/capacity")))
            .await
    }

    pub async fn withdraw_capacity(&self, cluster: &str, id: &str) -> Result<CapacityResponse> {
        self.send(self.request(
            Method::DELETE,
            &format!("/v1/clusters/{cluster}/capacity/{id}"),
        ))
        .await
    }

    pub async fn rotate_keys(&self) -> Result<RotatedKeys> {
        self.send(self.request(Method::POST, "/v1/admin/rotate-keys"))
            .await
    }

    /// Whether provisioning is paused site-wide.
    pub async fn provisioning(&self) -> Result<ProvisioningView> {
        self.send(self.request(Method::GET, "/v1/provisioning"))
            .await
    }

    /// APPLY a deployment in an environment (or, dry, say what would change).
    pub async fn apply_deployment(
        &self,
        deployment: &str,
        environment: &str,
        req: &DesiredDeployment,
    ) -> Result<DeploymentChanges> {
        self.send(
            self.request(
                Method::PUT,
                &format!("/v1/deployments/{deployment}/environments/{environment}"),
            )
            .json(req),
        )
        .await
    }

    /// Each deployment repositories applied that the caller may see.
    pub async fn deployments(&self) -> Result<Vec<DeploymentView>> {
        self.send(self.request(Method::GET, "/v1/deployments"))
            .await
    }

    /// The server's age recipient.
    pub async fn secrets_recipient(&self) -> Result<SecretsRecipient> {
        self.send(self.request(Method::GET, "/v1/secrets/recipient"))
            .await
    }

    /// Pauses provisioning site-wide (administrators).
    pub async fn pause_provisioning(&self, reason: &str) -> Result<ProvisioningView> {
        self.send(
            self.request(Method::POST, "/v1/admin/provisioning/pause")
                .json(&PauseProvisioning {
                    reason: reason.to_owned(),
                }),
        )
        .await
    }

    /// Resumes provisioning (administrators).
    pub async fn resume_provisioning(&self) -> Result<ProvisioningView> {
        self.send(self.request(Method::POST, "/v1/admin/provisioning/resume"))
            .await
    }

    /// Revokes a user or cluster token by its `jti` (administrators).
    pub async fn revoke_jti(&self, jti: &str) -> Result<()> {
        self.send_empty(
            self.request(Method::POST, "/v1/admin/revoke")
                .json(&RevokeToken {
                    jti: jti.to_owned(),
                }),
        )
        .await
    }

    /// The audit log, newest first. `query` is `key=value&…` of `target`,
    /// `actor`, `action`, `before`, `limit`.
    pub async fn audit(&self, query: &[(&str, String)]) -> Result<Vec<AuditEntryView>> {
        let query = serde_urlencoded::to_string(query).expect("strings encode");
        self.send(self.request(Method::GET, &format!("/v1/audit?{query}")))
            .await
    }

    /// Sends a request whose successful answer has no body.
    async fn send_empty(&self, req: RequestBuilder) -> Result<()> {
        let response = req.send().await.map_err(|source| ClientError::Transport {
            url: self.base.clone(),
            source,
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let bytes = response.bytes().await.unwrap_or_default();
        Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
            Ok(body) => ClientError::Api { status, body },
            Err(_) => ClientError::Unexpected {
                status,
                detail: String::from_utf8_lossy(&bytes).chars().take(500).collect(),
            },
        })
    }

    pub async fn blueprints(&self) -> Result<Vec<BlueprintView>> {
        self.send(self.request(Method::GET, "/v1/blueprints")).await
    }

    /// One blueprint version (`latest`: what it names for the caller).
    pub async fn blueprint(&self, name: &str, version: &str) -> Result<BlueprintDetail> {
        self.send(self.request(
            Method::GET,
            &format!("/v1/blueprints/{name}/versions/{version}"),
        ))
        .await
    }

    /// Publishes a blueprint version: its directory as a gzip'd tar
    /// archive (`slipway_engine::catalog::pack_dir`).
    pub async fn publish_blueprint(
        &self,
        name: &str,
        version: &str,
        archive: Vec<u8>,
        organizations: Option<&[String]>,
        latest: bool,
    ) -> Result<PublishedBlueprint> {
        let mut query = vec![("latest", latest.to_string())];
        if let Some(orgs) = organizations {
            query.push(("organizations", orgs.join(",")));
        }
        self.send(
            self.request(
                Method::PUT,
                &format!("/v1/blueprints/{name}/versions/{version}"),
            )
            .query(&query)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(archive),
        )
        .await
    }

    pub async fn deprecate_blueprint(
        &self,
        name: &str,
        version: &str,
        reason: &str,
    ) -> Result<BlueprintView> {
        self.send(
            self.request(
                Method::POST,
                &format!("/v1/blueprints/{name}/versions/{version}/deprecate"),
            )
            .json(&DeprecateBlueprint {
                reason: reason.to_owned(),
            }),
        )
        .await
    }

    pub async fn move_blueprint_latest(&self, name: &str, version: &str) -> Result<BlueprintView> {
        self.send(
            self.request(Method::PUT, &format!("/v1/blueprints/{name}/latest"))
                .json(&MoveLatest {
                    version: version.to_owned(),
                }),
        )
        .await
    }

    /// Follows an operation's events as they happen (server-sent events),
    /// reconnecting where it left off (`Last-Event-ID`) if the connection
    /// breaks or the replica it reached dies — through a load balancer,
    /// another replica takes over — for up to [`DEFAULT_PATIENCE`] of
    /// failures in a row ([`Follower::patience`] changes it).
    pub fn follow(&self, id: &str, after: u64) -> Follower {
        Follower {
            client: self.clone(),
            operation: id.to_owned(),
            last_seq: after,
            stream: None,
            finished: false,
            patience: DEFAULT_PATIENCE,
            failing_since: None,
            failures: 0,
        }
    }
}

/// A stream of JSON documents from server-sent events.
pub type JsonStream<T> = std::pin::Pin<Box<dyn Stream<Item = Result<T>> + Send>>;
type EventStream = JsonStream<Event>;

/// Decodes a `text/event-stream` response whose messages carry JSON.
fn sse_json<T: DeserializeOwned + Send + 'static>(
    response: reqwest::Response,
    base: &str,
) -> JsonStream<T> {
    let base = base.to_owned();
    let messages = response
        .bytes_stream()
        .eventsource()
        .filter_map(move |item| {
            let base = base.clone();
            async move {
                match item {
                    Ok(message) if message.data.is_empty() => None,
                    Ok(message) => Some(serde_json::from_str::<T>(&message.data).map_err(|e| {
                        ClientError::Unexpected {
                            status: StatusCode::OK,
                            detail: format!("unreadable message in the event stream: {e}"),
                        }
                    })),
                    Err(e) => Some(Err(ClientError::Unexpected {
                        status: StatusCode::OK,
                        detail: format!("event stream from {base} broke: {e}"),
                    })),
                }
            }
        });
    Box::pin(messages)
}

/// Opens a `text/event-stream` (resuming after the event `last_id`, with
/// `Last-Event-ID`), turning error answers into [`ClientError`]s.
async fn open_stream(
    client: &Client,
    path: &str,
    last_id: Option<u64>,
) -> Result<reqwest::Response> {
    let mut request = client
        .request(Method::GET, path)
        .header("accept", "text/event-stream");
    if let Some(last_id) = last_id {
        request = request.header("last-event-id", last_id.to_string());
    }
    let response = request
        .send()
        .await
        .map_err(|source| ClientError::Transport {
            url: client.base.clone(),
            source,
        })?;
    let status = response.status();
    if status.is_success() {
        return Ok(response);
    }
    let bytes = response.bytes().await.unwrap_or_default();
    Err(match serde_json::from_slice::<ErrorBody>(&bytes) {
        Ok(body) => ClientError::Api { status, body },
        Err(_) => ClientError::Unexpected {
            status,
            detail: String::from_utf8_lossy(&bytes).into_owned(),
        },
    })
}

/// How long a [`Follower`] keeps reconnecting through failures in a row.
pub const DEFAULT_PATIENCE: Duration = Duration::from_secs(60);

/// An operation's events, live. See [`Client::follow`].
pub struct Follower {
    client: Client,
    operation: String,
    last_seq: u64,
    stream: Option<EventStream>,
    finished: bool,
    /// How long failures in a row may last before the follower gives up.
    patience: Duration,
    failing_since: Option<tokio::time::Instant>,
    failures: u32,
}

impl Follower {
    /// Keeps reconnecting through failures in a row for up to `patience`
    /// (e.g. as long as the caller waits for the operation).
    pub fn patience(mut self, patience: Duration) -> Self {
        self.patience = patience;
        self
    }

    /// The next event; `None` after the operation's last event.
    pub async fn next(&mut self) -> Option<Result<Event>> {
        loop {
            if self.finished {
                return None;
            }
            let stream = match &mut self.stream {
                Some(stream) => stream,
                None => match self.connect().await {
                    Ok(stream) => self.stream.insert(stream),
                    Err(e) if e.is_transient() => {
                        if let Err(e) = self.pause_after(e).await {
                            return Some(Err(e));
                        }
                        continue;
                    }
                    Err(e) => return Some(Err(e)),
                },
            };
            match stream.next().await {
                Some(Ok(event)) => {
                    self.failing_since = None;
                    self.failures = 0;
                    if event.seq <= self.last_seq {
                        continue;
                    }
                    self.last_seq = event.seq;
                    self.finished = event.kind == kinds::FINISHED;
                    return Some(Ok(event));
                }
                Some(Err(e)) if matches!(e, ClientError::Api { .. }) => return Some(Err(e)),
                // The connection ended or broke before the last event (the
                // replica died, or restarted): resume where it left off.
                Some(Err(e)) => {
                    self.stream = None;
                    if let Err(e) = self.pause_after(e).await {
                        return Some(Err(e));
                    }
                }
                None => {
                    self.stream = None;
                    let ended = ClientError::Unexpected {
                        status: StatusCode::BAD_GATEWAY,
                        detail: format!(
                            "the event stream from {} ended before the operation did",
                            self.client.base
                        ),
                    };
                    if let Err(e) = self.pause_after(ended).await {
                        return Some(Err(e));
                    }
                }
            }
        }
    }

    /// Waits before reconnecting after `error`, or gives up with it once
    /// failures in a row have lasted longer than the patience.
    async fn pause_after(&mut self, error: ClientError) -> Result<()> {
        let now = tokio::time::Instant::now();
        let since = *self.failing_since.get_or_insert(now);
        if now.duration_since(since) >= self.patience {
            return Err(error);
        }
        tokio::time::sleep(retry_pause(self.failures)).await;
        self.failures += 1;
        Ok(())
    }

    async fn connect(&self) -> Result<EventStream> {
        let path = format!("/v1/operations/{}/events?follow=true", self.operation);
        let response = open_stream(&self.client, &path, Some(self.last_seq)).await?;
        Ok(sse_json(response, &self.client.base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(status: StatusCode) -> ClientError {
        ClientError::Api {
            status,
            body: ErrorBody {
                error: ErrorDetail {
                    code: "x".into(),
                    message: "x".into(),
                    field: None,
                    operation: None,
                },
            },
        }
    }

    #[test]
    fn only_what_asking_again_later_may_cure_is_transient() {
        for status in [
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::BAD_GATEWAY,
            StatusCode::SERVICE_UNAVAILABLE,
            StatusCode::GATEWAY_TIMEOUT,
        ] {
            assert!(api_error(status).is_transient(), "{status}");
        }
        for status in [
            StatusCode::NOT_FOUND,
            StatusCode::UNAUTHORIZED,
            StatusCode::CONFLICT,
            StatusCode::INTERNAL_SERVER_ERROR,
        ] {
            assert!(!api_error(status).is_transient(), "{status}");
        }
    }

    #[test]
    fn pauses_double_up_to_a_ceiling() {
        assert_eq!(retry_pause(0), Duration::from_millis(200));
        assert_eq!(retry_pause(1), Duration::from_millis(400));
        assert_eq!(retry_pause(3), Duration::from_millis(1600));
        assert_eq!(retry_pause(4), MAX_RETRY_PAUSE);
        assert_eq!(retry_pause(u32::MAX), MAX_RETRY_PAUSE);
    }
}
