//! The home page: cards of the organizations I own, belong to (and, for
//! administrators, all others), each with its clusters' states and — for
//! whoever may see the account — balance, allowance and when the money
//! runs out; the organizations I may ask to join; the public clusters.

use axum::response::Response;
use maud::{Markup, html};
use slipway_api::types::{AccountView, ClusterPage, ClusterQuery, ClusterStatus};
use slipway_service::web_views::{DirectoryEntry, Standing};

use super::{cluster_path, org_path};
use crate::format::{self, money};
use crate::session::{Ctx, csrf_field};
use crate::sort::Sort;

/// What a card shows of one organization.
struct Card {
    name: String,
    standing: Standing,
    /// The first clusters, and whether there are more than those.
    clusters: Result<(Vec<ClusterStatus>, bool), String>,
    /// `None`: the caller may not see it.
    account: Option<Result<AccountView, String>>,
}

/// How many of an organization's clusters its card lists, and how many it
/// counts.
const ON_CARD: usize = 8;
const COUNTED_ON_CARD: u32 = 100;

/// How many public clusters the home page lists.
const PUBLIC_ON_HOME: u32 = 20;
pub async fn page(ctx: Ctx) -> Response {
    let zone = ctx.zone;
    let session = match ctx.signed_in() {
        Ok(s) => s.clone(),
        Err(to_sign_in) => return *to_sign_in,
    };
    let service = &ctx.web.service;
    let caller = &session.caller;
    let directory = match service.organization_directory(caller).await {
        Ok(d) => d,
        Err(e) => return ctx.error(&e),
    };
    let mut cards = Vec::new();
    let mut others: Vec<DirectoryEntry> = Vec::new();
    for entry in directory {
        let inside = matches!(entry.standing, Standing::Owner | Standing::Member);
        if !inside && !session.admin() {
            others.push(entry);
            continue;
        }
        // A card lists its first clusters and says how many more there are
        // (up to a page of them: beyond, "more than").
        let first_page = ClusterQuery {
            organization: Some(entry.name.clone()),
            limit: Some(COUNTED_ON_CARD),
            ..Default::default()
        };
        let clusters = service
            .list_clusters(caller, &first_page)
            .await
            .map(|page| {
                let more = page.next_cursor.is_some();
                (page.clusters, more)
            })
            .map_err(|e| e.message);
        let account = if session.admin() || entry.standing == Standing::Owner {
            Some(
                service
                    .account(caller, &entry.name)
                    .await
                    .map_err(|e| e.message),
            )
        } else {
            None
        };
        cards.push(Card {
            name: entry.name,
            standing: entry.standing,
            clusters,
            account,
        });
    }
    // The first of them; the clusters page lists them all.
    let public_query = ClusterQuery {
        public: Some(true),
        limit: Some(PUBLIC_ON_HOME),
        ..Default::default()
    };
    let public: ClusterPage = match service.list_clusters(caller, &public_query).await {
        Ok(page) => page,
        Err(e) => return ctx.error(&e),
    };
    let owned: Vec<&Card> = cards
        .iter()
        .filter(|c| c.standing == Standing::Owner)
        .collect();
    let member: Vec<&Card> = cards
        .iter()
        .filter(|c| c.standing == Standing::Member)
        .collect();
    let administered: Vec<&Card> = cards
        .iter()
        .filter(|c| !matches!(c.standing, Standing::Owner | Standing::Member))
        .collect();
    let can_join = !caller.subject().is_slipway();
    ctx.render(
        "Home",
        html! {
            h1 { "Organizations" }
            section aria-labelledby="own" {
                h2 #own { "Organizations you own" }
                (card_grid(zone, &owned, "You own no organization. An administrator makes owners on an organization's page."))
            }
            section aria-labelledby="belong" {
                h2 #belong { "Organizations you belong to" }
                (card_grid(zone, &member, "You belong to no organization yet: ask to join one below, or join its GitHub organization."))
            }
            @if session.admin() {
                section aria-labelledby="administered" {
                    h2 #administered { "Other organizations" }
                    p.hint { "You see them as a site administrator." }
                    (card_grid(zone, &administered, "There are no other organizations."))
                }
            }
            @if !session.admin() {
                section aria-labelledby="join" {
                    h2 #join { "Organizations you may ask to join" }
                    @if others.is_empty() {
                        p.empty { "There is no other organization to join." }
                    } @else {
                        ul.joinable {
                            @for o in &others {
                                li data-org=(o.name) {
                                    span.name { (o.name) }
                                    @if o.standing == Standing::Requested {
                                        span.tag { "requested — waiting for an owner" }
                                    } @else if can_join {
                                        form.inline method="post" action={(org_path(&o.name)) "/join"} {
                                            (csrf_field(&session))
                                            button type="submit" { "Request membership" }
                                        }
                                    }
                                }
                            }
                        }
                        @if !can_join {
                            p.hint { "Only people signed in with GitHub may ask to join an organization." }
                        }
                    }
                }
            }
            section aria-labelledby="public" {
                h2 #public { "Public clusters" }
                @if public.clusters.is_empty() {
                    p.empty { "No cluster is public." }
                } @else {
                    (cluster_table(&public.clusters, ctx.zone, None))
                    @if public.next_cursor.is_some() {
                        p { a href="/clusters?public=true" { "All public clusters" } }
                    }
                }
            }
        },
    )
}

