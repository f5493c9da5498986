//! The OpenAPI document (`GET /v1/openapi.json`, no token needed: it holds
//! no secret). Each route documents its success; [`ErrorResponses`] adds the
//! errors it can answer, by what the route is — every refusal is
//! `{"error": {"code", "message"}}` — so that the document says what the
//! server really answers.

use std::sync::Arc;

use axum::response::IntoResponse;
use axum::{Extension, Json};
use slipway_api::types::*;
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::response::ResponseBuilder;
use utoipa::openapi::{Content, HttpMethod, Ref, RefOr};

use super::params::{
    BlueprintNameParam, BlueprintVersionParam, CapacityRequestIdParam, ClusterNameParam,
    DeploymentParam, EnvironmentParam, OperationIdParam, OrgNameParam, PersonParam,
};

struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "basic",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Basic).build()),
        );
    }
}

/// Adds to every operation the errors it can answer.
struct ErrorResponses;

/// What each error status means, for the document.
const ERRORS: &[(&str, &str)] = &[
    ("400", "Bad input: the error names the field and the rule"),
    ("401", "No credential, or one that is not valid"),
    (
        "403",
        "The credential's scopes or the caller's level do not allow it",
    ),
    ("404", "No such cluster, operation, organization or route"),
    ("408", "The request body did not arrive in time"),
    (
        "409",
        "Something is in the way (an operation in flight, a name taken, a schedule too near)",
    ),
    ("413", "The request body is too large"),
    ("415", "The request body is not JSON"),
    ("422", "Over a limit of the organization, or its budget"),
    (
        "429",
        "Too many requests (or failed authentications) from this client; see Retry-After",
    ),
    (
        "503",
        "The database, GitHub or object storage cannot answer now; see Retry-After",
    ),
];

/// The error statuses of an operation, from what it is.
fn errors_of(path: &str, method: &HttpMethod, operation: &Operation) -> Vec<&'static str> {
    let secured = operation.security.is_some();
    let has_body = operation.request_body.is_some();
    let mut statuses = vec!["503"];
    if path.starts_with("/v1/") {
        statuses.extend(["400", "429"]);
    }
    if secured {
        statuses.extend(["401", "403"]);
    }
    if path.contains('{') {
        statuses.push("404");
    }
    if has_body {
        statuses.extend(["408", "413"]);
        if !path.starts_with("/v1/terraform/") {
            statuses.push("415");
        }
    }
    let changes = !matches!(method, HttpMethod::Get);
    if changes && secured && !path.starts_with("/v1/terraform/") {
        statuses.extend(["409", "422"]);
    }
    if path.ends_with("/log") {
        // An operation still in flight has no archived log yet.
        statuses.push("409");
    }
    if path.starts_with("/v1/auth/") {
        // Refused by GitHub; or GitHub sign-in is not configured here.
        statuses.extend(["401", "404"]);
    }
    statuses.sort_unstable();
    statuses.dedup();
    statuses
}

impl utoipa::Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            for (method, operation) in operations(item) {
                for status in errors_of(path, &method, operation) {
                    let description = ERRORS
                        .iter()
                        .find(|(s, _)| *s == status)
                        .map(|(_, d)| *d)
                        .unwrap_or_default();
                    operation
                        .responses
                        .responses
                        .entry(status.to_owned())
                        .or_insert_with(|| {
                            RefOr::T(
                                ResponseBuilder::new()
                                    .description(description)
                                    .content(
                                        "application/json",
                                        Content::new(Some(Ref::from_schema_name("ErrorBody"))),
                                    )
                                    .build(),
                            )
                        });
                }
            }
        }
    }
}

/// Says the rules' figures from their constants: a description writes
/// `{change_cutoff}` where the five-minute rule's span goes.
struct RuleWords;

impl utoipa::Modify for RuleWords {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let cutoff = slipway_core::schedule::change_cutoff_in_words();
        for item in openapi.paths.paths.values_mut() {
            for (_, operation) in operations(item) {
                for text in [&mut operation.description, &mut operation.summary]
                    .into_iter()
                    .flatten()
                {
                    *text = text.replace("{change_cutoff}", &cutoff);
                }
            }
        }
    }
}

/// Describes each server-sent event as what a client reads from the
/// stream (OpenAPI before 3.2 has a `text/event-stream` schema describe one
/// event): a name, JSON data and, where the stream resumes, an id.
struct EventStreams;

