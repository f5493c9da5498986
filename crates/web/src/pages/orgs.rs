//! An organization's page: its account (owners and administrators), cost
//! history and forecast plots, clusters, capacity requests, members and
//! membership requests (approve, remove, make owner: owners and
//! administrators), and limits; and asking to join one.

use axum::extract::{Path, Query};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{TimeDelta, Utc};
use maud::{Markup, html};
use serde::Deserialize;
use slipway_api::types::*;
use slipway_core::Money;
use slipway_core::duration::format_duration;
use slipway_service::{Error, Kind};

use super::home::{CLUSTER_SORTS, cluster_table, sort_clusters};
use super::{amount, answered, cluster_path, done, encode, given, number, org_path};
use crate::echo::{Echo, Field};
use crate::flash::Flash;
use crate::format::{self, money, rate};
use crate::plot::{self, Bar, Line, TimeScale};
use crate::session::{Ctx, FormPost, Session, csrf_field};
use crate::sort::Sort;

#[derive(Debug, Default, Deserialize)]
pub struct OrgQuery {
    /// Cost history by `hourly`, `daily` or `monthly`.
    costs: Option<String>,
    /// Forecast by `hourly`, `daily` or `monthly`.
    forecast: Option<String>,
}

fn granularity(given: Option<&str>) -> &'static str {
    match given {
        Some("hourly") => "hourly",
        Some("monthly") => "monthly",
        _ => "daily",
    }
}

