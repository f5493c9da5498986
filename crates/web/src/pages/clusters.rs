//! Clusters: the list, a new cluster, and a cluster's page — its state,
//! endpoint, size, version, destroy time (counting down), outputs
//! (sensitive ones masked), the live log of the operation in flight with
//! its progress, the operation history, TEST/RELEASE runs — and its
//! actions: deploy or resize, extend, destroy (naming the cluster), ask
//! for capacity, get a cluster token.

use axum::extract::{Path, Query};
use axum::response::Response;
use chrono::Utc;
use maud::{Markup, html};
use serde::Deserialize;
use slipway_api::types::*;
use slipway_core::access::{Action as Access, authorize};
use slipway_core::cost::CostModel;
use slipway_core::schedule::change_cutoff_in_words;
use slipway_core::{OperationKind, OrgName};
use slipway_service::Error;

use super::home::cluster_table;
use super::operations::{log_panel, operation_table};
use super::variables::Shown;
use super::{answered, cluster_path, done, given, number, org_path, told};
use crate::echo::{Echo, Field};
use crate::flash::{self, Flash};
use crate::format;
use crate::session::{Ctx, FormPost, Session, csrf_field};

/// The clusters list's search and filters, as the form sends them (empty
/// fields mean "any").
#[derive(Debug, Default, Deserialize, serde::Serialize)]
pub struct ListQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    cursor: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    before: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    search: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    public: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mine: Option<String>,
}

impl ListQuery {
    /// The same search and filters, on another page.
    fn at(&self, cursor: Option<&str>, before: Option<&str>) -> String {
        let page = ListQuery {
            cursor: cursor.map(str::to_owned),
            before: before.map(str::to_owned),
            search: given(&self.search),
            state: given(&self.state),
            organization: given(&self.organization),
            public: given(&self.public),
            mine: given(&self.mine),
        };
        format!(
            "/clusters?{}",
            serde_urlencoded::to_string(&page).unwrap_or_default()
        )
    }
}

pub async fn list(ctx: Ctx, Query(query): Query<ListQuery>) -> Response {
    let session = match ctx.signed_in() {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    let state = match given(&query.state).map(|s| s.parse::<slipway_core::ClusterState>()) {
        None => None,
        Some(Ok(state)) => Some(state),
        Some(Err(_)) => return ctx.error(&Error::invalid("state", "is not a cluster state")),
    };
    let asked = ClusterQuery {
        cursor: given(&query.cursor),
        before: given(&query.before),
        limit: None,
        search: given(&query.search),
        state,
        organization: given(&query.organization),
        public: given(&query.public).map(|p| p == "true"),
        mine: given(&query.mine).map(|m| m == "true"),
    };
    let page = match ctx.web.service.list_clusters(&session.caller, &asked).await {
        Ok(p) => p,
        Err(e) => return ctx.error(&e),
    };
    let orgs = ctx
        .web
        .service
        .organizations(&session.caller)
        .await
        .unwrap_or_default();
    let filtered = asked.search.is_some()
        || asked.state.is_some()
        || asked.organization.is_some()
        || asked.public.is_some()
        || asked.mine.is_some();
    let first_page = asked.cursor.is_none() && asked.before.is_none();
    ctx.render(
        "Clusters",
        html! {
            div.heading {
                h1 { "Clusters" }
                a.button.primary href="/clusters/new" { "New cluster" }
            }
            form.row.filters method="get" action="/clusters" role="search" aria-label="Search and filter clusters" {
                div {
                    label for="search" { "Name contains" }
                    input #search type="search" name="search" value=[asked.search.as_deref()]
                        pattern="[a-z0-9\\-]{0,40}" maxlength="40" autocomplete="off";
                }
                div {
                    label for="state" { "State" }
                    select #state name="state" {
                        option value="" { "Any" }
                        @for s in slipway_core::ClusterState::ALL {
                            option value=(s.as_str()) selected[asked.state == Some(s)] { (s.as_str()) }
                        }
                    }
                }
                div {
                    label for="organization" { "Organization" }
                    select #organization name="organization" {
                        option value="" { "Any" }
                        @for o in &orgs {
                            option value=(o.name) selected[asked.organization.as_deref() == Some(o.name.as_str())] { (o.name) }
                        }
                    }
                }
                div {
                    label for="public" { "Visibility" }
                    select #public name="public" {
                        option value="" { "Any" }
                        option value="true" selected[asked.public == Some(true)] { "Public" }
                        option value="false" selected[asked.public == Some(false)] { "Private" }
                    }
                }
                div.check {
                    input #mine type="checkbox" name="mine" value="true" checked[asked.mine == Some(true)];
                    label for="mine" { "Mine only" }
                }
                button type="submit" { "Search" }
                @if filtered { a href="/clusters" { "Clear" } }
            }
            @if page.clusters.is_empty() {
                @if filtered || !first_page {
                    p.empty { "No cluster matches." }
                } @else {
                    p.empty { "No cluster you may see exists yet. " a href="/clusters/new" { "Define one" } ", then deploy it from its page." }
                }
            } @else {
                (cluster_table(&page.clusters, ctx.zone, None))
            }
            @if !first_page || page.next_cursor.is_some() {
                nav.pages aria-label="Pages of clusters" {
                    @if !first_page { a href=(query.at(None, None)) { "First" } }
                    @if let Some(prev) = &page.prev_cursor { a href=(query.at(None, Some(prev))) rel="prev" { "Previous" } }
                    @if let Some(next) = &page.next_cursor { a href=(query.at(Some(next), None)) rel="next" { "Next" } }
                }
            }
        },
    )
}

#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    organization: Option<String>,
    name: Option<String>,
    blueprint: Option<String>,
    /// What was typed, kept after a refusal.
    version: Option<String>,
    nodes: Option<String>,
    /// The field a refusal was about: its message is shown beside it.
    error_field: Option<String>,
}