fn card_grid(zone: chrono_tz::Tz, cards: &[&Card], empty: &str) -> Markup {
    html! {
        @if cards.is_empty() {
            p.empty { (empty) }
        } @else {
            div.cards {
                @for c in cards { (card(c, zone)) }
            }
        }
    }
}

fn card(c: &Card, zone: chrono_tz::Tz) -> Markup {
    html! {
        article.card data-org=(c.name) {
            h3 { a href=(org_path(&c.name)) { (c.name) } }
            @match &c.clusters {
                Ok((clusters, _)) if clusters.is_empty() => {
                    p.empty { "No clusters. " a href={"/clusters/new?organization=" (c.name)} { "Create one" } }
                }
                Ok((clusters, more)) => {
                    ul.clusters {
                        @for cl in clusters.iter().take(ON_CARD) {
                            li { a href=(cluster_path(&cl.name)) { (cl.name) } " " (format::cluster_state(cl.state)) }
                        }
                    }
                    @if clusters.len() > ON_CARD {
                        p.more data-more-clusters {
                            a href={"/clusters?organization=" (c.name)} {
                                "and " @if *more { "over " } (clusters.len() - ON_CARD) " more"
                            }
                        }
                    }
                }
                Err(message) => { p.refused { (message) } }
            }
            @match &c.account {
                None => { p.hint { "The account is shown to owners." } }
                Some(Err(message)) => { p.refused { (message) } }
                Some(Ok(a)) if !a.opened => { p.hint { "No account: not budgeted." } }
                Some(Ok(a)) => {
                    @if let Some((tone, sentence)) = format::runs_out(a.depletes_at.current, a.burn_rates.current, chrono::Utc::now(), zone) {
                        p class={"money-warning " (tone)} data-money-warning=(tone) { (sentence) }
                    }
                    @for w in &a.warnings { p.money-warning.warn data-money-warning="warn" { (format::humanize(w, zone)) } }
                    dl.account {
                        dt { "Balance" } dd data-field="balance" { (money(a.balance)) }
                        dt { "Monthly allowance" } dd { (money(a.monthly_allowance)) }
                        dt { "Maximum" } dd { (money(a.max_balance)) }
                        dt { "Current rate" } dd data-field="rate" { (format::rate(a.burn_rates.current)) }
                        dt { "Runs out" } dd { @match a.depletes_at.current { Some(t) => { (format::time(t, zone)) }, None => { "not within 10 years" } } }
                    }
                }
            }
        }
    }
}

/// The columns a whole list of clusters sorts by.
pub const CLUSTER_SORTS: [&str; 5] = ["name", "organization", "state", "nodes", "destroy"];

/// Sorts clusters by one of [`CLUSTER_SORTS`] (a cluster with no destroy
/// scheduled comes last, ascending).
pub fn sort_clusters(sort: &Sort, clusters: &mut [ClusterStatus]) {
    sort.apply(clusters, |key, a, b| match key {
        "organization" => a.organization.cmp(&b.organization),
        "state" => a.state.as_str().cmp(b.state.as_str()),
        "nodes" => a.nodes.cmp(&b.nodes),
        "destroy" => match (a.destroy_at, b.destroy_at) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => std::cmp::Ordering::Equal,
        },
        _ => a.name.cmp(&b.name),
    });
}

/// Clusters as a table: name, organization, state, nodes, destroy time;
/// with `sorted` (the order and the page's path), the headers sort it.
pub fn cluster_table(
    clusters: &[ClusterStatus],
    zone: chrono_tz::Tz,
    sorted: Option<(&Sort, &str)>,
) -> Markup {
    let now = chrono::Utc::now();
    let columns = [
        ("name", "Cluster"),
        ("organization", "Organization"),
        ("state", "State"),
        ("nodes", "Nodes"),
        ("destroy", "Destroyed"),
    ];
    html! {
        div.table-wrap tabindex="0" role="region" aria-label="Clusters (scrolls sideways)" {
            table.stack {
                thead { tr {
                    @for (key, label) in columns {
                        @match sorted {
                            Some((sort, path)) => { (sort.header(path, key, label)) }
                            None => { th scope="col" { (label) } }
                        }
                    }
                } }
                tbody {
                    @for c in clusters {
                        tr data-cluster=(c.name) {
                            td data-label="Cluster" { a href=(cluster_path(&c.name)) { (c.name) } @if c.public { " " span.tag { "public" } } }
                            td data-label="Organization" { a href=(org_path(&c.organization)) { (c.organization) } }
                            td data-label="State" {
                                (format::cluster_state(c.state))
                                @if c.deprecated.is_some() { " " span.tag data-deprecated title="its blueprint version is deprecated" { "deprecated version" } }
                            }
                            td data-label="Nodes" { (c.nodes) }
                            td data-label="Destroyed" { @match c.destroy_at { Some(t) => { (format::time(t, zone)) " " (format::countdown(t, now)) }, None => { span.none { "not scheduled" } } } }
                        }
                    }
                }
            }
        }
    }
}