pub async fn show(ctx: Ctx, Path(name): Path<String>, Query(query): Query<OrgQuery>) -> Response {
    let session = match ctx.signed_in() {
        Ok(s) => s.clone(),
        Err(r) => return *r,
    };
    let service = &ctx.web.service;
    let caller = &session.caller;
    let org = match service.organization(caller, &name).await {
        Ok(o) => o,
        Err(e) if e.kind == Kind::Forbidden => return outsider(&ctx, &session, &name, &e),
        Err(e) => return ctx.error(&e),
    };
    let owner = service
        .owns_organization(caller, &org.name)
        .await
        .unwrap_or(false);
    let manager = owner || session.admin();
    // The organization's clusters (at most its limit of defined ones), in
    // the order asked.
    let mut clusters = service
        .organization_clusters(caller, &org.name)
        .await
        .unwrap_or_default();
    let cluster_sort = Sort::of(&ctx.path, "sort", &CLUSTER_SORTS).at("clusters");
    sort_clusters(&cluster_sort, &mut clusters);
    let members = service.members(caller, &org.name).await;
    let account = if manager {
        Some(service.account(caller, &org.name).await)
    } else {
        None
    };
    let costs_by = granularity(query.costs.as_deref());
    let forecast_by = granularity(query.forecast.as_deref());
    let (from, to) = cost_span(costs_by, Utc::now());
    let costs = service
        .costs(
            caller,
            &org.name,
            CostQuery {
                granularity: Some(costs_by.into()),
                from: Some(from),
                to: Some(to),
                cluster: None,
            },
        )
        .await;
    let forecast = match &account {
        Some(Ok(a)) if a.opened => Some(service.forecast(caller, &org.name).await),
        _ => None,
    };
    let mut requests = Vec::new();
    for c in &clusters {
        if let Ok(r) = service.capacity_requests(caller, &c.name).await {
            requests.extend(r);
        }
    }
    let links = |param: &str, other: (&str, &str), current: &str| {
        html! {
            nav.tabs aria-label={"Granularity of the " (if param == "costs" { "cost history" } else { "forecast" })} {
                @for g in ["hourly", "daily", "monthly"] {
                    a href={(org_path(&org.name)) "?" (param) "=" (g) "&" (other.0) "=" (other.1) "#" (param)}
                        aria-current=[(g == current).then_some("true")] { (g) }
                }
            }
        }
    };
    ctx.render(
        &org.name,
        html! {
            div.heading { h1 { (org.name) } @if owner { span.tag { "you own it" } } }
            p.sub {
                @match (&org.github_org, &org.github_team) {
                    (Some(o), Some(t)) => { "Members: GitHub team " code { (o) "/" (t) } ", and people approved here." }
                    (Some(o), None) => { "Members: GitHub organization " code { (o) } ", and people approved here." }
                    _ => { "Members: people approved here." }
                }
            }
            section aria-labelledby="account" {
                h2 #account { "Account" }
                @match &account {
                    None => { p.hint { "The account is shown to the organization's owners and site administrators." } }
                    Some(Err(e)) => { p.refused { (e.message) } }
                    Some(Ok(a)) => { (account_section(&ctx, &session, &org.name, a)) }
                }
            }
            section aria-labelledby="costs" {
                h2 #costs { "Cost history" }
                (links("costs", ("forecast", forecast_by), costs_by))
                @match &costs {
                    Ok(h) => { (cost_plot(h, costs_by, ctx.zone)) }
                    Err(e) => { p.refused { (e.message) } }
                }
            }
            @if let Some(f) = &forecast {
                section aria-labelledby="forecast" {
                    h2 #forecast { "Balance forecast" }
                    (links("forecast", ("costs", costs_by), forecast_by))
                    @match f {
                        Ok(f) => { (forecast_plot(f, forecast_by, ctx.zone, service.config.accounts.budget.floor)) }
                        Err(e) => { p.refused { (e.message) } }
                    }
                }
            }
            section aria-labelledby="clusters" {
                div.heading {
                    h2 #clusters { "Clusters" }
                    a.button href={"/clusters/new?organization=" (encode(&org.name))} { "New cluster" }
                }
                @if clusters.is_empty() { p.empty { "No clusters yet: define one with New cluster." } } @else {
                    (cluster_table(&clusters, ctx.zone, Some((&cluster_sort, &ctx.path))))
                    p.hint { a href={"/clusters?organization=" (encode(&org.name))} { "Search and filter them" } " on the clusters page." }
                }
            }
            section aria-labelledby="capacity" {
                h2 #capacity { "Capacity requests" }
                @if requests.is_empty() {
                    p.empty { "No active request" @if !manager { " of yours" } ". Ask for nodes on a cluster's page." }
                } @else {
                    div.table-wrap tabindex="0" role="region" aria-label="Capacity requests (scrolls sideways)" { table {
                        thead { tr { th scope="col" { "Cluster" } th scope="col" { "Who" } th scope="col" { "Nodes" } th scope="col" { "Until" } th scope="col" { span.visually-hidden { "Actions" } } } }
                        tbody { @for r in &requests { tr {
                            td { a href=(cluster_path(&r.cluster)) { (r.cluster) } }
                            td { (r.login) } td { (r.nodes) } td { (format::time(r.expires_at, ctx.zone)) }
                            td { form.inline method="post" action={(cluster_path(&r.cluster)) "/capacity/" (r.id) "/withdraw"} {
                                (csrf_field(&session)) button.link type="submit" { "Withdraw" }
                            } }
                        } } }
                    } }
                }
            }
            (members_section(&ctx, &session, &org.name, manager, &members))
            (limits_section(&ctx, &session, &org))
        },
    )
}

/// Whole buckets ending with the current one: the last 48 hours, 30 days
/// or 12 months.
fn cost_span(
    by: &str,
    now: chrono::DateTime<Utc>,
) -> (chrono::DateTime<Utc>, chrono::DateTime<Utc>) {
    use chrono::{Datelike, Months, Timelike};
    let hour = now
        .with_minute(0)
        .and_then(|t| t.with_second(0))
        .and_then(|t| t.with_nanosecond(0))
        .unwrap_or(now);
    let day = hour.with_hour(0).unwrap_or(hour);
    match by {
        "hourly" => (hour - TimeDelta::hours(47), hour + TimeDelta::hours(1)),
        "monthly" => {
            let month = day.with_day(1).unwrap_or(day);
            (
                month.checked_sub_months(Months::new(11)).unwrap_or(month),
                month.checked_add_months(Months::new(1)).unwrap_or(month),
            )
        }
        _ => (day - TimeDelta::days(29), day + TimeDelta::days(1)),
    }
}

