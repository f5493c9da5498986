//! The deployments repositories applied: each one's environments side by
//! side — the cluster, its state, protection, drift, the version and common
//! values (the same digest in two environments is the same change), the
//! commit, the last apply, the tests since, and the plan of a change
//! pending (Terraform's plan a `slipway apply --dry-run` ran since the last
//! apply), rendered as Terraform renders one.

use axum::response::Response;
use maud::{Markup, html};
use slipway_api::types::{EnvironmentView, OperationView, PromotionState};
use slipway_core::OperationKind;
use slipway_core::event::kinds;

use super::cluster_path;
use crate::format;
use crate::session::{Ctx, Session};

/// How many of a cluster's newest operations are looked through for a plan.
const RECENT: u32 = 10;

/// The newest plan of the cluster since its last apply, and what it found
/// (its `plan` event), if any.
async fn pending_plan(
    ctx: &Ctx,
    session: &Session,
    e: &EnvironmentView,
) -> Option<(OperationView, Option<slipway_core::event::Event>)> {
    let service = &ctx.web.service;
    let recent = service
        .operations(&session.caller, Some(&e.cluster), None, Some(RECENT))
        .await
        .ok()?;
    let plan = recent
        .operations
        .into_iter()
        .find(|op| op.kind == OperationKind::Plan && op.created_at > e.applied_at)?;
    let found = service
        .events(&session.caller, &plan.id, 0)
        .await
        .ok()
        .and_then(|page| page.events.into_iter().find(|ev| ev.kind == kinds::PLAN));
    Some((plan, found))
}

/// A plan as Terraform shows one: each resource with its action's sign,
/// then the summary line.
fn plan_markup(plan: &OperationView, found: Option<&slipway_core::event::Event>) -> Markup {
    html! {
        @match found {
            Some(event) => {
                details.plan open {
                    summary { (event.message) }
                    pre.plan { @for c in event.data["changes"].as_array().into_iter().flatten() {
                        @let action = c["action"].as_str().unwrap_or("");
                        @let sign = match action { "create" => "+", "delete" => "-", "replace" => "-/+", "update" => "~", _ => " " };
                        (sign) " " (c["resource"].as_str().unwrap_or("")) " (" (action) ")\n"
                    } (event.message) }
                }
            }
            None => { span.badge { (plan.state.as_str()) } }
        }
        " " a.small href={"/operations/" (plan.id)} { "its log" }
    }
}

pub async fn page(ctx: Ctx) -> Response {
    let session = match ctx.signed_in() {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    let deployments = match ctx.web.service.deployments(&session.caller).await {
        Ok(d) => d,
        Err(e) => return ctx.error(&e),
    };
    let mut plans = Vec::new();
    for d in &deployments {
        for e in &d.environments {
            plans.push(pending_plan(&ctx, &session, e).await);
        }
    }
    let mut plans = plans.into_iter();
    let zone = ctx.zone;
    let short = |s: &str| s.chars().take(12).collect::<String>();
    ctx.render(
        "Deployments",
        html! {
            h1 { "Deployments" }
            p.hint { "What repositories of deployments applied (slipway apply). An environment that comes after another takes only what that one was applied with the same common values and tested green (slipway promote). A pending plan is Terraform's plan of a change not yet applied (slipway apply --dry-run)." }
            @if deployments.is_empty() {
                p.empty { "No repository has been applied yet." }
            }
            @for d in &deployments {
                section.deployment data-deployment=(d.deployment) aria-labelledby={"deployment-" (d.deployment)} {
                    h2 id={"deployment-" (d.deployment)} { (d.deployment) }
                    div.table-wrap tabindex="0" role="region" aria-label={"Environments of " (d.deployment) " (scrolls sideways)"} { table.stack {
                        thead { tr {
                            th scope="col" { "Environment" } th scope="col" { "Cluster" } th scope="col" { "State" }
                            th scope="col" { "Drift" }
                            th scope="col" { "Version" } th scope="col" { "Common values" } th scope="col" { "Commit" }
                            th scope="col" { "Last apply" } th scope="col" { "Tests since" } th scope="col" { "Promotion" }
                        } }
                        tbody { @for e in &d.environments {
                            @let same = d.environments.iter().filter(|o| o.common_digest == e.common_digest).count() > 1;
                            tr data-environment=(e.environment) {
                                td data-label="Environment" {
                                    (e.environment)
                                    @if e.protected { " " span.tag { "protected" } }
                                    @if e.prune { " " span.tag title="destroyed when the repository no longer declares it" { "prune" } }
                                }
                                td data-label="Cluster" { a href=(cluster_path(&e.cluster)) { (e.cluster) } }
                                td data-label="State" { (format::cluster_state(e.state)) }
                                td data-label="Drift" data-drift=(e.drift.len()) {
                                    @if e.drift.is_empty() { span.none { "none found" } }
                                    @else { span.badge.op-failed { "drifted" } " " code.small { (e.drift.join(", ")) } }
                                }
                                td data-label="Version" { code.small { (e.version) } }
                                td data-label="Common values" {
                                    code.small title="digest of what the environments share" { (short(&e.common_digest)) }
                                    @if same { " " span.hint { "(the same elsewhere)" } }
                                }
                                td data-label="Commit" { @match &e.commit { Some(c) => { code.small { (short(c)) } }, None => { span.none { "—" } } } }
                                td data-label="Last apply" { (format::time(e.applied_at, zone)) }
                                td data-label="Tests since" data-tested=(match e.tested { Some(true) => "passed", Some(false) => "failed", None => "none" }) {
                                    @match e.tested {
                                        Some(true) => { span.badge.op-succeeded { "passed" } }
                                        Some(false) => { span.badge.op-failed { "failed" } }
                                        None => { span.none { "not tested yet" } }
                                    }
                                }
                                td data-label="Promotion" data-promotion=(e.promotion.as_ref().map_or("none", |p| match p.state {
                                    PromotionState::Current => "current",
                                    PromotionState::Ready => "ready",
                                    PromotionState::Waiting => "waiting",
                                })) {
                                    @match &e.promotion {
                                        None => { span.none { "—" } }
                                        Some(p) => {
                                            @match p.state {
                                                PromotionState::Current => { span.badge.op-succeeded { "current" } }
                                                PromotionState::Ready => { span.badge.op-queued { "ready" } }
                                                PromotionState::Waiting => { span.badge { "waiting" } }
                                            }
                                            " " span.hint { (p.reason) }
                                        }
                                    }
                                }
                            }
                        } }
                    } }
                    @for e in &d.environments {
                        @if let Some((op, found)) = plans.next().flatten() {
                            div.pending-plan data-environment=(e.environment) {
                                h3 { "Pending change in " (e.environment) }
                                (plan_markup(&op, found.as_ref()))
                            }
                        }
                    }
                }
            }
        },
    )
}