pub async fn new_form(ctx: Ctx, Query(query): Query<NewQuery>) -> Response {
    let session = match ctx.signed_in() {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    let service = &ctx.web.service;
    let orgs = match service.organizations(&session.caller).await {
        Ok(o) => o,
        Err(e) => return ctx.error(&e),
    };
    let blueprints = match service.blueprints(&session.caller).await {
        Ok(b) => b,
        Err(e) => return ctx.error(&e),
    };
    let mut names: Vec<&str> = blueprints.iter().map(|b| b.name.as_str()).collect();
    names.dedup();
    names.sort_unstable();
    names.dedup();
    let chosen_org = query.organization.clone().unwrap_or_default();
    // A refusal about one field is shown beside it (and tied to it).
    let refusal = ctx
        .flash
        .as_ref()
        .filter(|f| f.tone == crate::flash::Tone::Refused)
        .map(|f| format::humanize(&f.text, ctx.zone));
    let error_at = |field: &str| {
        refusal
            .clone()
            .filter(|_| query.error_field.as_deref() == Some(field))
    };
    let (name_error, version_error, nodes_error) =
        (error_at("name"), error_at("version"), error_at("nodes"));
    let chosen_bp = given(&query.blueprint).unwrap_or_else(|| "local".into());
    let chosen_version = given(&query.version).unwrap_or_else(|| "latest".into());
    let versions: Vec<&str> = blueprints
        .iter()
        .filter(|b| b.name == chosen_bp)
        .map(|b| b.version.as_str())
        .collect();
    let settings = match service
        .blueprint_version(&session.caller, &chosen_bp, &chosen_version)
        .await
    {
        Ok(b) => b.metadata,
        Err(e) => return ctx.error(&e),
    };
    // What was typed in the settings before a refusal, and the refusal
    // beside the setting it names.
    let echo = Echo::on(&ctx);
    let typed_settings = Shown::default().typed(&settings, echo.typed("new-cluster"));
    let settings_error = query
        .error_field
        .as_deref()
        .and_then(super::variables::refused_variable)
        .filter(|f| settings.variables.contains_key(*f))
        .zip(refusal.clone());
    // The chosen version's cost model and default size, for the estimate.
    let chosen_model = Some((settings.cost, settings.nodes.default));
    ctx.render(
        "New cluster",
        html! {
            h1 { "New cluster" }
            @if orgs.is_empty() {
                p.empty { "You belong to no organization, so you cannot define a cluster. Ask to join one on the " a href="/" { "home page" } "." }
            } @else {
                // What to define it from: choosing shows that version's settings.
                form.row #blueprint-choice method="get" action="/clusters/new" {
                    input type="hidden" name="name" value=[query.name.as_deref()] data-carry="name";
                    input type="hidden" name="organization" value=(chosen_org) data-carry="organization";
                    div {
                        label for="blueprint" { "Blueprint" }
                        select #blueprint name="blueprint" data-submit-on-change {
                            @for n in &names {
                                option value=(n) selected[*n == chosen_bp] { (n) }
                            }
                        }
                    }
                    div {
                        label for="version" { "Version" }
                        select #version name="version" data-submit-on-change {
                            option value="latest" selected[chosen_version == "latest"] { "latest" }
                            @for v in &versions {
                                option value=(v) selected[*v == chosen_version] { (v) }
                            }
                        }
                    }
                    button type="submit" { "Show its settings" }
                }
                @if !settings.description.is_empty() { p.hint { (settings.description) } }
                form.stack.narrow #new-cluster method="post" action="/clusters" {
                    (csrf_field(&session))
                    input type="hidden" name="blueprint" value=(chosen_bp);
                    input type="hidden" name="version" value=(chosen_version);
                    label for="name" { "Name" }
                    input #name name="name" required pattern="[a-z0-9][a-z0-9\\-]{0,39}" maxlength="40"
                        value=[query.name.as_deref()] autocomplete="off"
                        aria-invalid=[name_error.as_ref().map(|_| "true")]
                        aria-describedby=(if name_error.is_some() { "name-error name-hint" } else { "name-hint" });
                    @if let Some(e) = &name_error { p.field-error #name-error { (e) } }
                    p.hint #name-hint { "Lower-case letters, digits and dashes; unique on this site." }
                    label for="organization" { "Organization" }
                    select #organization name="organization" {
                        @for o in &orgs {
                            option value=(o.name) selected[o.name == chosen_org] { (o.name) }
                        }
                    }
                    @if let Some(e) = &version_error { p.field-error #version-error { (e) } }
                    label for="nodes" { "Nodes" }
                    input #nodes name="nodes" type="number" min=(settings.nodes.min) max=(settings.nodes.max)
                        inputmode="numeric" value=(query.nodes.clone().unwrap_or_else(|| settings.nodes.default.to_string()))
                        aria-invalid=[nodes_error.as_ref().map(|_| "true")]
                        aria-describedby=(if nodes_error.is_some() { "nodes-error nodes-hint" } else { "nodes-hint" });
                    @if let Some(e) = &nodes_error { p.field-error #nodes-error { (e) } }
                    p.hint #nodes-hint { (settings.nodes.min) " to " (settings.nodes.max) " for this blueprint." }
                    @if let Some((model, default)) = chosen_model {
                        p.estimate #new-estimate data-estimate data-fixed=(model.fixed_hourly_usd.per_hour())
                            data-per-node=(model.per_node_hourly_usd.per_hour()) data-default-nodes=(default)
                            data-nodes="nodes" aria-live="polite" {
                            "Once deployed: " span data-estimate-text { (format::estimate(model, default, None)) }
                        }
                    }
                    (super::variables::fields(&settings, &typed_settings, settings_error.as_ref().map(|(f, e)| (*f, e.as_str()))))
                    @if session.admin() {
                        label.check { input type="checkbox" name="public" value="yes"; " Public (anyone signed in may use it)" }
                    }
                    button.primary type="submit" { "Define the cluster" }
                    p.hint { "Nothing is deployed yet: you deploy it from its page." }
                }
            }
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    name: Option<String>,
    organization: Option<String>,
    blueprint: Option<String>,
    version: Option<String>,
    nodes: Option<String>,
    public: Option<String>,
    /// The blueprint's settings (`var.<name>`), and the anti-forgery
    /// token.
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

pub async fn create(action: FormPost<CreateForm>) -> Response {
    let f = &action.form;
    let ctx = &action.ctx;
    let blueprint = given(&f.blueprint).unwrap_or_else(|| "local".into());
    let version = given(&f.version).unwrap_or_else(|| "latest".into());
    let settings = ctx
        .web
        .service
        .blueprint_version(action.caller(), &blueprint, &version)
        .await
        .map(|b| b.metadata);
    let result = async {
        let settings = settings.as_ref().map_err(Clone::clone)?;
        let req = CreateCluster {
            name: given(&f.name).unwrap_or_default(),
            blueprint: blueprint.clone(),
            version: Some(version.clone()),
            organization: given(&f.organization),
            public: f.public.is_some(),
            nodes: number("nodes", &f.nodes)?,
            variables: super::variables::from_form(settings, &f.rest)?,
        };
        ctx.web.service.create_cluster(action.caller(), req).await
    }
    .await;
    match result {
        Ok(c) => flash::redirect(
            &ctx.web,
            &cluster_path(&c.name),
            Some(Flash::ok(format!(
                "Cluster {} is defined. Nothing is deployed yet: deploy it below.",
                c.name
            ))),
        ),
        // Back to the form with what was typed (never a secret), and the
        // refusal beside the field it names.
        result => answered(
            &action,
            "/clusters/new",
            "new-cluster",
            result,
            |field| shown_setting(settings.as_ref().ok(), field),
            |_| Flash::ok(String::new()),
        ),
    }
}

/// Whether a form's field may go back in an address after a refusal: a
/// setting only when it is known not to be a secret.
fn shown_setting(
    settings: Option<&slipway_core::blueprint::BlueprintMetadata>,
    field: &str,
) -> bool {
    match field.strip_prefix("var.") {
        None => true,
        Some(v) => settings.is_some_and(|s| s.variables.get(v).is_some_and(|spec| !spec.sensitive)),
    }
}

/// What the caller may do to a cluster.
struct May {
    manage: bool,
    capacity: bool,
    run: bool,
}

fn may(session: &Session, c: &ClusterStatus) -> May {
    let Ok(org) = OrgName::parse(&c.organization) else {
        return May {
            manage: false,
            capacity: false,
            run: false,
        };
    };
    let level = session.caller.level_for(&org);
    May {
        manage: authorize(level, Access::Manage, c.public, &org).is_ok(),
        capacity: authorize(level, Access::RequestCapacity, c.public, &org).is_ok(),
        run: authorize(level, Access::TestOrRelease, c.public, &org).is_ok(),
    }
}

pub async fn show(ctx: Ctx, Path(name): Path<String>) -> Response {
    let zone = ctx.zone;
    let session = match ctx.signed_in() {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    let service = &ctx.web.service;
    let caller = &session.caller;
    let status = match service.cluster_status(caller, &name).await {
        Ok(s) => s,
        Err(e) => return ctx.error(&e),
    };
    let may = may(&session, &status);
    let operations = service
        .operations(caller, Some(&status.name), None, Some(20))
        .await
        .map(|p| p.operations)
        .unwrap_or_default();
    let runs = service
        .runs(caller, Some(&status.name))
        .await
        .unwrap_or_default();
    let requests = if may.capacity {
        service.capacity_requests(caller, &status.name).await.ok()
    } else {
        None
    };
    let versions: Vec<String> = service
        .blueprints(caller)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|b| b.name == status.blueprint)
        .map(|b| b.version)
        .collect();
    let settings = service
        .blueprint_version(caller, &status.blueprint, &status.version)
        .await
        .ok()
        .map(|b| b.metadata);
    let variables = service
        .cluster_variables(caller, &status.name)
        .await
        .unwrap_or_default();
    let now = Utc::now();
    // What it costs: the blueprint version's model, and what it cost so
    // far (members of its organization may see its costs).
    let model = settings.as_ref().map(|s| s.cost);
    let cost_so_far = service
        .costs(
            caller,
            &status.organization,
            CostQuery {
                // Whole UTC days (the history's buckets) from the day it
                // was defined.
                granularity: Some("daily".into()),
                from: Some(
                    status
                        .created_at
                        .date_naive()
                        .and_hms_opt(0, 0, 0)
                        .map_or(status.created_at, |d| d.and_utc()),
                ),
                to: Some(now),
                cluster: Some(status.name.clone()),
            },
        )
        .await
        .ok()
        .map(|h| h.total);
    let live = operations
        .iter()
        .find(|op| op.kind.is_infrastructure() && !op.state.is_terminal())
        .or_else(|| operations.iter().find(|op| op.kind.is_infrastructure()));
    let live_events = match live {
        Some(op) => service
            .events(caller, &op.id, 0)
            .await
            .map(|p| p.events)
            .unwrap_or_default(),
        None => Vec::new(),
    };
    let mut subjects: Vec<&str> = operations.iter().map(|o| o.requested_by.as_str()).collect();
    subjects.push(&status.created_by);
    let names = format::Names(
        service
            .names_of(caller, &subjects)
            .await
            .unwrap_or_default(),
    );
    let title = status.name.clone();
    ctx.render(
        &title,
        html! {
            div.cluster data-watch-cluster=(status.name) {
                div.heading {
                    h1 { (status.name) }
                    span data-field="state" { (format::cluster_state(status.state)) }
                }
                p.sub {
                    @if status.public { "Public cluster" } @else { "Private cluster" }
                    " of " a href=(org_path(&status.organization)) { (status.organization) }
                    @if status.protected { " " span.tag data-protected { "protected" } }
                }
                // Read again when an operation ends: what it costs now, and
                // what it has cost, follow what is deployed.
                dl.summary #summary data-refresh {
                    dt { "Endpoint" }
                    dd data-field="endpoint" {
                        @match &status.endpoint {
                            Some(e) => { code { (e) } },
                            None if status.state.may_exist() => { span.none { "none (its blueprint exports none)" } },
                            None => { span.none { "none (not deployed)" } },
                        }
                    }
                    dt { "Nodes" } dd data-field="nodes" { (status.nodes) }
                    @if !status.drift.is_empty() {
                        dt { "Drift" }
                        dd data-field="drift" {
                            span.badge.op-failed { "drifted" } " "
                            code.small { (status.drift.join(", ")) }
                            span.hint { " — changed outside Slipway; deploying the same configuration repairs it" }
                        }
                    }
                    dt { "Blueprint" }
                    dd data-field="blueprint" {
                        (status.blueprint) " " span.version { (status.version) }
                        @if let Some(why) = &status.deprecated {
                            " " span.badge.op-failed { "deprecated" }
                            span.hint { " — " (why) "; no new cluster runs this version: deploy this one with another version to move it on" }
                        }
                    }
                    @if let Some(s) = &settings {
                        dt { "Node range" } dd data-field="node-range" { (s.nodes.min) " to " (s.nodes.max) }
                    }
                    @if !variables.is_empty() {
                        dt { "Settings" }
                        dd data-field="variables" { dl.variables { @for (k, v) in &variables {
                            dt { code { (k) } }
                            dd { @match v { serde_json::Value::String(s) => { (s) } other => { (other.to_string()) } } }
                        } } }
                    }
                    dt { "Destroyed" }
                    dd data-field="destroy-at" {
                        @match status.destroy_at {
                            Some(t) => { (format::time(t, zone)) " (" (format::countdown(t, now)) ")" }
                            None => { span.none { "not scheduled" } }
                        }
                    }
                    dt { "Created" } dd { (format::time(status.created_at, zone)) " by " (names.show(&status.created_by)) }
                    @if let Some(model) = model {
                        dt { "Current rate" }
                        dd data-field="rate" {
                            @if status.state.may_exist() && status.nodes > 0 {
                                (format::rate(model.hourly(status.nodes))) " " span.hint { "(" (format::estimate(model, status.nodes, None)) ")" }
                            } @else {
                                (format::rate(slipway_core::Rate::ZERO)) " " span.hint { "(not deployed)" }
                            }
                        }
                    }
                    @if let Some(cost) = cost_so_far {
                        dt { "Cost so far" }
                        dd data-field="cost-so-far" { (format::money(cost)) " " span.hint { "since it was defined, " (format::date(status.created_at, zone)) } }
                    }
                    @if let Some(error) = &status.error {
                        dt { "Error" } dd.error-text { (error) }
                    }
                }
                section aria-labelledby="live-title" {
                    h2 #live-title { "Operation" }
                    @match live {
                        Some(op) => { (log_panel(op, &live_events, &names, zone)) }
                        None => { p.empty { "Nothing has run on this cluster yet." @if may.manage { " Deploy it below." } } }
                    }
                }
                @if may.manage {
                    (actions(&ctx, &session, &status, &versions, settings.as_ref(), &variables, live.filter(|op| !op.state.is_terminal())))
                }
                @if let Some(requests) = &requests { (capacity(&ctx, &session, &status, requests, zone, model)) }
                section aria-labelledby="access-title" {
                    h2 #access-title { "Cluster token" }
                    form.inline method="post" action={(cluster_path(&status.name)) "/access"} {
                        (csrf_field(&session))
                        button type="submit" { "Get a cluster token" }
                    }
                    p.hint { "A token whose audience is exactly this cluster, for its gateway; shown once, with a copy button." }
                }
                (outputs(&status))
                section #history-section data-refresh aria-labelledby="history-title" {
                    h2 #history-title { "Operation history" }
                    @if operations.is_empty() { p.empty { "No operation yet." } } @else { (operation_table(&operations, &names, zone)) }
                }
                (runs_section(&ctx, &session, &status, &runs, may.run, zone))
            }
        },
    )
}