/// A clear page for someone outside the organization, with the way in.
fn outsider(ctx: &Ctx, session: &Session, name: &str, e: &Error) -> Response {
    let can_ask = !session.caller.subject().is_slipway();
    ctx.render_status(
        StatusCode::FORBIDDEN,
        "Not allowed",
        html! {
            section.refusal aria-labelledby="refusal-title" {
                h1 #refusal-title { "Not allowed" }
                p.message data-error-code=(e.code) { (e.message) }
                @if can_ask {
                    form.inline method="post" action={(org_path(name)) "/join"} {
                        (csrf_field(session))
                        button type="submit" { "Ask to join " (name) }
                    }
                }
                p { a href="/" { "Back to the home page" } }
            }
        },
    )
}

/// The forms of an organization's page that show a refusal beside its
/// field.
const ACCOUNT_FORM: &str = "account-form";
const LIMITS_FORM: &str = "limits-form";

fn account_section(ctx: &Ctx, session: &Session, org: &str, a: &AccountView) -> Markup {
    let zone = ctx.zone;
    html! {
        @if !a.opened {
            p.empty { "No account is open: the organization is not budgeted (its costs are still recorded)." @if session.admin() { " Open one by setting its allowance or balance below." } }
        } @else {
            @if let Some((tone, sentence)) = format::runs_out(a.depletes_at.current, a.burn_rates.current, Utc::now(), zone) {
                p class={"money-warning " (tone)} data-money-warning=(tone) { (sentence) }
            }
            dl.summary.account {
                dt { "Balance" } dd data-field="balance" { (money(a.balance)) " " span.unit { (a.currency) } }
                dt { "Monthly allowance" } dd { (money(a.monthly_allowance)) }
                dt { "Maximum balance" } dd { (money(a.max_balance)) }
                dt { "Cost this fiscal year" } dd { (money(a.fytd_cost)) " since " (format::date(a.fiscal_year_start, chrono_tz::Tz::UTC)) ", settled " (format::opt_time(a.costs_settled_at, zone)) }
                dt { "Since then" } dd data-field="provisional-cost" { (money(a.provisional_cost)) " provisional: not yet in the balance, settled at the next reconciliation" }
                dt { "Burn rate" } dd { "minimum " (rate(a.burn_rates.minimum)) ", current " (rate(a.burn_rates.current)) ", maximum " (rate(a.burn_rates.maximum)) }
                dt { "Money runs out" }
                dd {
                    ul.plain {
                        li { "at the minimum rate: " (depletion(a.depletes_at.minimum, zone)) }
                        li { "at the current rate: " (depletion(a.depletes_at.current, zone)) }
                        li { "at the maximum rate: " (depletion(a.depletes_at.maximum, zone)) }
                    }
                }
                dt { "Last reconciled" } dd { (format::opt_time(a.last_reconciled_at, zone)) }
            }
            @if !a.warnings.is_empty() {
                ul.warnings { @for w in &a.warnings { li.money-warning.warn { (format::humanize(w, zone)) } } }
            }
            form.inline method="post" action={(org_path(org)) "/reconcile"} {
                (csrf_field(session))
                button type="submit" { "Reconcile now" }
            }
        }
        @if session.admin() {
            details open[Echo::on(ctx).is_of(ACCOUNT_FORM)] {
                summary { "Change the account (administrators)" }
                form.stack.narrow #(ACCOUNT_FORM) method="post" action={(org_path(org)) "/account"} {
                    (csrf_field(session))
                    @for (field, id, label, now) in [
                        ("balance", "acct-balance", "Balance ($)", Some(a.balance)),
                        ("monthly_allowance", "acct-allowance", "Monthly allowance ($)", Some(a.monthly_allowance)),
                        ("max_balance", "acct-max", "Maximum balance ($)", Some(a.max_balance)),
                        ("reason", "acct-reason", "Why (goes in the audit log)", None),
                    ] {
                        @let f = Field::of(ctx, ACCOUNT_FORM, field, id, None);
                        label for=(id) { (label) }
                        @if let Some(now) = now {
                            input #(id) name=(field) inputmode="decimal" placeholder=(now.to_string()) value=[f.value.as_deref()]
                                aria-invalid=[f.invalid()] aria-describedby=[f.described_by(None)];
                        } @else {
                            input #(id) name=(field) required maxlength="500" value=[f.value.as_deref()]
                                aria-invalid=[f.invalid()] aria-describedby=[f.described_by(None)];
                        }
                        (f.message())
                    }
                    button type="submit" { "Change the account" }
                }
            }
        }
    }
}

