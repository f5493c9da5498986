//! The deployments repositories applied: each one's environments side by
//! side — the cluster, its state, protection, drift, the version and common
//! values (the same digest in two environments is the same change), the
//! commit, the last apply, the tests since — and the change a dry run
//! proposed since (`slipway apply --dry-run`): what it changes, Terraform's
//! plan of it rendered as Terraform renders one, and a button that applies
//! it as proposed, through the same checks as the CLI's apply (staging
//! before prod).

use axum::extract::Path;
use axum::response::Response;
use maud::{Markup, html};
use slipway_api::types::{EnvironmentView, OperationView, PromotionState, SettingChange};
use slipway_core::event::kinds;

use super::{cluster_path, done};
use crate::format;
use crate::session::{Ctx, FormPost, Session, csrf_field};

/// Terraform's plan of the change proposed for the environment, and what
/// it found (its `plan` event), if it asked for one.
async fn proposed_plan(
    ctx: &Ctx,
    session: &Session,
    e: &EnvironmentView,
) -> Option<(OperationView, Option<slipway_core::event::Event>)> {
    let service = &ctx.web.service;
    let id = e.proposal.as_ref()?.plan_operation.as_deref()?;
    let plan = service.operation(&session.caller, id).await.ok()?;
    let found = service
        .events(&session.caller, &plan.id, 0)
        .await
        .ok()
        .and_then(|page| page.events.into_iter().find(|ev| ev.kind == kinds::PLAN));
    Some((plan, found))
}

/// A setting's change as apply prints it: `nodes: 1 → 2`.
fn setting_change(c: &SettingChange) -> String {
    let said = |v: &Option<serde_json::Value>| match v {
        None => "(none)".to_owned(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    };
    format!("{}: {} → {}", c.setting, said(&c.from), said(&c.to))
}

fn apply_path(deployment: &str, environment: &str) -> String {
    format!("/deployments/{deployment}/environments/{environment}/apply")
}

/// Applies the change proposed for a deployment in an environment, once
/// confirmed; the service makes an apply's checks.
pub async fn apply_proposal(
    Path((deployment, environment)): Path<(String, String)>,
    action: FormPost<super::Confirm>,
) -> Response {
    if !action.form.confirmed() {
        return super::confirm_step(
            &action.ctx,
            &format!("Apply the change proposed for {deployment} in {environment}?"),
            format!(
                "The change a dry run proposed for cluster {deployment}-{environment} is applied as it was proposed and planned. The checks of slipway apply hold: an environment that comes after another takes only what that one was applied and tested green."
            ),
            "Apply the change",
            "/deployments",
        );
    }
    let result = action
        .ctx
        .web
        .service
        .apply_proposal(action.caller(), &deployment, &environment)
        .await;
    done(&action.ctx, "/deployments", result, |r| {
        match &r.operation {
            Some(op) => format!("Applying the change to {}: operation {}.", r.cluster, op.id),
            None => format!("{} already runs that change: nothing to apply.", r.cluster),
        }
    })
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
            plans.push(proposed_plan(&ctx, &session, e).await);
        }
    }
    let mut plans = plans.into_iter();
    let zone = ctx.zone;
    let short = |s: &str| s.chars().take(12).collect::<String>();
    ctx.render(
        "Deployments",
        html! {
            h1 { "Deployments" }
            p.hint { "What repositories of deployments applied (slipway apply). An environment that comes after another takes only what that one was applied with the same common values and tested green (slipway promote). A pending change is one a dry run proposed (slipway apply --dry-run, say a pull request's), with Terraform's plan of it: apply it here or with slipway apply." }
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
                        @let plan = plans.next().flatten();
                        @if let Some(p) = &e.proposal {
                            div.pending-plan data-environment=(e.environment) data-stale=(p.stale) {
                                h3 { "Pending change in " (e.environment) }
                                p.hint {
                                    "Proposed " (format::time(p.proposed_at, zone)) " by " (p.proposed_by)
                                    @if let Some(c) = &p.commit { " from commit " code.small { (short(c)) } }
                                    "."
                                }
                                ul.changes { @for c in &p.changes { li { code.small { (setting_change(c)) } } } }
                                @if let Some((op, found)) = &plan { (plan_markup(op, found.as_ref())) }
                                @if p.stale {
                                    p.hint data-stale-note { "The cluster was asked to be something else since: this plan no longer says what applying it would do. Propose it again (slipway apply --dry-run)." }
                                } @else {
                                    form.inline method="post" action=(apply_path(&d.deployment, &e.environment)) {
                                        (csrf_field(&session))
                                        button type="submit" data-apply-proposal=(e.environment) { "Apply this change…" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        },
    )
}
