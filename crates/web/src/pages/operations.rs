//! Operations: one operation's page (its details and whole log, followed
//! live while it runs), the log panel with its progress bar, the history
//! table, and cancelling.

use axum::extract::Path;
use axum::response::Response;
use maud::{Markup, html};
use slipway_api::types::OperationView;
use slipway_core::event::{Event, EventLevel, kinds};
use slipway_core::{OperationState, OrgName};

use super::{cluster_path, done};
use crate::format::{self, Names};
use crate::session::{Ctx, FormPost, csrf_field};

/// Resources done out of planned, as the log's last progress said; all of
/// them once the operation succeeded.
fn progress(op: &OperationView, events: &[Event]) -> (u64, u64) {
    let last = events.iter().rev().find_map(|e| {
        let p = e.data.get("progress")?;
        Some((p.get("done")?.as_u64()?, p.get("planned")?.as_u64()?))
    });
    let (done, planned) = last.unwrap_or((0, 0));
    if op.state == OperationState::Succeeded {
        let all = planned.max(1);
        (all, all)
    } else {
        (done, planned.max(1))
    }
}

fn line(e: &Event, zone: chrono_tz::Tz) -> Markup {
    let class = match e.level {
        EventLevel::Error => "lvl-error",
        EventLevel::Warn => "lvl-warn",
        EventLevel::Debug => "lvl-debug",
        EventLevel::Info => "lvl-info",
    };
    html! {
        li class=(class) data-seq=(e.seq) data-kind=(e.kind) {
            time datetime=(e.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)) data-format="clock" {
                (e.at.with_timezone(&zone).format("%H:%M:%S"))
            }
            " "
            span.msg { (e.message) }
        }
    }
}

/// The operation's state, a progress bar and its log in monospace; while
/// it is in flight `app.js` follows it (server-sent events) from the last
/// event shown, and the failing line stands out.
pub fn log_panel(
    op: &OperationView,
    events: &[Event],
    names: &Names,
    zone: chrono_tz::Tz,
) -> Markup {
    let (done, planned) = progress(op, events);
    let after = events.last().map_or(0, |e| e.seq);
    let active = !op.state.is_terminal();
    html! {
        div.live data-operation=(op.id) data-follow=[active.then_some("yes")] data-after=(after) {
            div.op-head {
                a href={"/operations/" (op.id)} { (op.kind.as_str()) " " span.opid { (op.id) } }
                " "
                span data-field="op-state" { (format::operation_state(op.state)) }
                " "
                span.op-reason { "(" (op.reason.as_str()) ", by " (names.show(&op.requested_by)) ")" }
            }
            div.progress-row {
                progress data-progress max=(planned) value=(done) aria-label="Resources changed" { (done) " of " (planned) }
                span data-field="progress-text" { (done) " of " (planned) " resources" }
            }
            @if let Some(error) = &op.error {
                p.error-text data-field="op-error" { (error) }
            } @else {
                p.error-text data-field="op-error" hidden {}
            }
            ol.log data-log aria-live="polite" aria-label="Log" tabindex="0" {
                @for e in events.iter().filter(|e| e.level != EventLevel::Debug || e.kind == kinds::FINISHED) {
                    (line(e, zone))
                }
            }
        }
    }
}

/// Operations, newest first, each linking to its log.
pub fn operation_table(ops: &[OperationView], names: &Names, zone: chrono_tz::Tz) -> Markup {
    html! {
        div.table-wrap tabindex="0" role="region" aria-label="Operations (scrolls sideways)" {
            table.operations.stack {
                thead { tr {
                    th scope="col" { "Operation" } th scope="col" { "Why" } th scope="col" { "By" }
                    th scope="col" { "State" } th scope="col" { "Nodes" } th scope="col" { "Started" } th scope="col" { "Took" }
                } }
                tbody {
                    @for op in ops {
                        tr data-operation=(op.id) {
                            td data-label="Operation" { a href={"/operations/" (op.id)} { (op.kind.as_str()) } }
                            td data-label="Why" { (op.reason.as_str()) }
                            td.who data-label="By" { (names.show(&op.requested_by)) }
                            td data-label="State" { (format::operation_state(op.state)) }
                            td data-label="Nodes" { (op.nodes) }
                            td data-label="Started" { (format::opt_time(op.started_at.or(Some(op.created_at)), zone)) }
                            td data-label="Took" { (format::took(op.started_at, op.finished_at)) }
                        }
                    }
                }
            }
        }
    }
}