fn depletion(at: Option<chrono::DateTime<Utc>>, zone: chrono_tz::Tz) -> Markup {
    match at {
        Some(t) => format::time(t, zone),
        None => html! { "not within 10 years" },
    }
}

fn cost_plot(h: &CostHistory, by: &str, zone: chrono_tz::Tz) -> Markup {
    let mut clusters: Vec<String> = h
        .buckets
        .iter()
        .flat_map(|b| b.by_cluster.keys().cloned())
        .collect();
    clusters.sort();
    clusters.dedup();
    let bars: Vec<Bar> = h
        .buckets
        .iter()
        .map(|b| Bar {
            start: b.start,
            end: b.end,
            parts: clusters
                .iter()
                .enumerate()
                .map(|(i, c)| (i, b.by_cluster.get(c).map_or(0.0, |m| m.to_f64())))
                .collect(),
            tooltip: format!(
                "{}: {}{}",
                format::time_text(b.start, zone),
                money(b.total),
                b.by_cluster
                    .iter()
                    .map(|(c, m)| format!(" · {c} {}", money(*m)))
                    .collect::<String>()
            ),
        })
        .collect();
    let scale = match by {
        "hourly" => TimeScale::Hours,
        "monthly" => TimeScale::Months,
        _ => TimeScale::Days,
    };
    let costly: Vec<&CostBucketView> = h.buckets.iter().filter(|b| b.total.is_positive()).collect();
    html! {
        p { "Total " strong data-field="cost-total" { (money(h.total)) } " from " (format::time(h.from, zone)) " to " (format::time(h.to, zone)) "; " (by) " mean " (format::dollars(h.stats.mean)) ", highest " (format::dollars(h.stats.max)) "." }
        p.hint data-field="cost-settled" { "Settled until " (format::opt_time(h.settled_at, zone)) "; " (money(h.provisional)) " since then is provisional (what ran, at the blueprints' rates), settled at the next reconciliation." }
        (plot::bars("cost-plot", &format!("Cost by {}, by cluster", by.trim_end_matches("ly")), &format!("{} buckets of {by} cost in US dollars, stacked by cluster; total {}", h.buckets.len(), money(h.total)), (scale, zone), (h.from, h.to), &clusters, &bars))
        details {
            summary { "The figures" }
            @if costly.is_empty() { p.empty { "No costs in this period." } } @else {
                div.table-wrap tabindex="0" role="region" aria-label="Cost by bucket (scrolls sideways)" { table.stack {
                    thead { tr { th scope="col" { "From" } th scope="col" { "Cost" } th scope="col" { "By cluster" } } }
                    tbody { @for b in &costly { tr {
                        td data-label="From" { (format::time(b.start, zone)) }
                        td data-label="Cost" { (money(b.total)) @if b.provisional.is_positive() { " (" (money(b.provisional)) " provisional)" } }
                        td data-label="By cluster" { @for (c, m) in &b.by_cluster { (c) " " (money(*m)) " " } }
                    } } }
                } }
            }
        }
    }
}