/// What may be done to the cluster now: only what applies (no extend of
/// a cluster never deployed, no second change while one is in flight —
/// which may be cancelled here —, refresh of what is deployed, removal of
/// a definition with nothing deployed).
fn actions(
    ctx: &Ctx,
    session: &Session,
    c: &ClusterStatus,
    versions: &[String],
    settings: Option<&slipway_core::blueprint::BlueprintMetadata>,
    variables: &slipway_core::Variables,
    in_flight: Option<&OperationView>,
) -> Markup {
    let deployed = c.state.may_exist();
    let path = cluster_path(&c.name);
    let model = settings.map(|s| s.cost);
    // The deploy form shows what the cluster is defined with, or what was
    // typed before a refusal, with the refusal beside its field.
    const DEPLOY: &str = "deploy-form";
    let nodes = Field::of(
        ctx,
        DEPLOY,
        "nodes",
        "deploy-nodes",
        Some(c.nodes.to_string()),
    );
    let version = Field::of(ctx, DEPLOY, "version", "deploy-version", None);
    let chosen_version = version.value.clone().unwrap_or_else(|| c.version.clone());
    let ttl = Field::of(
        ctx,
        DEPLOY,
        "ttl",
        "deploy-ttl",
        // A protected cluster gets no destroy time.
        (!deployed && !c.protected).then(|| "2h".to_owned()),
    );
    let echo = Echo::on(ctx);
    let shown_variables = settings.map(|s| {
        let error = echo
            .error_field(DEPLOY)
            .and_then(super::variables::refused_variable)
            .filter(|f| s.variables.contains_key(*f))
            .zip(crate::echo::refusal(ctx));
        let shown = Shown::current(s, variables).typed(s, echo.typed(DEPLOY));
        (
            echo.is_of(DEPLOY),
            super::variables::fields(s, &shown, error.as_ref().map(|(f, e)| (*f, e.as_str()))),
        )
    });
    let extend_in = Field::of(ctx, "extend-form", "in", "extend-in", Some("2h".to_owned()));
    let estimate_hours = ttl
        .value
        .as_deref()
        .and_then(|t| slipway_core::duration::parse_duration("ttl", t).ok());
    html! {
        section #actions-section data-refresh aria-labelledby="actions-title" {
            h2 #actions-title { "Actions" }
            @if let Some(op) = in_flight {
                form.inline #cancel-form method="post" action={"/operations/" (op.id) "/cancel"} {
                    (csrf_field(session))
                    span { "A " (op.kind.as_str()) " is in flight: other changes wait for it. " }
                    button type="submit" { "Cancel the " (op.kind.as_str()) }
                }
            }
            div.actions {
                form.stack.card #(DEPLOY) method="post" action={(path) "/deploy"} {
                    h3 { @if deployed { "Resize or update" } @else { "Deploy" } }
                    (csrf_field(session))
                    label for="deploy-nodes" { "Nodes" }
                    input #deploy-nodes name="nodes" type="number" inputmode="numeric" value=[nodes.value.as_deref()]
                        min=(settings.map_or(0, |s| s.nodes.min)) max=[settings.map(|s| s.nodes.max)]
                        aria-invalid=[nodes.invalid()] aria-describedby=[nodes.described_by(None)];
                    (nodes.message())
                    label for="deploy-version" { "Version" }
                    select #deploy-version name="version" aria-invalid=[version.invalid()] aria-describedby=[version.described_by(None)] {
                        @for v in versions { option value=(v) selected[*v == chosen_version] { (v) } }
                        @if !versions.contains(&c.version) { option value=(c.version) selected[c.version == chosen_version] { (c.version) } }
                    }
                    (version.message())
                    @if !c.protected {
                        label for="deploy-ttl" { "Destroy after" }
                        input #deploy-ttl name="ttl" placeholder="e.g. 2h (empty: keep the schedule)" autocomplete="off"
                            value=[ttl.value.as_deref()] aria-invalid=[ttl.invalid()] aria-describedby=[ttl.described_by(None)];
                        (ttl.message())
                    }
                    @if let Some((open, fields)) = &shown_variables {
                        details #deploy-settings open[*open] {
                            summary { "Settings" }
                            (fields)
                            p.hint { "An emptied setting goes back to its default; a sensitive one left empty keeps its value." }
                        }
                    }
                    @if let Some(model) = model {
                        (format::estimate_markup("deploy-estimate", model, nodes.value.as_deref().and_then(|n| n.parse().ok()).unwrap_or(c.nodes), estimate_hours, ("deploy-nodes", Some("deploy-ttl"))))
                    }
                    button.primary type="submit" disabled[in_flight.is_some()] { @if deployed { "Apply" } @else { "Deploy" } }
                }
                @if (deployed || c.destroy_at.is_some()) && !c.protected {
                form.stack.card #extend-form method="post" action={(path) "/extend"} {
                    h3 { "Extend" }
                    (csrf_field(session))
                    label for="extend-in" { "Destroy in" }
                    input #extend-in name="in" required value=[extend_in.value.as_deref()] autocomplete="off"
                        aria-invalid=[extend_in.invalid()] aria-describedby=[extend_in.described_by(Some("extend-hint"))];
                    (extend_in.message())
                    p.hint #extend-hint { "From now: 90m, 4h, 1d. Refused within " (change_cutoff_in_words()) " of a scheduled destroy." }
                    button type="submit" { "Extend" }
                    @if c.destroy_at.is_some() && session.admin() {
                        button.link type="submit" formaction={(path) "/unschedule"} { "Remove the schedule" }
                    }
                }
                }
                @if session.admin() {
                    form.stack.card #protection-form method="post" action={(path) "/protection"} {
                        h3 { "Protection" }
                        (csrf_field(session))
                        input type="hidden" name="protected" value=(!c.protected);
                        p.hint {
                            @if c.protected { "Protected: no one destroys it, nor schedules its destroy — a schedule, capacity and the budget included (the budget scales it to its minimum instead) — unless an administrator forces it." }
                            @else { "Protect it to keep it: its scheduled destroy goes, and no person, schedule, capacity or budget destroys it." }
                        }
                        button type="submit" { @if c.protected { "Remove the protection" } @else { "Protect it" } }
                    }
                }
                @if session.admin() && !deployed && in_flight.is_none() {
                    form.stack.card #visibility-form method="post" action={(path) "/visibility"} {
                        h3 { "Visibility" }
                        (csrf_field(session))
                        input type="hidden" name="public" value=(!c.public);
                        p.hint {
                            @if c.public { "Public: anyone signed in may use it once it is deployed." }
                            @else { "Private: only members of " (c.organization) " may use it." }
                            " It changes only while nothing is deployed: the module is given it when it is deployed."
                        }
                        button type="submit" { @if c.public { "Make it private" } @else { "Make it public" } }
                    }
                }
                @if deployed {
                    form.stack.card #refresh-form method="post" action={(path) "/refresh"} {
                        h3 { "Refresh" }
                        (csrf_field(session))
                        p.hint { "Reads what Terraform's state holds and whether it still matches; changes nothing." }
                        button type="submit" disabled[in_flight.is_some()] { "Refresh" }
                    }
                } @else if in_flight.is_none() {
                    form.stack.card #remove-form method="post" action={(path) "/remove"} {
                        h3 { "Remove" }
                        (csrf_field(session))
                        p.hint { "Nothing of " (c.name) " is deployed: its definition may go, and its name with it." }
                        button.danger type="submit" { "Remove " (c.name) }
                    }
                }
                @if deployed {
                form.stack.card.danger #destroy-form method="post" action={(path) "/destroy"} {
                    h3 { "Destroy" }
                    (csrf_field(session))
                    @if c.capacity.requests > 0 {
                        p.hint #destroy-capacity {
                            "Destroying it also withdraws its " (c.capacity.requests) " capacity request"
                            @if c.capacity.requests > 1 { "s" }
                            ", so capacity does not bring it back."
                        }
                    }
                    @if c.protected {
                        p.hint #destroy-protected { (c.name) " is protected: only an administrator may force its destroy, saying why." }
                    }
                    @if !c.protected || session.admin() {
                        @if c.protected {
                            input type="hidden" name="force" value="yes";
                            label for="destroy-reason" { "Why (goes in the audit log)" }
                            input #destroy-reason name="reason" required maxlength="500" autocomplete="off";
                        }
                        label for="destroy-confirm" { "Type " strong { (c.name) } " to confirm" }
                        input #destroy-confirm name="confirm" required autocomplete="off" spellcheck="false"
                            data-confirm-name=(c.name);
                        button.danger type="submit" data-confirm-button { "Destroy " (c.name) }
                    }
                }
                }
            }
        }
    }
}

