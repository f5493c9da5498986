//! The deployments repositories applied: each one's environments side by
//! side — the cluster, its state, the version and common values (the same
//! digest in two environments is the same change), the commit, the last
//! apply, the tests since, protection.

use axum::response::Response;
use maud::html;

use super::cluster_path;
use crate::format;
use crate::session::Ctx;

pub async fn page(ctx: Ctx) -> Response {
    let session = match ctx.signed_in() {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    let deployments = match ctx.web.service.deployments(&session.caller).await {
        Ok(d) => d,
        Err(e) => return ctx.error(&e),
    };
    let zone = ctx.zone;
    let short = |s: &str| s.chars().take(12).collect::<String>();
    ctx.render(
        "Deployments",
        html! {
            h1 { "Deployments" }
            p.hint { "What repositories of deployments applied (slipway apply). An environment that comes after another takes only what that one was applied with the same common values and tested green." }
            @if deployments.is_empty() {
                p.empty { "No repository has been applied yet." }
            }
            @for d in &deployments {
                section.deployment data-deployment=(d.deployment) aria-labelledby={"deployment-" (d.deployment)} {
                    h2 id={"deployment-" (d.deployment)} { (d.deployment) }
                    div.table-wrap tabindex="0" role="region" aria-label={"Environments of " (d.deployment) " (scrolls sideways)"} { table.stack {
                        thead { tr {
                            th scope="col" { "Environment" } th scope="col" { "Cluster" } th scope="col" { "State" }
                            th scope="col" { "Version" } th scope="col" { "Common values" } th scope="col" { "Commit" }
                            th scope="col" { "DeploymentRecord" } th scope="col" { "Tests since" }
                        } }
                        tbody { @for e in &d.environments {
                            @let same = d.environments.iter().filter(|o| o.common_digest == e.common_digest).count() > 1;
                            tr data-environment=(e.environment) {
                                td data-label="Environment" { (e.environment) @if e.protected { " " span.tag { "protected" } } }
                                td data-label="Cluster" { a href=(cluster_path(&e.cluster)) { (e.cluster) } }
                                td data-label="State" { (format::cluster_state(e.state)) }
                                td data-label="Version" { code.small { (e.version) } }
                                td data-label="Common values" {
                                    code.small title="digest of what the environments share" { (short(&e.common_digest)) }
                                    @if same { " " span.hint { "(the same elsewhere)" } }
                                }
                                td data-label="Commit" { @match &e.commit { Some(c) => { code.small { (short(c)) } }, None => { span.none { "—" } } } }
                                td data-label="DeploymentRecord" { (format::time(e.applied_at, zone)) }
                                td data-label="Tests since" data-tested=(match e.tested { Some(true) => "passed", Some(false) => "failed", None => "none" }) {
                                    @match e.tested {
                                        Some(true) => { span.badge.op-succeeded { "passed" } }
                                        Some(false) => { span.badge.op-failed { "failed" } }
                                        None => { span.none { "not tested yet" } }
                                    }
                                }
                            }
                        } }
                    } }
                }
            }
        },
    )
}