pub async fn show(ctx: Ctx, Path(id): Path<String>) -> Response {
    let zone = ctx.zone;
    let session = match ctx.signed_in() {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    let service = &ctx.web.service;
    let page = match service.events(&session.caller, &id, 0).await {
        Ok(p) => p,
        Err(e) => return ctx.error(&e),
    };
    let op = &page.operation;
    let names = Names(
        service
            .names_of(&session.caller, &[op.requested_by.as_str()])
            .await
            .unwrap_or_default(),
    );
    let cluster = service
        .cluster_status(&session.caller, &op.cluster)
        .await
        .ok();
    let may_cancel = !op.state.is_terminal()
        && cluster.as_ref().is_some_and(|c| {
            OrgName::parse(&c.organization).is_ok_and(|org| {
                slipway_core::access::authorize(
                    session.caller.level_for(&org),
                    slipway_core::access::Action::Manage,
                    c.public,
                    &org,
                )
                .is_ok()
            })
        });
    ctx.render(
        &format!("{} of {}", op.kind, op.cluster),
        html! {
            div.heading {
                h1 { (op.kind.as_str()) " of " a href=(cluster_path(&op.cluster)) { (op.cluster) } }
            }
            // Read again when the operation ends (its end time, and no
            // more cancel).
            dl.summary #op-summary data-refresh {
                dt { "Operation" } dd { code { (op.id) } }
                dt { "Why" } dd { (op.reason.as_str()) }
                dt { "Asked by" } dd { (names.show(&op.requested_by)) }
                dt { "Version" } dd { (op.version) }
                dt { "Nodes" } dd { (op.nodes) }
                dt { "Queued" } dd { (format::time(op.created_at, zone)) }
                dt { "Started" } dd { (format::opt_time(op.started_at, zone)) }
                dt { "Finished" } dd { (format::opt_time(op.finished_at, zone)) }
            }
            div #op-actions data-refresh {
                @if may_cancel {
                    form.inline method="post" action={"/operations/" (op.id) "/cancel"} {
                        (csrf_field(&session))
                        button.danger type="submit" { "Cancel this operation" }
                    }
                }
            }
            section aria-labelledby="log-title" {
                h2 #log-title { "Log" }
                (log_panel(op, &page.events, &names, zone))
            }
        },
    )
}

pub async fn cancel(Path(id): Path<String>, action: FormPost<super::Confirm>) -> Response {
    if !action.form.confirmed() {
        return super::confirm_step(
            &action.ctx,
            "Cancel the operation?",
            format!(
                "Operation {id} stops: a queued one never runs; a running Terraform is told to stop and saves its state, which may leave the cluster part-changed."
            ),
            "Cancel the operation",
            &format!("/operations/{id}"),
        );
    }
    let result = action.ctx.web.service.cancel(action.caller(), &id).await;
    done(
        &action.ctx,
        &format!("/operations/{id}"),
        result,
        |op| match op.state {
            OperationState::Cancelled => format!("Operation {} is cancelled.", op.id),
            s @ (OperationState::Succeeded
            | OperationState::Failed
            | OperationState::Interrupted) => {
                format!("Operation {} had already ended ({s}).", op.id)
            }
            OperationState::Queued | OperationState::Running => format!(
                "Cancelling operation {}: Terraform is told to stop and saves its state.",
                op.id
            ),
        },
    )
}