fn forecast_plot(f: &ForecastView, by: &str, zone: chrono_tz::Tz, floor: Money) -> Markup {
    let now = Utc::now();
    // Every view starts from the balance now (the monthly one with the
    // current month, before the next 1st).
    let pick = |s: &ForecastSeries| -> Vec<(chrono::DateTime<Utc>, f64)> {
        let points = match by {
            "hourly" => &s.hourly,
            "monthly" => &s.monthly,
            _ => &s.daily,
        };
        let start = points
            .first()
            .is_none_or(|p| p.at > now)
            .then_some((now, f.balance.to_f64()));
        start
            .into_iter()
            .chain(points.iter().map(|p| (p.at, p.balance.to_f64())))
            .collect()
    };
    let series = [
        Line {
            name: format!("at the minimum rate, {}", rate(f.burn_rates.minimum)),
            points: pick(&f.minimum),
        },
        Line {
            name: format!("at the current rate, {}", rate(f.burn_rates.current)),
            points: pick(&f.current),
        },
        Line {
            name: format!("at the maximum rate, {}", rate(f.burn_rates.maximum)),
            points: pick(&f.maximum),
        },
    ];
    let scale = match by {
        "hourly" => TimeScale::Hours,
        "monthly" => TimeScale::Months,
        _ => TimeScale::Days,
    };
    html! {
        p { "From a balance of " strong { (money(f.balance)) } ", with the monthly allowance credited on the 1st." }
        (plot::lines(
            "forecast-plot",
            (
                "Balance forecast at three burn rates",
                &format!("The balance ahead ({by}) at the minimum, current and maximum burn rates, in US dollars, from now; below {}, the organization's clusters are shut down", money(floor)),
                "balance (US dollars)",
            ),
            (scale, zone),
            &series,
            &plot::Guides {
                now: Some(now),
                level: Some((floor.to_f64(), format!("shutdown floor {}", money(floor)))),
            },
        ))
    }
}

