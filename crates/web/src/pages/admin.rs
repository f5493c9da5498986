//! Administration (site administrators): every organization and cluster,
//! the blueprint versions, signing keys and their rotation, API tokens, and
//! the audit log with filters.

use axum::extract::Query;
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use slipway_api::types::ClusterQuery;
use slipway_service::tokens;

use super::home::cluster_table;
use super::{answered, done, given, org_path};
use crate::echo::{Echo, Field};
use crate::flash::Flash;
use crate::format;

use crate::session::{Ctx, FormPost, csrf_field};
use crate::sort::Sort;

/// The forms of the page that show a refusal beside its field.
pub(crate) const ORG_FORM: &str = "org-form";
const PAUSE_FORM: &str = "pause-form";

#[derive(Debug, Default, Deserialize)]
pub struct AuditFilter {
    actor: Option<String>,
    action: Option<String>,
    target: Option<String>,
    before: Option<String>,
    /// A part of the organizations' names to show.
    org_search: Option<String>,
}

pub async fn page(ctx: Ctx, Query(filter): Query<AuditFilter>) -> Response {
    let zone = ctx.zone;
    let reason = Field::of(&ctx, PAUSE_FORM, "reason", "pause-reason", None);
    let session = match ctx.signed_in() {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    let caller = &session.caller;
    if let Err(e) = caller.require_admin() {
        return ctx.error(&e);
    }
    let service = &ctx.web.service;
    // Every organization (a site has tens): searched by a part of the name,
    // in the order asked.
    let mut orgs = service.organizations(caller).await.unwrap_or_default();
    let org_search = given(&filter.org_search);
    if let Some(part) = &org_search {
        orgs.retain(|o| o.name.contains(part.as_str()));
    }
    let org_sort =
        Sort::of(&ctx.path, "org_sort", &["name", "nodes", "clusters"]).at("organizations");
    org_sort.apply(&mut orgs, |key, a, b| match key {
        "nodes" => a.limits.max_nodes.cmp(&b.limits.max_nodes),
        "clusters" => a.limits.max_clusters.cmp(&b.limits.max_clusters),
        _ => a.name.cmp(&b.name),
    });
    // The first clusters; the clusters page has them all, searched and
    // filtered.
    let all = ClusterQuery {
        limit: Some(20),
        ..Default::default()
    };
    let clusters = match service.list_clusters(caller, &all).await {
        Ok(p) => p,
        Err(e) => return ctx.error(&e),
    };
    let blueprints = service.blueprints(caller).await.unwrap_or_default();
    let tokens = service.tokens(caller).await.unwrap_or_default();
    let keys: Vec<String> = service
        .jwks()
        .keys
        .into_iter()
        .filter_map(|k| k.kid)
        .collect();
    let query = tokens::AuditFilter {
        target: given(&filter.target),
        actor: given(&filter.actor),
        action: given(&filter.action),
        before: given(&filter.before).and_then(|b| b.parse().ok()),
        limit: None,
    };
    let audit = service.audit_log(caller, query).await;
    let older = audit.as_ref().ok().and_then(|a| {
        (a.len() == 100).then(|| {
            let last = a.last().map_or(0, |e| e.id);
            serde_urlencoded::to_string([
                ("actor", filter.actor.as_deref().unwrap_or("")),
                ("action", filter.action.as_deref().unwrap_or("")),
                ("target", filter.target.as_deref().unwrap_or("")),
                ("before", &last.to_string()),
            ])
            .unwrap_or_default()
        })
    });
    ctx.render(
        "Administration",
        html! {
            h1 { "Administration" }
            nav.tabs aria-label="Sections" {
                a href="#organizations" { "Organizations" } a href="#all-clusters" { "Clusters" }
                a href="#blueprints" { "Blueprints" } a href="#keys" { "Keys" }
                a href="#tokens-title" { "Tokens" } a href="#audit" { "Audit log" }
            }
            section aria-labelledby="organizations" {
                h2 #organizations { "Organizations" }
                form.row role="search" method="get" action="/admin#organizations" {
                    div {
                        label for="org-search" { "Name contains" }
                        input #org-search name="org_search" type="search" value=[org_search.as_deref()] autocomplete="off";
                    }
                    button type="submit" { "Search" }
                }
                @if orgs.is_empty() {
                    @if org_search.is_some() { p.empty { "No organization matches." } } @else { p.empty { "No organization yet: create one below." } }
                } @else {
                    div.table-wrap tabindex="0" role="region" aria-label="Organizations (scrolls sideways)" { table.stack #org-table {
                        thead { tr {
                            (org_sort.header(&ctx.path, "name", "Name"))
                            th scope="col" { "GitHub" }
                            (org_sort.header(&ctx.path, "nodes", "Nodes per cluster"))
                            (org_sort.header(&ctx.path, "clusters", "Clusters at once"))
                        } }
                        tbody { @for o in &orgs { tr data-org=(o.name) {
                            td data-label="Name" { a href=(org_path(&o.name)) { (o.name) } }
                            td data-label="GitHub" { (o.github_org.as_deref().unwrap_or("—")) @if let Some(t) = &o.github_team { "/" (t) } }
                            td data-label="Nodes per cluster" { (o.limits.max_nodes) } td data-label="Clusters at once" { (o.limits.max_clusters) }
                        } } }
                    } }
                }
                details open[Echo::on(&ctx).is_of(ORG_FORM)] {
                    summary { "Create an organization" }
                    form.stack.narrow #(ORG_FORM) method="post" action="/orgs" {
                        (csrf_field(&session))
                        @for (field, id, label) in [
                            ("name", "org-name", "Name"),
                            ("github_org", "org-github", "GitHub organization (its members are members)"),
                            ("github_team", "org-team", "GitHub team (only its members)"),
                        ] {
                            @let f = Field::of(&ctx, ORG_FORM, field, id, None);
                            label for=(id) { (label) }
                            input #(id) name=(field) required[field == "name"] maxlength=[(field == "name").then_some("40")] autocomplete="off"
                                value=[f.value.as_deref()] aria-invalid=[f.invalid()] aria-describedby=[f.described_by(None)];
                            (f.message())
                        }
                        button type="submit" { "Create" }
                    }
                }
            }
            section aria-labelledby="all-clusters" {
                h2 #all-clusters { "Clusters" }
                @if clusters.clusters.is_empty() { p.empty { "No clusters yet." } } @else { (cluster_table(&clusters.clusters, zone, None)) }
                @if clusters.next_cursor.is_some() { p { "The first " (clusters.clusters.len()) ", by name: " a href="/clusters" { "all clusters, searched and filtered" } "." } }
            }
            section aria-labelledby="blueprints" {
                h2 #blueprints { "Blueprint versions" }
                @if blueprints.is_empty() { p.empty { "No blueprint is registered." } } @else {
                    div.table-wrap tabindex="0" role="region" aria-label="Blueprint versions (scrolls sideways)" { table.stack {
                        thead { tr { th scope="col" { "Blueprint" } th scope="col" { "Version" } th scope="col" { "Description" } th scope="col" { "Registered" } } }
                        tbody { @for b in &blueprints { tr {
                            td data-label="Blueprint" { (b.name) } td data-label="Version" { code.small { (b.version) } }
                            td data-label="Description" { (b.description) } td data-label="Registered" { (format::time(b.created_at, zone)) }
                        } } }
                    } }
                }
            }
            section aria-labelledby="provisioning" {
                h2 #provisioning { "Provisioning" }
                @if let Some(paused) = &ctx.paused {
                    p { "Paused" @if let Some(reason) = &paused.reason { ": " (reason) } "." }
                    form.inline method="post" action="/admin/provisioning/resume" {
                        (csrf_field(&session))
                        button type="submit" { "Resume provisioning" }
                    }
                } @else {
                    form.row #(PAUSE_FORM) method="post" action="/admin/provisioning/pause" {
                        (csrf_field(&session))
                        div {
                            label for="pause-reason" { "Why" }
                            input #pause-reason name="reason" required maxlength="500" placeholder="e.g. storage maintenance until 14:00"
                                value=[reason.value.as_deref()] aria-invalid=[reason.invalid()] aria-describedby=[reason.described_by(None)];
                            (reason.message())
                        }
                        button.danger type="submit" { "Pause provisioning" }
                    }
                    p.hint { "While paused, no queued deploy, destroy or run starts — whoever asked — and every signed-in page says so. Running operations go on." }
                }
            }
            section aria-labelledby="keys" {
                h2 #keys { "Signing keys" }
                p { "Published: " @for k in &keys { code.small { (k) } " " } }
                form.inline method="post" action="/admin/rotate-keys" {
                    (csrf_field(&session))
                    button type="submit" { "Rotate the signing key" }
                }
                p.hint { "Tokens signed with older keys stay valid until they expire." }
            }
            section aria-labelledby="tokens-title" {
                h2 #tokens-title { "API tokens" }
                span #tokens {}
                (super::tokens::section(&ctx, &session, &tokens))
            }
            section aria-labelledby="audit" {
                h2 #audit { "Audit log" }
                form.row method="get" action="/admin#audit" {
                    div { label for="audit-actor" { "Who" } input #audit-actor name="actor" value=[filter.actor.as_deref()] placeholder="login or subject"; }
                    div { label for="audit-action" { "Action" } input #audit-action name="action" value=[filter.action.as_deref()] placeholder="e.g. cluster.deploy"; }
                    div { label for="audit-target" { "Target" } input #audit-target name="target" value=[filter.target.as_deref()] placeholder="e.g. a cluster"; }
                    button type="submit" { "Filter" }
                }
                @match &audit {
                    Err(e) => { p.refused { (e.message) } }
                    Ok(entries) if entries.is_empty() => { p.empty { "No entry matches." } }
                    Ok(entries) => {
                        div.table-wrap tabindex="0" role="region" aria-label="Audit log (scrolls sideways)" { table.stack #audit-log {
                            thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Action" } th scope="col" { "Target" } th scope="col" { "Result" } th scope="col" { "Detail" } } }
                            tbody { @for e in entries { tr data-action=(e.action) {
                                td data-label="When" { (format::time(e.at, zone)) }
                                td.who data-label="Who" { (e.actor_name.as_deref().unwrap_or(&e.actor)) " " span.tag { (e.level) } }
                                td data-label="Action" { code.small { (e.action) } } td.name data-label="Target" { (e.target) } td data-label="Result" { (e.result) }
                                td data-label="Detail" { @if !e.detail.is_null() && e.detail != serde_json::json!({}) {
                                    // Details fold away: a line per entry, open to read.
                                    details.detail data-audit-detail {
                                        summary { (detail_summary(&e.detail)) }
                                        pre.small { (format::humanize(&serde_json::to_string_pretty(&e.detail).unwrap_or_default(), zone)) }
                                    }
                                } }
                            } } }
                        } }
                        nav.pages aria-label="Pages of the audit log" {
                            @if filter.before.is_some() { a href="/admin#audit" { "Newest" } }
                            @if let Some(q) = &older { a href={"/admin?" (q) "#audit"} rel="next" { "Older entries" } }
                        }
                    }
                }
            }
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct Nothing {}

#[derive(Debug, Deserialize)]
pub struct Pause {
    reason: String,
}

pub async fn pause_provisioning(action: FormPost<Pause>) -> Response {
    let result = action
        .ctx
        .web
        .service
        .pause_provisioning(action.caller(), &action.form.reason)
        .await;
    answered(
        &action,
        "/admin#provisioning",
        PAUSE_FORM,
        result,
        |_| true,
        |_| Flash::ok("Provisioning is paused: queued operations wait until you resume it."),
    )
}

pub async fn resume_provisioning(action: FormPost<Nothing>) -> Response {
    let result = action
        .ctx
        .web
        .service
        .resume_provisioning(action.caller())
        .await;
    done(&action.ctx, "/admin#provisioning", result, |_| {
        "Provisioning resumed: queued operations start.".to_owned()
    })
}

pub async fn rotate_keys(action: FormPost<super::Confirm>) -> Response {
    if !action.form.confirmed() {
        return super::confirm_step(
            &action.ctx,
            "Rotate the signing key?",
            "New tokens will be signed with a new key; tokens signed with older keys stay valid until they expire.",
            "Rotate the signing key",
            "/admin#keys",
        );
    }
    let result = action.ctx.web.service.rotate_keys(action.caller()).await;
    done(&action.ctx, "/admin#keys", result, |r| {
        format!(
            "Rotated: new tokens are signed with key {}; published keys: {}.",
            r.signing_kid,
            r.published.join(", ")
        )
    })
}

/// What an audit entry's detail holds, in a few words: its keys.
fn detail_summary(detail: &serde_json::Value) -> String {
    match detail.as_object() {
        Some(fields) if !fields.is_empty() => {
            let keys: Vec<&str> = fields.keys().map(String::as_str).take(4).collect();
            let more = if fields.len() > 4 { ", …" } else { "" };
            format!("{}{more}", keys.join(", "))
        }
        _ => "details".to_owned(),
    }
}