impl utoipa::Modify for EventStreams {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::schema::Type;
        use utoipa::openapi::{ObjectBuilder, Response};
        let text = |description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some(description))
        };
        let event = ObjectBuilder::new()
            .property("event", text("the event's name"))
            .property(
                "data",
                text("the event as JSON, as the response's description says"),
            )
            .property(
                "id",
                text("where the stream resumes from (Last-Event-ID), where it can"),
            )
            .required("event")
            .required("data")
            .build();
        for item in openapi.paths.paths.values_mut() {
            for (_, operation) in operations(item) {
                for response in operation.responses.responses.values_mut() {
                    let RefOr::T(Response { content, .. }) = response else {
                        continue;
                    };
                    if let Some(stream) = content.get_mut("text/event-stream") {
                        stream.schema = Some(RefOr::T(event.clone().into()));
                    }
                }
            }
        }
    }
}

fn operations(item: &mut PathItem) -> Vec<(HttpMethod, &mut Operation)> {
    [
        (HttpMethod::Get, item.get.as_mut()),
        (HttpMethod::Put, item.put.as_mut()),
        (HttpMethod::Post, item.post.as_mut()),
        (HttpMethod::Delete, item.delete.as_mut()),
        (HttpMethod::Patch, item.patch.as_mut()),
    ]
    .into_iter()
    .filter_map(|(method, op)| Some((method, op?)))
    .collect()
}

/// The document itself: served without a token.
#[utoipa::path(get, path = "/v1/openapi.json", tag = "meta",
    responses((status = 200, description = "this document", body = Object)))]
pub async fn document(Extension(document): Extension<Document>) -> impl IntoResponse {
    Json(document.0.as_ref().clone())
}

/// The finished document: what the router's routes say of themselves,
/// with what holds for every route added (security, the errors each may
/// answer, what an event stream's events are).
#[derive(Clone)]
pub struct Document(Arc<utoipa::openapi::OpenApi>);

impl Document {
    pub fn new(mut routes: utoipa::openapi::OpenApi) -> Self {
        use utoipa::Modify;
        Security.modify(&mut routes);
        ErrorResponses.modify(&mut routes);
        EventStreams.modify(&mut routes);
        RuleWords.modify(&mut routes);
        Self(Arc::new(routes))
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Slipway", description = "Provisions compute clusters from Terraform blueprints and keeps their lifetime, access and cost under control. Every error is {\"error\": {\"code\", \"message\"}} with the field or operation at fault where there is one."),
    components(schemas(
        ErrorBody, ErrorDetail, CreateCluster, DeployCluster, ScheduleDestroy, ClusterStatus, ClusterPage,
        OperationSummary, OperationView, OperationPage, StateVersionView, ActionResult, ActionResponse, EventPage, BlueprintView, BlueprintDetail, NodeRange, VariableView, Health,
        slipway_core::event::Event, DeviceStart, DevicePoll, DeviceStatus, DevicePollResponse, GitHubTokenLogin, Session,
        WhoAmI, CredentialView, ClusterToken, CreateToken, TokenView, CreatedToken, CreateOrganization,
        UpdateOrganization, UpdateLimits, OrganizationView, MembershipView, ApproveMembership,
        AuditEntryView, RotatedKeys, RevokeToken, ProvisioningView, PauseProvisioning, RevocationListView, RunRequest, RunView, RunReport,
        ClusterNameParam, OrgNameParam, OperationIdParam, CapacityRequestIdParam, PersonParam, DeploymentParam, EnvironmentParam, BlueprintNameParam, BlueprintVersionParam,
        AccountView, RatesView, DepletionView, UpdateAccount, ReconciliationView, CostHistory, CostBucketView,
        CostStats, ForecastView, ForecastSeries, BalancePoint, CreateCapacityRequest, CapacityRequestView,
        CapacityResult, CapacityResponse, CapacityState, CapacityWaitView, CapacitySummary,
        slipway_core::Money, slipway_core::Rate,
        slipway_core::job::StepResult, slipway_core::job::StepOutcome, slipway_core::job::RunSummary,
    )),
    tags(
        (name = "clusters", description = "Define, deploy, reschedule, destroy and reach clusters"),
        (name = "operations", description = "Every change is an operation, with a log"),
        (name = "runs", description = "TEST and RELEASE runs on throw-away runners"),
        (name = "orgs", description = "Organizations and their members"),
        (name = "accounts", description = "Organizations' budgets, costs and forecasts; clusters' capacity requests"),
        (name = "identity", description = "Sign-in, tokens, keys, revocations, the audit log"),
        (name = "terraform", description = "Terraform's HTTP state backend, for a running operation's Terraform only (its LOCK and UNLOCK methods at /v1/terraform/lock are not expressible in OpenAPI)"),
        (name = "meta", description = "This document, health and metrics"),
    )
)]
pub struct ApiDoc;