fn members_section(
    ctx: &Ctx,
    session: &Session,
    org: &str,
    manager: bool,
    members: &Result<Vec<MembershipView>, Error>,
) -> Markup {
    let zone = ctx.zone;
    let base = org_path(org);
    let sort = Sort::of(&ctx.path, "member_sort", &["who", "role", "approved"]).at("members");
    let who = |m: &MembershipView| m.login.clone().unwrap_or_else(|| m.subject.clone());
    html! {
        section aria-labelledby="members" {
            h2 #members { "Members" }
            @match members {
                Err(e) => { p.refused { (e.message) } }
                Ok(all) => {
                    @let requested: Vec<&MembershipView> = all.iter().filter(|m| m.state == "requested").collect();
                    @let approved = {
                        let mut approved: Vec<&MembershipView> = all.iter().filter(|m| m.state == "approved").collect();
                        sort.apply(&mut approved, |key, a, b| match key {
                            "role" => a.role.cmp(&b.role),
                            "approved" => a.decided_at.cmp(&b.decided_at),
                            _ => who(a).cmp(&who(b)),
                        });
                        approved
                    };
                    h3 { "Membership requests" }
                    @if requested.is_empty() {
                        p.empty { "Nobody has asked to join." }
                    } @else {
                        ul.people #membership-requests {
                            @for m in &requested {
                                li data-member=(m.login.as_deref().unwrap_or(&m.subject)) {
                                    span.name { (m.login.as_deref().unwrap_or(&m.subject)) }
                                    " asked " (format::time(m.requested_at, zone))
                                    @if manager {
                                        @let path = format!("{base}/members/{}", encode(&m.subject));
                                        form.inline method="post" action={(path) "/approve"} {
                                            (csrf_field(session)) button type="submit" { "Approve" }
                                        }
                                        form.inline method="post" action={(path) "/approve"} {
                                            (csrf_field(session)) input type="hidden" name="owner" value="yes"; button type="submit" { "Approve as owner" }
                                        }
                                        form.inline method="post" action={(path) "/remove"} {
                                            (csrf_field(session)) button.link type="submit" { "Decline" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                    h3 { "Approved here" }
                    @if approved.is_empty() {
                        p.empty { "No membership is recorded in Slipway: members come from GitHub." }
                    } @else {
                        div.table-wrap tabindex="0" role="region" aria-label="Members (scrolls sideways)" { table.stack #members-table {
                            thead { tr {
                                (sort.header(&ctx.path, "who", "Who")) (sort.header(&ctx.path, "role", "Role"))
                                (sort.header(&ctx.path, "approved", "Approved")) th scope="col" { span.visually-hidden { "Actions" } }
                            } }
                            tbody { @for m in &approved {
                                @let path = format!("{base}/members/{}", encode(&m.subject));
                                @let me = m.subject == session.caller.subject().as_str();
                                tr data-member=(m.login.as_deref().unwrap_or(&m.subject)) {
                                    td data-label="Who" { (m.login.as_deref().unwrap_or(&m.subject)) }
                                    td data-label="Role" { (m.role) }
                                    td data-label="Approved" { (format::opt_time(m.decided_at, zone)) }
                                    td.row-actions {
                                        @if manager && m.role != "owner" {
                                            form.inline method="post" action={(path) "/approve"} {
                                                (csrf_field(session)) input type="hidden" name="owner" value="yes"; button.link type="submit" { "Make owner" }
                                            }
                                        }
                                        @if manager || me {
                                            form.inline method="post" action={(path) "/remove"} {
                                                (csrf_field(session)) button.link type="submit" { @if me { "Leave" } @else { "Remove" } }
                                            }
                                        }
                                    }
                                }
                            } }
                        } }
                    }
                    p.hint { "People in the organization's GitHub organization or team are members without being listed here." }
                }
            }
        }
    }
}

fn limits_section(ctx: &Ctx, session: &Session, org: &OrganizationView) -> Markup {
    let l = &org.limits;
    let dur = |s: u64| format_duration(std::time::Duration::from_secs(s));
    html! {
        section aria-labelledby="limits" {
            h2 #limits { "Limits" }
            dl.summary {
                dt { "Nodes per cluster" } dd { (l.max_nodes) }
                dt { "Clusters at once" } dd { (l.max_clusters) }
                dt { "Clusters defined" } dd { (l.max_defined_clusters) }
                dt { "Operations running at once" } dd { (l.max_running_operations) }
                dt { "Longest lifetime" } dd { (dur(l.max_lifetime_secs)) }
                dt { "Shortest lifetime" } dd { (dur(l.min_lifetime_secs)) }
                dt { "Idle clusters" } dd { @if org.destroy_when_idle { "destroyed when their last capacity request ends" } @else { "kept at their minimum size" } }
            }
            p.hint { "Limits bind organization members; administrators have none — except the operations running at once, the organization's share of the workers." }
            @if session.admin() {
                details open[Echo::on(ctx).is_of(LIMITS_FORM)] {
                    summary { "Change the limits (administrators)" }
                    form.stack.narrow #(LIMITS_FORM) method="post" action={(org_path(&org.name)) "/limits"} {
                        (csrf_field(session))
                        @for (field, id, label, now, number) in [
                            ("max_nodes", "lim-nodes", "Nodes per cluster", l.max_nodes.to_string(), true),
                            ("max_clusters", "lim-clusters", "Clusters at once", l.max_clusters.to_string(), true),
                            ("max_defined_clusters", "lim-defined", "Clusters defined", l.max_defined_clusters.to_string(), true),
                            ("max_running_operations", "lim-running", "Operations running at once", l.max_running_operations.to_string(), true),
                            ("max_lifetime", "lim-max", "Longest lifetime", dur(l.max_lifetime_secs), false),
                            ("min_lifetime", "lim-min", "Shortest lifetime", dur(l.min_lifetime_secs), false),
                        ] {
                            @let f = Field::of(ctx, LIMITS_FORM, field, id, Some(now));
                            label for=(id) { (label) }
                            input #(id) name=(field) type=(if number { "number" } else { "text" }) min=[number.then_some("0")]
                                value=[f.value.as_deref()] aria-invalid=[f.invalid()] aria-describedby=[f.described_by(None)];
                            (f.message())
                        }
                        label for="lim-idle" { "Idle clusters" }
                        select #lim-idle name="destroy_when_idle" {
                            option value="no" selected[!org.destroy_when_idle] { "kept at their minimum size" }
                            option value="yes" selected[org.destroy_when_idle] { "destroyed" }
                        }
                        button type="submit" { "Change the limits" }
                    }
                }
            }
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct Nothing {}

pub async fn join(Path(name): Path<String>, action: FormPost<Nothing>) -> Response {
    let result = action
        .ctx
        .web
        .service
        .request_membership(action.caller(), &name)
        .await;
    done(&action.ctx, "/", result, |m| match m.state.as_str() {
        "approved" => format!("You already are a member of {}.", m.organization),
        _ => format!(
            "You asked to join {}: an owner or administrator decides.",
            m.organization
        ),
    })
}

#[derive(Debug, Deserialize)]
pub struct ApproveForm {
    owner: Option<String>,
}

pub async fn approve_member(
    Path((name, who)): Path<(String, String)>,
    action: FormPost<ApproveForm>,
) -> Response {
    let owner = action.form.owner.is_some();
    let result = action
        .ctx
        .web
        .service
        .approve_membership(action.caller(), &name, &who, ApproveMembership { owner })
        .await;
    done(
        &action.ctx,
        &format!("{}#members", org_path(&name)),
        result,
        |m| {
            format!(
                "{} is now {} of {}.",
                m.login.unwrap_or(m.subject),
                if m.role == "owner" {
                    "an owner"
                } else {
                    "a member"
                },
                m.organization
            )
        },
    )
}

pub async fn remove_member(
    Path((name, who)): Path<(String, String)>,
    action: FormPost<super::Confirm>,
) -> Response {
    if !action.form.confirmed() {
        let me = action.session().login() == who;
        return super::confirm_step(
            &action.ctx,
            if me {
                "Leave the organization?"
            } else {
                "Remove the membership?"
            },
            if me {
                format!(
                    "You leave {name}: its private clusters, costs and members are no longer yours to see."
                )
            } else {
                format!("{who} is no longer a member of {name} (a request to join is declined).")
            },
            if me { "Leave" } else { "Remove" },
            &format!("{}#members", org_path(&name)),
        );
    }
    let result = action
        .ctx
        .web
        .service
        .remove_membership(action.caller(), &name, &who)
        .await;
    done(
        &action.ctx,
        &format!("{}#members", org_path(&name)),
        result,
        |()| format!("The membership is removed from {name}."),
    )
}

pub async fn reconcile(Path(name): Path<String>, action: FormPost<Nothing>) -> Response {
    let result = action
        .ctx
        .web
        .service
        .reconcile_account(action.caller(), &name)
        .await;
    done(&action.ctx, &org_path(&name), result, |r| {
        let mut text = format!(
            "Reconciled: credited {}, debited {}; the balance is {}.",
            money(r.credited),
            money(r.debited),
            money(r.account.balance)
        );
        if !r.shut_down.is_empty() {
            text.push_str(&format!(
                " The money ran out: {} destroyed.",
                r.shut_down.join(", ")
            ));
        }
        text
    })
}

#[derive(Debug, Deserialize)]
pub struct AccountForm {
    balance: Option<String>,
    monthly_allowance: Option<String>,
    max_balance: Option<String>,
    reason: Option<String>,
}

pub async fn update_account(Path(name): Path<String>, action: FormPost<AccountForm>) -> Response {
    let f = &action.form;
    let result = async {
        let req = UpdateAccount {
            balance: amount("balance", &f.balance)?,
            monthly_allowance: amount("monthly_allowance", &f.monthly_allowance)?,
            max_balance: amount("max_balance", &f.max_balance)?,
            reason: given(&f.reason).unwrap_or_default(),
        };
        action
            .ctx
            .web
            .service
            .update_account(action.caller(), &name, req)
            .await
    }
    .await;
    let page = format!("{}#account", org_path(&name));
    answered(
        &action,
        &page,
        ACCOUNT_FORM,
        result,
        |_| true,
        |r| {
            let a = &r.account;
            let credited = if r.credited.is_zero() {
                String::new()
            } else {
                format!(
                    " This month's allowance of {} was credited at once, as it is at the start of every month: the balance is {}.",
                    money(r.credited),
                    money(a.balance)
                )
            };
            Flash::ok(format!(
                "The account is changed: balance {}, allowance {}, maximum {}.{credited}",
                money(a.balance),
                money(a.monthly_allowance),
                money(a.max_balance)
            ))
        },
    )
}

#[derive(Debug, Deserialize)]
pub struct LimitsForm {
    max_nodes: Option<String>,
    max_clusters: Option<String>,
    max_defined_clusters: Option<String>,
    max_running_operations: Option<String>,
    max_lifetime: Option<String>,
    min_lifetime: Option<String>,
    destroy_when_idle: Option<String>,
}

pub async fn update_limits(Path(name): Path<String>, action: FormPost<LimitsForm>) -> Response {
    let f = &action.form;
    let result = async {
        let req = UpdateOrganization {
            github_org: None,
            github_team: None,
            limits: Some(UpdateLimits {
                max_nodes: number("max_nodes", &f.max_nodes)?,
                max_lifetime: given(&f.max_lifetime),
                min_lifetime: given(&f.min_lifetime),
                max_clusters: number("max_clusters", &f.max_clusters)?,
                max_defined_clusters: number("max_defined_clusters", &f.max_defined_clusters)?,
                max_running_operations: number(
                    "max_running_operations",
                    &f.max_running_operations,
                )?,
            }),
            destroy_when_idle: given(&f.destroy_when_idle).map(|v| v == "yes"),
        };
        action
            .ctx
            .web
            .service
            .update_organization(action.caller(), &name, req)
            .await
    }
    .await;
    answered(
        &action,
        &format!("{}#limits", org_path(&name)),
        LIMITS_FORM,
        result,
        |_| true,
        |o| Flash::ok(format!("The limits of {} are changed.", o.name)),
    )
}

#[derive(Debug, Deserialize)]
pub struct CreateForm {
    name: Option<String>,
    github_org: Option<String>,
    github_team: Option<String>,
}

pub async fn create(action: FormPost<CreateForm>) -> Response {
    let f = &action.form;
    let req = CreateOrganization {
        name: given(&f.name).unwrap_or_default(),
        github_org: given(&f.github_org),
        github_team: given(&f.github_team),
        limits: None,
        destroy_when_idle: false,
    };
    match action
        .ctx
        .web
        .service
        .create_organization(action.caller(), req)
        .await
    {
        Ok(o) => done::<()>(&action.ctx, &org_path(&o.name), Ok(()), |()| {
            format!("Organization {} is created.", o.name)
        }),
        Err(e) => answered(
            &action,
            "/admin#organizations",
            super::admin::ORG_FORM,
            Err::<(), _>(e),
            |_| true,
            |()| Flash::ok(String::new()),
        ),
    }
}