fn capacity(
    ctx: &Ctx,
    session: &Session,
    c: &ClusterStatus,
    requests: &[CapacityRequestView],
    zone: chrono_tz::Tz,
    model: Option<CostModel>,
) -> Markup {
    let path = cluster_path(&c.name);
    const FORM: &str = "capacity-form";
    let nodes = Field::of(
        ctx,
        FORM,
        "nodes",
        "capacity-nodes",
        Some(c.nodes.max(1).to_string()),
    );
    let ttl = Field::of(ctx, FORM, "ttl", "capacity-ttl", Some("1h".to_owned()));
    html! {
        section #capacity-section data-refresh aria-labelledby="capacity-title" {
            h2 #capacity-title { "Capacity" }
            form.row #(FORM) method="post" action={(path) "/capacity"} {
                (csrf_field(session))
                div {
                    label for="capacity-nodes" { "Nodes" }
                    input #capacity-nodes name="nodes" type="number" min="0" required inputmode="numeric" value=[nodes.value.as_deref()]
                        aria-invalid=[nodes.invalid()] aria-describedby=[nodes.described_by(None)];
                    (nodes.message())
                }
                div {
                    label for="capacity-ttl" { "For" }
                    input #capacity-ttl name="ttl" required autocomplete="off" value=[ttl.value.as_deref()]
                        aria-invalid=[ttl.invalid()] aria-describedby=[ttl.described_by(None)];
                    (ttl.message())
                }
                button type="submit" { "Request capacity" }
            }
            @if let Some(model) = model {
                (format::estimate_markup("capacity-estimate", model, c.nodes.max(1), Some(std::time::Duration::from_secs(3600)), ("capacity-nodes", Some("capacity-ttl"))))
            }
            p.hint { "The cluster's size follows the sum of each person's largest request, within the organization's limits and budget; a cluster capacity starts is destroyed when its last request ends. A request that cannot be honoured now waits, and is tried again." }
            @if requests.is_empty() {
                p.empty { "No active capacity request." }
            } @else {
                div.table-wrap tabindex="0" role="region" aria-label="Capacity requests (scrolls sideways)" { table.stack #capacity-requests {
                    thead { tr { th scope="col" { "Who" } th scope="col" { "Nodes" } th scope="col" { "Until" } th scope="col" { "State" } th scope="col" { span.visually-hidden { "Actions" } } } }
                    tbody {
                        @for r in requests {
                            tr {
                                td data-label="Who" { (r.login) } td data-label="Nodes" { (r.nodes) }
                                td data-label="Until" { (format::time(r.expires_at, zone)) }
                                td data-label="State" {
                                    @match &r.waiting {
                                        Some(w) => {
                                            span.badge.capacity-waiting data-capacity-state="waiting" { "waiting" }
                                            " " span.hint { (w.message) }
                                        }
                                        None => { span.badge.capacity-active data-capacity-state="active" { "active" } }
                                    }
                                }
                                td.row-actions {
                                    form.inline method="post" action={(path) "/capacity/" (r.id) "/withdraw"} {
                                        (csrf_field(session))
                                        button.link type="submit" { "Withdraw" }
                                    }
                                }
                            }
                        }
                    }
                } }
            }
        }
    }
}

