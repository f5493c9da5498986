//! TEST and RELEASE runs across the site (administrators, who start them):
//! the latest result and pass rate of each cluster's runs by kind and
//! version, and every run, newest first. A cluster's own runs are on its
//! page.

use chrono_tz::Tz;
use maud::{Markup, html};
use slipway_api::types::RunView;

use super::cluster_path;
use crate::format;
use crate::session::Ctx;
use axum::response::Response;

pub async fn page(ctx: Ctx) -> Response {
    let session = match ctx.signed_in() {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    let service = &ctx.web.service;
    let runs = match service.runs(&session.caller, None).await {
        Ok(r) => r,
        Err(e) => return ctx.error(&e),
    };
    let report = match service.run_report(&session.caller).await {
        Ok(r) => r,
        Err(e) => return ctx.error(&e),
    };
    let zone = ctx.zone;
    ctx.render(
        "Runs",
        html! {
            h1 { "Test and release runs" }
            p.hint { "Start a run from its cluster's page; each runs on a throw-away runner of its own." }
            section aria-labelledby="report" {
                h2 #report { "Latest results" }
                @if report.runs.is_empty() {
                    p.empty { "No run has ended yet." }
                } @else {
                    div.table-wrap tabindex="0" role="region" aria-label="Latest results" { table.stack #run-report {
                        thead { tr {
                            th scope="col" { "Cluster" } th scope="col" { "Run" } th scope="col" { "Version" }
                            th scope="col" { "Latest" } th scope="col" { "Passed" } th scope="col" { "Ended" }
                        } }
                        tbody { @for r in &report.runs { tr {
                            td data-label="Cluster" { a href=(cluster_path(&r.cluster)) { (r.cluster) } }
                            td data-label="Run" { (r.kind.as_str().to_uppercase()) }
                            td data-label="Version" { code { (r.version) } }
                            td data-label="Latest" { a href={"/operations/" (r.latest_run)} { (passed(Some(r.latest_passed))) } }
                            td data-label="Passed" { (r.passed) " of " (r.runs) }
                            td data-label="Ended" { (format::time(r.latest_at, zone)) }
                        } } }
                    } }
                }
            }
            section aria-labelledby="all-runs" {
                h2 #all-runs { "Every run" }
                @if runs.is_empty() {
                    p.empty { "No run yet." }
                } @else {
                    (run_table(&runs, true, zone))
                }
            }
        },
    )
}

fn passed(outcome: Option<bool>) -> Markup {
    html! {
        @match outcome {
            Some(true) => { span.badge.op-succeeded { "passed" } }
            Some(false) => { span.badge.op-failed { "failed" } }
            None => { span.badge { "running" } }
        }
    }
}

/// Runs, newest first: their kind, version, result and steps; with their
/// cluster when they are of several.
pub fn run_table(runs: &[RunView], with_cluster: bool, zone: Tz) -> Markup {
    html! {
        div.table-wrap tabindex="0" role="region" aria-label="Runs" { table.runs.stack {
            thead { tr {
                @if with_cluster { th scope="col" { "Cluster" } }
                th scope="col" { "Run" } th scope="col" { "Version" } th scope="col" { "Result" } th scope="col" { "Steps" } th scope="col" { "Started" }
            } }
            tbody {
                @for r in runs {
                    tr {
                        @if with_cluster { td data-label="Cluster" { a href=(cluster_path(&r.operation.cluster)) { (r.operation.cluster) } } }
                        td data-label="Run" { a href={"/operations/" (r.operation.id)} { (r.operation.kind.as_str().to_uppercase()) } }
                        td data-label="Version" { code { (r.version) } }
                        td data-label="Result" {
                            @match r.passed {
                                Some(_) => { (passed(r.passed)) }
                                None => { (format::operation_state(r.operation.state)) }
                            }
                        }
                        td data-label="Steps" {
                            @if r.steps.is_empty() { span.none { "—" } } @else {
                                details {
                                    summary { (r.steps.len()) " steps" }
                                    ul.steps { @for s in &r.steps { li { code { (s.name) } " — " (s.outcome.as_str()) " (" (format::span_text((s.duration_ms / 1000) as i64)) ")" } } }
                                }
                            }
                        }
                        td data-label="Started" { (format::opt_time(r.operation.started_at, zone)) }
                    }
                }
            }
        } }
    }
}