fn outputs(c: &ClusterStatus) -> Markup {
    html! {
        section #outputs-section data-refresh aria-labelledby="outputs-title" {
            h2 #outputs-title { "Outputs" }
            @if c.outputs.is_empty() {
                p.empty { "No outputs: the cluster has not been deployed, or its blueprint exports none." }
            } @else {
                dl.outputs {
                    @for (k, v) in &c.outputs {
                        dt { (k) }
                        dd {
                            @match v {
                                serde_json::Value::String(s) if s == "(sensitive)" => { span.masked title="sensitive: not shown" { "•••••••• (sensitive)" } }
                                serde_json::Value::String(s) => { code { (s) } }
                                other => { code { (other.to_string()) } }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn runs_section(
    ctx: &Ctx,
    session: &Session,
    c: &ClusterStatus,
    runs: &[RunView],
    may_run: bool,
    zone: chrono_tz::Tz,
) -> Markup {
    let version = Field::of(ctx, "run-form", "version", "run-version", None);
    let release = Echo::on(ctx).value("run-form", "kind") == Some("release");
    html! {
        section #runs-section data-refresh aria-labelledby="runs-title" {
            h2 #runs-title { "Test and release runs" }
            @if may_run {
                form.row #run-form method="post" action={(cluster_path(&c.name)) "/runs"} {
                    (csrf_field(session))
                    div { label for="run-kind" { "Run" } select #run-kind name="kind" { option value="test" { "TEST" } option value="release" selected[release] { "RELEASE" } } }
                    div {
                        label for="run-version" { "Project version" }
                        input #run-version name="version" required placeholder="a tag, branch or commit" autocomplete="off"
                            value=[version.value.as_deref()] aria-invalid=[version.invalid()] aria-describedby=[version.described_by(None)];
                        (version.message())
                    }
                    button type="submit" { "Start" }
                }
            }
            @if runs.is_empty() {
                p.empty { "No run yet." @if may_run { " Start one above (the cluster must be running)." } }
            } @else {
                (super::runs::run_table(runs, false, zone))
            }
        }
    }
}

fn action_text(what: &str, r: &ActionResponse) -> String {
    match (&r.result, &r.operation) {
        (ActionResult::Queued, Some(op)) => {
            format!("{what} queued (operation {}): follow it below.", op.id)
        }
        (ActionResult::Joined, Some(op)) => format!(
            "The same {} is already in flight (operation {}): following it.",
            op.kind, op.id
        ),
        (ActionResult::AlreadyRunning, _) => match r.cluster.destroy_at {
            Some(t) => format!(
                "The cluster already runs this configuration: nothing to deploy. It will be destroyed at {}.",
                format::stamp(t)
            ),
            None => "The cluster already runs this configuration: nothing to deploy.".into(),
        },
        (ActionResult::NothingToDestroy, _) => "Nothing is deployed: nothing to destroy.".into(),
        (ActionResult::Scheduled, _) => match r.cluster.destroy_at {
            Some(t) => format!("The cluster will be destroyed at {}.", format::stamp(t)),
            None => "Scheduled.".into(),
        },
        (ActionResult::Unscheduled, _) => "The scheduled destroy is removed.".into(),
        _ => format!("{what}: done."),
    }
}

#[derive(Debug, Deserialize)]
pub struct DeployForm {
    nodes: Option<String>,
    version: Option<String>,
    ttl: Option<String>,
    /// The blueprint's settings (`var.<name>`), and the anti-forgery
    /// token.
    #[serde(flatten)]
    rest: std::collections::HashMap<String, String>,
}

pub async fn deploy(Path(name): Path<String>, action: FormPost<DeployForm>) -> Response {
    let f = &action.form;
    let service = &action.ctx.web.service;
    let version = given(&f.version);
    // The settings are typed by the version deployed.
    let settings = async {
        let c = service.cluster_status(action.caller(), &name).await?;
        let v = version.as_deref().unwrap_or(&c.version);
        Ok::<_, Error>(
            service
                .blueprint_version(action.caller(), &c.blueprint, v)
                .await?
                .metadata,
        )
    }
    .await;
    let result = async {
        let settings = settings.as_ref().map_err(Clone::clone)?;
        let patch = super::variables::patch_from_form(settings, &f.rest)?;
        let req = DeployCluster {
            nodes: number("nodes", &f.nodes)?,
            version: version.clone(),
            variables_patch: (!patch.is_empty()).then_some(patch),
            ttl: given(&f.ttl),
            ..DeployCluster::default()
        };
        service.deploy(action.caller(), &name, req).await
    }
    .await;
    let shown = |field: &str| shown_setting(settings.as_ref().ok(), field);
    answered(
        &action,
        &cluster_path(&name),
        "deploy-form",
        result,
        shown,
        |r| Flash::ok(action_text("Deploy", &r)),
    )
}

#[derive(Debug, Deserialize)]
pub struct ProtectionForm {
    protected: Option<String>,
}

pub async fn set_protection(
    Path(name): Path<String>,
    action: FormPost<ProtectionForm>,
) -> Response {
    let protected = action.form.protected.as_deref() == Some("true");
    let result = action
        .ctx
        .web
        .service
        .set_protection(action.caller(), &name, protected)
        .await;
    done(&action.ctx, &cluster_path(&name), result, |r| {
        if r.cluster.protected {
            format!(
                "{} is protected: nothing destroys it unless an administrator forces it.",
                r.cluster.name
            )
        } else {
            format!("{} is no longer protected.", r.cluster.name)
        }
    })
}

#[derive(Debug, Deserialize)]
pub struct VisibilityForm {
    public: Option<String>,
}

pub async fn set_visibility(
    Path(name): Path<String>,
    action: FormPost<VisibilityForm>,
) -> Response {
    let public = action.form.public.as_deref() == Some("true");
    let result = action
        .ctx
        .web
        .service
        .set_visibility(action.caller(), &name, public)
        .await;
    done(&action.ctx, &cluster_path(&name), result, |r| {
        if r.cluster.public {
            format!(
                "{} is public: anyone signed in may use it once it is deployed.",
                r.cluster.name
            )
        } else {
            format!(
                "{} is private: only members of {} may use it.",
                r.cluster.name, r.cluster.organization
            )
        }
    })
}

#[derive(Debug, Deserialize)]
pub struct ExtendForm {
    #[serde(rename = "in")]
    in_: Option<String>,
}

pub async fn extend(Path(name): Path<String>, action: FormPost<ExtendForm>) -> Response {
    let req = ScheduleDestroy {
        at: None,
        in_: given(&action.form.in_),
    };
    let result = action
        .ctx
        .web
        .service
        .schedule_destroy(action.caller(), &name, req)
        .await;
    answered(
        &action,
        &cluster_path(&name),
        "extend-form",
        result,
        |_| true,
        |r| Flash::ok(action_text("Extend", &r)),
    )
}

#[derive(Debug, Deserialize)]
pub struct Nothing {}

pub async fn refresh(Path(name): Path<String>, action: FormPost<Nothing>) -> Response {
    let result = action.ctx.web.service.refresh(action.caller(), &name).await;
    done(&action.ctx, &cluster_path(&name), result, |r| {
        action_text("Refresh", &r)
    })
}

pub async fn remove(Path(name): Path<String>, action: FormPost<Nothing>) -> Response {
    let result = action
        .ctx
        .web
        .service
        .remove_cluster(action.caller(), &name)
        .await;
    match result {
        Ok(_) => flash::redirect(
            &action.ctx.web,
            "/clusters",
            Some(Flash::ok(format!("{name} is removed."))),
        ),
        Err(e) => done(&action.ctx, &cluster_path(&name), Err::<(), _>(e), |_| {
            String::new()
        }),
    }
}

pub async fn unschedule(Path(name): Path<String>, action: FormPost<super::Confirm>) -> Response {
    if !action.form.confirmed() {
        return super::confirm_step(
            &action.ctx,
            "Remove the scheduled destroy?",
            format!("Cluster {name} will run, and cost, until someone destroys it."),
            "Remove the schedule",
            &cluster_path(&name),
        );
    }
    let result = action
        .ctx
        .web
        .service
        .unschedule_destroy(action.caller(), &name)
        .await;
    done(&action.ctx, &cluster_path(&name), result, |r| {
        action_text("Unschedule", &r)
    })
}

#[derive(Debug, Deserialize)]
pub struct DestroyForm {
    confirm: Option<String>,
    /// An administrator forcing the destroy of a protected cluster, and why.
    force: Option<String>,
    reason: Option<String>,
}

pub async fn destroy(Path(name): Path<String>, action: FormPost<DestroyForm>) -> Response {
    let back = cluster_path(&name);
    if given(&action.form.confirm).as_deref() != Some(name.as_str()) {
        return flash::redirect(
            &action.ctx.web,
            &back,
            Some(Flash::refused(format!(
                "confirm: type the cluster's name, {name}, to destroy it. Nothing was done."
            ))),
        );
    }
    let req = DestroyCluster {
        force: action.form.force.is_some(),
        reason: given(&action.form.reason),
    };
    let result = action
        .ctx
        .web
        .service
        .destroy(action.caller(), &name, req)
        .await;
    done(&action.ctx, &back, result, |r| {
        let withdrawn = r.withdrawn_capacity_requests.len();
        let text = action_text("Destroy", &r);
        match withdrawn {
            0 => text,
            1 => format!("{text} Its capacity request was withdrawn."),
            n => format!("{text} Its {n} capacity requests were withdrawn."),
        }
    })
}

#[derive(Debug, Deserialize)]
pub struct CapacityForm {
    nodes: Option<String>,
    ttl: Option<String>,
}

/// What a capacity request (or withdrawal) did, in words, and in which
/// tone: a request kept but waiting is not a success.
fn capacity_flash(r: &CapacityResponse, done: &str) -> Flash {
    let asked = r
        .request
        .as_ref()
        .map(|q| format!("{} nodes until {}", q.nodes, format::stamp(q.expires_at)))
        .unwrap_or_default();
    match r.result {
        CapacityResult::Queued => Flash::ok(format!(
            "{done} {asked}: the cluster changes now (operation {}).",
            r.operation.as_deref().unwrap_or("?")
        )),
        CapacityResult::Unchanged => Flash::ok(format!(
            "{done} {asked}: the cluster already is the size the requests want."
        )),
        CapacityResult::Redundant => {
            Flash::ok("The same request is already active: nothing was added.")
        }
        // Waiting for an operation in flight is the normal course of things;
        // waiting for money or a limit is not a success.
        CapacityResult::Waiting => match &r.waiting {
            Some(w) if w.code == "operation_in_progress" => Flash::ok(format!(
                "{done} {asked}: the cluster changes once the operation in flight ends ({}).",
                w.message
            )),
            wait => Flash::warning(format!(
                "{done} {asked}, but it waits: {} It is tried again when that may have changed.",
                wait.as_ref()
                    .map_or("no reason given.".to_owned(), |w| format!("{}.", w.message))
            )),
        },
    }
}

pub async fn request_capacity(
    Path(name): Path<String>,
    action: FormPost<CapacityForm>,
) -> Response {
    let f = &action.form;
    let result = async {
        let nodes = number("nodes", &f.nodes)?
            .ok_or_else(|| Error::invalid("nodes", "say how many nodes"))?;
        action
            .ctx
            .web
            .service
            .request_capacity(
                action.caller(),
                &name,
                CreateCapacityRequest {
                    nodes,
                    ttl: given(&f.ttl),
                    until: None,
                },
            )
            .await
    }
    .await;
    answered(
        &action,
        &cluster_path(&name),
        "capacity-form",
        result,
        |_| true,
        |r| capacity_flash(&r, "Asked for"),
    )
}

pub async fn withdraw_capacity(
    Path((name, id)): Path<(String, String)>,
    action: FormPost<super::Confirm>,
) -> Response {
    if !action.form.confirmed() {
        return super::confirm_step(
            &action.ctx,
            "Withdraw the capacity request?",
            format!(
                "Capacity request {id} on cluster {name} ends now; the cluster shrinks to what the other requests want, and is destroyed if capacity started it and this was the last one."
            ),
            "Withdraw",
            &cluster_path(&name),
        );
    }
    let result = action
        .ctx
        .web
        .service
        .withdraw_capacity(action.caller(), &name, &id)
        .await;
    told(&action.ctx, &cluster_path(&name), result, |r| {
        capacity_flash(&r, "Withdrawn; now")
    })
}

/// A cluster token, shown once on a page nobody keeps (`no-store`).
pub async fn access(Path(name): Path<String>, action: FormPost<Nothing>) -> Response {
    let zone = action.ctx.zone;
    let ctx = &action.ctx;
    match ctx.web.service.access(action.caller(), &name).await {
        Ok(token) => ctx.render(
            "Cluster token",
            html! {
                h1 { "A cluster token for " (token.audience) }
                p { "Send it as " code { "Authorization: Bearer …" } " to the cluster's gateway. It expires " (format::time(token.expires_at, zone)) ". It is shown only this once." }
                div.secret {
                    label for="cluster-token" { "Token" }
                    textarea #cluster-token readonly rows="4" spellcheck="false" { (token.token) }
                    button type="button" data-copy="cluster-token" { "Copy" }
                    span.copied role="status" aria-live="polite" {}
                }
                p { a href=(cluster_path(&name)) { "Back to " (name) } }
            },
        ),
        Err(e) => done::<()>(ctx, &cluster_path(&name), Err(e), |_| String::new()),
    }
}

#[derive(Debug, Deserialize)]
pub struct RunForm {
    kind: Option<String>,
    version: Option<String>,
}

pub async fn start_run(Path(name): Path<String>, action: FormPost<RunForm>) -> Response {
    let f = &action.form;
    let kind = match f.kind.as_deref() {
        Some("release") => OperationKind::Release,
        _ => OperationKind::Test,
    };
    let version = given(&f.version).unwrap_or_default();
    match action
        .ctx
        .web
        .service
        .start_run(action.caller(), &name, kind, &version)
        .await
    {
        Ok(run) => flash::redirect(
            &action.ctx.web,
            &format!("/operations/{}", run.operation.id),
            Some(Flash::ok(format!(
                "{} of {} started (operation {}).",
                kind.as_str().to_uppercase(),
                run.version,
                run.operation.id
            ))),
        ),
        Err(e) => answered(
            &action,
            &cluster_path(&name),
            "run-form",
            Err::<(), _>(e),
            |_| true,
            |()| Flash::ok(String::new()),
        ),
    }
}
