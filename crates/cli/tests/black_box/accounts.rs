//! Organizations as accounts, through the binary (docs/domain.md §8): costs
//! accrued exactly from which node count ran when, reconciliation that
//! debits them once, a budget that refuses what it cannot pay for and shuts
//! an organization down when its money is gone, capacity requests that
//! drive a cluster's size, and AWS Cost Explorer's figures (from the
//! emulator) replacing the model's.

use std::str::FromStr;
use std::time::Duration;

use crate::common::*;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};
use slipway_testkit::github::FakeGitHub;
use slipway_testkit::moto::Moto;

const WAIT: Duration = Duration::from_secs(120);

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn decimal(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("not money: {v}"))).unwrap()
}

fn time(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

/// Exactly what `dollars_per_hour` costs over `[from, to)`, to the
/// millisecond, as the model accrues it.
fn cost(dollars_per_hour: i64, from: DateTime<Utc>, to: DateTime<Utc>) -> Decimal {
    Decimal::from(dollars_per_hour) * Decimal::from((to - from).num_milliseconds())
        / Decimal::from(3_600_000)
}

fn cents(d: Decimal) -> Decimal {
    d.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero)
}

/// The operation of the last `deploy`/`destroy` command's answer.
fn finished_at(s: &Server, out: &slipway_testkit::server::CliOutput) -> DateTime<Utc> {
    let id = out.json()["operation"]["id"].as_str().unwrap().to_owned();
    let view: Value = api(s, "GET", &format!("/v1/operations/{id}"))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(view["state"], "succeeded", "{view}");
    time(&view["finished_at"])
}

#[test]
fn costs_accrue_exactly_and_reconciliation_debits_them_once() {
    let s = server();
    s.run(&[
        "org",
        "account",
        "default",
        "--balance",
        "1000",
        "--max",
        "5000",
        "--reason",
        "test budget",
    ])
    .expect_code(0);
    s.run(&[
        "cluster",
        "create",
        "c1",
        "--blueprint",
        "priced",
        "--nodes",
        "2",
    ])
    .expect_code(0);
    let deployed = s.run(&["deploy", "c1", "--json"]);
    deployed.expect_code(0);
    let t1 = finished_at(&s, &deployed);
    let updated = s.run(&["deploy", "c1", "--nodes", "3", "--json"]);
    updated.expect_code(0);
    let t2 = finished_at(&s, &updated);
    let destroyed = s.run(&["destroy", "c1", "--json"]);
    destroyed.expect_code(0);
    let t3 = finished_at(&s, &destroyed);

    // 2 nodes from t1 to t2 (36 + 2 × 360 $/h), 3 nodes from t2 to t3.
    let expected = cost(756, t1, t2) + cost(1116, t2, t3);
    let done = s.run(&["org", "reconcile", "default", "--json"]);
    done.expect_code(0);
    let done = done.json();
    assert_eq!(decimal(&done["debited"]), cents(expected), "{done}");
    assert_eq!(
        decimal(&done["account"]["balance"]),
        Decimal::from(1000) - cents(expected)
    );
    // Every figure is the model's, and they add up to exactly that.
    let history = s
        .run(&[
            "org",
            "costs",
            "default",
            "--granularity",
            "hourly",
            "--from",
            &(t1 - chrono::TimeDelta::hours(1)).to_rfc3339(),
            "--json",
        ])
        .json();
    assert_eq!(decimal(&history["total"]), expected, "{history}");
    for bucket in history["buckets"].as_array().unwrap() {
        if decimal(&bucket["total"]) > Decimal::ZERO {
            assert_eq!(bucket["by_source"]["model"], bucket["total"]);
            assert_eq!(bucket["by_cluster"]["c1"], bucket["total"]);
        }
    }
    assert!(history["stats"]["count"].as_u64().unwrap() >= 1);
    // Once only: reconciling again debits nothing.
    let again = s.run(&["org", "reconcile", "default", "--json"]).json();
    assert_eq!(decimal(&again["debited"]), Decimal::ZERO, "{again}");
    assert_eq!(again["account"]["balance"], done["account"]["balance"]);
    // The account shows the fiscal year's cost and the change is audited.
    let account = s.run(&["org", "account", "default", "--json"]).json();
    assert_eq!(decimal(&account["fytd_cost"]), expected);
    let audit = s
        .run(&["audit", "--action", "account.update", "--json"])
        .json()["entries"]
        .clone();
    assert_eq!(audit[0]["detail"]["reason"], "test budget");
    assert_eq!(audit[0]["actor"], "slipway:bootstrap");
}

#[test]
fn an_organization_out_of_money_is_shut_down() {
    let s = server();
    s.run(&["cluster", "create", "keep", "--blueprint", "local"])
        .expect_code(0);
    s.run(&["deploy", "keep"]).expect_code(0);
    // The balance falls under the floor ($0.50): the keeper reconciles at
    // once and destroys the organization's clusters.
    s.run(&[
        "org",
        "account",
        "default",
        "--balance",
        "0.10",
        "--max",
        "100",
        "--reason",
        "spent",
    ])
    .expect_code(0);
    let gone = watch_until(&s, "keep", WAIT, |st| {
        st["state"] == "absent" && st["last_operation"]["state"] == "succeeded"
    });
    let op: Value = api(
        &s,
        "GET",
        &format!(
            "/v1/operations/{}",
            gone["last_operation"]["id"].as_str().unwrap()
        ),
    )
    .send()
    .unwrap()
    .json()
    .unwrap();
    assert_eq!(op["kind"], "destroy");
    assert_eq!(op["reason"], "budget");
    assert_eq!(op["requested_by"], "slipway:budget");
    let audit = s
        .run(&["audit", "--action", "budget.shutdown", "--json"])
        .json()["entries"]
        .clone();
    assert_eq!(audit[0]["target"], "default", "{audit}");
    assert!(
        audit[0]["detail"]["clusters"]
            .as_array()
            .unwrap()
            .contains(&json!("keep"))
    );
}

#[test]
fn a_member_cannot_deploy_what_the_money_would_not_last_a_day_for() {
    let github = FakeGitHub::start();
    github.add_user("alice", 1, "gho_alice", &["read:org"]);
    github.set_org_membership("alice", "uw-research", "active", "member");
    let s = server_with(Options {
        env: github_env(&github),
        ..Options::default()
    });
    s.run(&["org", "create", "research", "--github-org", "uw-research"])
        .expect_code(0);
    let alice = sign_in(&s, "gho_alice");
    s.run_as(
        &[
            "cluster",
            "create",
            "big",
            "--blueprint",
            "priced",
            "--org",
            "research",
            "--nodes",
            "2",
        ],
        Some(&alice),
    )
    .expect_code(0);
    s.run(&[
        "org",
        "account",
        "research",
        "--balance",
        "10",
        "--max",
        "100",
        "--reason",
        "a little",
    ])
    .expect_code(0);
    // $10 at 756 $/h lasts under a minute: refused, naming the rate and
    // when the money runs out.
    let refused = s.run_as(&["deploy", "big", "--ttl", "1h", "--json"], Some(&alice));
    refused.expect_code(4);
    let error = refused.error_json();
    assert_eq!(error["error"]["code"], "over_budget", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("756"), "{message}");
    // Within the hour (the forecast counts whole hours): today, or
    // tomorrow just before midnight.
    let now = Utc::now();
    assert!(
        [now, now + chrono::TimeDelta::hours(1)]
            .iter()
            .any(|t| message.contains(&t.format("%Y-%m-%d").to_string())),
        "{message}"
    );
    // With money for a day it goes.
    s.run(&[
        "org",
        "account",
        "research",
        "--balance",
        "100000",
        "--max",
        "100000",
        "--reason",
        "more",
    ])
    .expect_code(0);
    s.run_as(&["deploy", "big", "--ttl", "1h"], Some(&alice))
        .expect_code(0);
    s.run(&["destroy", "big"]).expect_code(0);
}

#[test]
fn capacity_requests_drive_the_size_up_and_their_expiry_down_and_away() {
    let github = FakeGitHub::start();
    for (login, id) in [("alice", 1), ("bob", 2)] {
        github.add_user(login, id, &format!("gho_{login}"), &["read:org"]);
        github.set_org_membership(login, "uw-research", "active", "member");
    }
    let mut env = github_env(&github);
    env.extend(self::env(&[("SLIPWAY_ACCOUNTS__CAPACITY__MIN_TTL", "1s")]));
    let s = server_with(Options {
        env,
        ..Options::default()
    });
    s.run(&[
        "org",
        "create",
        "research",
        "--github-org",
        "uw-research",
        "--destroy-when-idle",
    ])
    .expect_code(0);
    s.run(&[
        "cluster",
        "create",
        "shared",
        "--blueprint",
        "local",
        "--org",
        "research",
    ])
    .expect_code(0);
    let alice = sign_in(&s, "gho_alice");
    let bob = sign_in(&s, "gho_bob");
    let asked = s.run_as(
        &[
            "capacity", "request", "shared", "--nodes", "2", "--ttl", "8s", "--json",
        ],
        Some(&alice),
    );
    asked.expect_code(0);
    assert_eq!(asked.json()["result"], "queued", "{}", asked.stdout());
    let asked = s.run_as(
        &[
            "capacity", "request", "shared", "--nodes", "3", "--ttl", "16s", "--json",
        ],
        Some(&bob),
    );
    asked.expect_code(0);
    // Bob sees his own request only.
    assert_eq!(asked.json()["requests"].as_array().unwrap().len(), 1);
    // 2 + 3 = 5 nodes.
    let five = watch_until(&s, "shared", WAIT, |st| {
        st["state"] == "running" && st["nodes"] == 5 && st["last_operation"]["state"] == "succeeded"
    });
    assert_eq!(five["nodes"], 5);
    // Alice's request expires: bob's 3 remain.
    watch_until(&s, "shared", WAIT, |st| {
        st["state"] == "running" && st["nodes"] == 3 && st["last_operation"]["state"] == "succeeded"
    });
    // Bob's expires: the cluster capacity deployed is destroyed then, by
    // the scheduled destroy capacity gave it (moved to the last request's
    // end as requests came).
    let gone = watch_until(&s, "shared", WAIT, |st| {
        st["state"] == "absent" && st["last_operation"]["state"] == "succeeded"
    });
    let ops: Value = api(&s, "GET", "/v1/clusters/shared/operations")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let reasons: Vec<(&str, &str)> = ops["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|op| (op["kind"].as_str().unwrap(), op["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("destroy", "schedule"),
            ("update", "capacity"),
            ("update", "capacity"),
            ("deploy", "capacity")
        ],
        "{gone}"
    );
}

/// Waits until the capacity keeper has looked at every request `rounds`
/// more times: what it would do, it has done.
fn keeper_rounds(s: &Server, rounds: f64) {
    let name = "slipway_capacity_rounds_total";
    let target = metric(s, name) + rounds;
    wait_for(WAIT, "rounds of the capacity keeper", || {
        metric(s, name) >= target
    });
}

/// A research organization whose members alice and bob sign in, on a
/// server whose capacity keeper looks again every second.
fn research(extra: &[(&str, &str)]) -> (Server, String, String, FakeGitHub) {
    let github = FakeGitHub::start();
    for (login, id) in [("alice", 1), ("bob", 2)] {
        github.add_user(login, id, &format!("gho_{login}"), &["read:org"]);
        github.set_org_membership(login, "uw-research", "active", "member");
    }
    let mut env = github_env(&github);
    env.extend(self::env(&[("SLIPWAY_ACCOUNTS__CAPACITY_RECHECK", "1s")]));
    env.extend(self::env(extra));
    let s = server_with(Options {
        env,
        ..Options::default()
    });
    s.run(&["org", "create", "research", "--github-org", "uw-research"])
        .expect_code(0);
    let alice = sign_in(&s, "gho_alice");
    let bob = sign_in(&s, "gho_bob");
    (s, alice, bob, github)
}

#[test]
fn capacity_never_overrides_a_person() {
    let (s, alice, bob, _github) = research(&[]);
    s.run(&[
        "cluster",
        "create",
        "acme-hpc",
        "--blueprint",
        "local",
        "--org",
        "research",
    ])
    .expect_code(0);
    // A member's request deploys the absent cluster — with a destroy time,
    // when the last request ends, as any member's deploy must carry.
    let asked = s.run_as(
        &[
            "capacity", "request", "acme-hpc", "--nodes", "4", "--ttl", "2h", "--json",
        ],
        Some(&alice),
    );
    asked.expect_code(0);
    let asked = asked.json();
    assert_eq!(asked["result"], "queued", "{asked}");
    let alice_until = time(&asked["request"]["expires_at"]);
    s.run_as(
        &[
            "capacity", "request", "acme-hpc", "--nodes", "2", "--ttl", "1h", "--json",
        ],
        Some(&bob),
    )
    .expect_code(0);
    let six = watch_until(&s, "acme-hpc", WAIT, |st| {
        st["state"] == "running" && st["nodes"] == 6 && st["last_operation"]["state"] == "succeeded"
    });
    assert_eq!(time(&six["destroy_at"]), alice_until, "{six}");
    assert!(alice_until - Utc::now() <= chrono::TimeDelta::hours(12));
    assert_eq!(six["capacity"]["requests"], 2);
    assert_eq!(six["capacity"]["held_nodes"], 6);
    let deploy: Value = api(
        &s,
        "GET",
        &format!(
            "/v1/operations/{}",
            six["last_operation"]["id"].as_str().unwrap()
        ),
    )
    .send()
    .unwrap()
    .json()
    .unwrap();
    assert_eq!(deploy["requested_by"], "slipway:capacity", "{deploy}");

    // A member's resize away from what the requests hold is refused, naming
    // them — never silently undone.
    let resized = s.run_as(
        &["deploy", "acme-hpc", "--nodes", "2", "--json"],
        Some(&alice),
    );
    resized.expect_code(4);
    let error = resized.error_json();
    assert_eq!(error["error"]["code"], "capacity_held", "{error}");
    let message = error["error"]["message"].as_str().unwrap();
    assert!(message.contains("held at 6 nodes"), "{message}");
    assert!(
        message.contains("by alice: 4") && message.contains("by bob: 2"),
        "{message}"
    );

    // The destroy withdraws every request in the same decision, says so,
    // and capacity does not bring the cluster back.
    let destroyed = s.run(&["destroy", "acme-hpc"]);
    destroyed.expect_code(0);
    assert!(
        destroyed
            .stderr()
            .contains("withdraws its 2 capacity requests"),
        "{}",
        destroyed.stderr()
    );
    let ops_before: Value = api(&s, "GET", "/v1/clusters/acme-hpc/operations")
        .send()
        .unwrap()
        .json()
        .unwrap();
    keeper_rounds(&s, 3.0);
    let status = s.run(&["status", "acme-hpc", "--json"]).json();
    assert_eq!(status["state"], "absent", "{status}");
    assert_eq!(status["capacity"]["requests"], 0, "{status}");
    let ops_after: Value = api(&s, "GET", "/v1/clusters/acme-hpc/operations")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ops_after, ops_before, "nothing ran after the destroy");
    let listed: Value = api(&s, "GET", "/v1/clusters/acme-hpc/capacity")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed, json!([]), "the requests are withdrawn");
    let audit: Value = api(
        &s,
        "GET",
        "/v1/audit?action=cluster.destroy&target=acme-hpc",
    )
    .send()
    .unwrap()
    .json()
    .unwrap();
    assert_eq!(
        audit[0]["detail"]["withdrawn_capacity_requests"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "{audit}"
    );
}

#[test]
fn a_request_the_budget_refuses_waits_and_is_honoured_when_money_comes() {
    let (s, alice, _bob, _github) = research(&[]);
    s.run(&[
        "cluster",
        "create",
        "big",
        "--blueprint",
        "priced",
        "--org",
        "research",
        "--nodes",
        "1",
    ])
    .expect_code(0);
    s.run(&[
        "org",
        "account",
        "research",
        "--balance",
        "10",
        "--max",
        "100000",
        "--reason",
        "a little",
    ])
    .expect_code(0);
    // $10 does not last a day at 36 + 2 × 360 $/h: the request is kept, but
    // waits, saying why — a refusal's exit code, not a success.
    let asked = s.run_as(
        &[
            "capacity", "request", "big", "--nodes", "2", "--ttl", "1h", "--json",
        ],
        Some(&alice),
    );
    asked.expect_code(4);
    let asked = asked.json();
    assert_eq!(asked["result"], "waiting", "{asked}");
    assert_eq!(asked["waiting"]["code"], "over_budget", "{asked}");
    assert_eq!(asked["request"]["state"], "waiting", "{asked}");
    let listed: Value = api(&s, "GET", "/v1/clusters/big/capacity")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed[0]["state"], "waiting", "{listed}");
    assert_eq!(listed[0]["waiting"]["code"], "over_budget", "{listed}");
    let status = s.run(&["status", "big", "--json"]).json();
    assert_eq!(status["state"], "absent");
    assert_eq!(status["capacity"]["waiting"]["code"], "over_budget");
    // Retried quietly: the refusal is audited once, however often the
    // keeper looks again.
    keeper_rounds(&s, 3.0);
    let refusals: Value = api(&s, "GET", "/v1/audit?action=cluster.capacity&target=big")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(refusals.as_array().unwrap().len(), 1, "{refusals}");
    assert_eq!(
        s.run(&["status", "big", "--json"]).json()["state"],
        "absent"
    );

    // Money arrives: the keeper honours the request, once.
    s.run(&[
        "org",
        "account",
        "research",
        "--balance",
        "100000",
        "--reason",
        "a grant",
    ])
    .expect_code(0);
    watch_until(&s, "big", WAIT, |st| {
        st["state"] == "running" && st["nodes"] == 2 && st["last_operation"]["state"] == "succeeded"
    });
    let listed: Value = api(&s, "GET", "/v1/clusters/big/capacity")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed[0]["state"], "active", "{listed}");
    let ops: Value = api(&s, "GET", "/v1/clusters/big/operations")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(ops["operations"].as_array().unwrap().len(), 1, "{ops}");
    s.run(&["destroy", "big"]).expect_code(0);
}

#[test]
fn costs_are_current_and_settle_to_what_was_shown() {
    let s = server();
    // Opening an account reconciles it at once: this month's allowance is
    // credited, and the CLI says so where it happens.
    let opened = s.run(&[
        "org",
        "account",
        "default",
        "--balance",
        "1000",
        "--allowance",
        "500",
        "--max",
        "100000",
        "--reason",
        "opening",
    ]);
    opened.expect_code(0);
    assert!(
        opened.stdout().contains("allowance, $500.00, was credited"),
        "{}",
        opened.stdout()
    );
    assert!(opened.stdout().contains("$1500.00"), "{}", opened.stdout());
    s.run(&[
        "cluster",
        "create",
        "c1",
        "--blueprint",
        "priced",
        "--nodes",
        "2",
    ])
    .expect_code(0);
    let deployed = s.run(&["deploy", "c1", "--json"]);
    deployed.expect_code(0);
    let t1 = finished_at(&s, &deployed);
    let costs = || {
        s.run(&[
            "org",
            "costs",
            "default",
            "--granularity",
            "hourly",
            "--from",
            &(t1 - chrono::TimeDelta::hours(1)).to_rfc3339(),
            "--json",
        ])
        .json()
    };
    // Running, its cost so far is shown — provisional — with no
    // reconciliation in between.
    let running = costs();
    assert!(
        decimal(&running["provisional"]) > Decimal::ZERO,
        "{running}"
    );
    assert_eq!(running["total"], running["provisional"], "{running}");
    assert!(running["settled_at"].is_string(), "{running}");
    let account = s.run(&["org", "account", "default", "--json"]).json();
    assert!(
        decimal(&account["provisional_cost"]) > Decimal::ZERO,
        "{account}"
    );
    let destroyed = s.run(&["destroy", "c1", "--json"]);
    destroyed.expect_code(0);
    let t2 = finished_at(&s, &destroyed);
    // 2 nodes from t1 to t2 at 36 + 2 × 360 $/h, to the millisecond.
    let shown = costs();
    assert_eq!(decimal(&shown["provisional"]), cost(756, t1, t2), "{shown}");
    assert_eq!(shown["total"], shown["provisional"]);
    // Settled, the same figure — now charged.
    let done = s.run(&["org", "reconcile", "default", "--json"]);
    done.expect_code(0);
    let settled = costs();
    assert_eq!(decimal(&settled["provisional"]), Decimal::ZERO, "{settled}");
    assert_eq!(
        cents(decimal(&settled["total"])),
        cents(decimal(&shown["total"]))
    );
    assert!(time(&settled["settled_at"]) >= t2, "{settled}");
    assert_eq!(
        decimal(&done.json()["debited"]),
        cents(decimal(&shown["total"]))
    );
}

#[test]
fn a_redundant_capacity_request_is_answered_so() {
    let s = server();
    s.run(&["cluster", "create", "r1", "--blueprint", "local"])
        .expect_code(0);
    let until = (Utc::now() + chrono::TimeDelta::minutes(30)).to_rfc3339();
    let first = s.run(&[
        "capacity", "request", "r1", "--nodes", "1", "--until", &until, "--json",
    ]);
    first.expect_code(0);
    let id = first.json()["request"]["id"].as_str().unwrap().to_owned();
    // The same request again adds nothing.
    let again = s.run(&[
        "capacity", "request", "r1", "--nodes", "1", "--until", &until, "--json",
    ]);
    again.expect_code(0);
    assert_eq!(again.json()["result"], "redundant", "{}", again.stdout());
    // Bad input names the field.
    let bad = s.run(&[
        "capacity", "request", "r1", "--nodes", "1", "--ttl", "1m", "--json",
    ]);
    bad.expect_code(2);
    assert_eq!(bad.error_json()["error"]["field"], "ttl");
    let listed = s.run(&["capacity", "list", "r1", "--json"]).json();
    assert_eq!(listed["requests"].as_array().unwrap().len(), 1);
    // The request deployed the cluster at its minimum; withdrawn, the
    // cluster stays at its minimum (the organization keeps idle clusters).
    watch_until(&s, "r1", WAIT, |st| {
        st["state"] == "running" && st["last_operation"]["state"] == "succeeded"
    });
    let withdrawn = s.run(&["capacity", "withdraw", "r1", &id, "--json"]);
    withdrawn.expect_code(0);
    let withdrawn = withdrawn.json();
    assert_eq!(withdrawn["requests"], json!([]));
    assert_eq!(withdrawn["result"], "unchanged", "{withdrawn}");
    s.run(&["destroy", "r1"]).expect_code(0);
}

#[test]
fn cost_explorer_figures_replace_the_models_and_are_charged() {
    let moto = Moto::start();
    let today = Utc::now().format("%Y-%m-%d").to_string();
    let tomorrow = (Utc::now() + chrono::TimeDelta::days(1))
        .format("%Y-%m-%d")
        .to_string();
    // One day's unblended cost of cluster c1 of organization default.
    moto.answer_cost_and_usage(json!([{
        "ResultsByTime": [{
            "TimePeriod": {"Start": today, "End": tomorrow},
            "Total": {},
            "Groups": [{
                "Keys": ["slipway:org$default", "slipway:cluster$c1"],
                "Metrics": {"UnblendedCost": {"Amount": "48.00", "Unit": "USD"}}
            }],
            "Estimated": true
        }],
        "DimensionValueAttributes": []
    }]));
    let s = server_with(Options {
        env: env(&[
            ("SLIPWAY_ACCOUNTS__COST_EXPLORER__ENABLED", "true"),
            (
                "SLIPWAY_ACCOUNTS__COST_EXPLORER__ENDPOINT_URL",
                &moto.endpoint,
            ),
            ("SLIPWAY_ACCOUNTS__COST_EXPLORER__LOOKBACK", "1d"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
        ]),
        ..Options::default()
    });
    s.run(&[
        "org",
        "account",
        "default",
        "--balance",
        "100",
        "--max",
        "100",
        "--reason",
        "aws",
    ])
    .expect_code(0);
    // The keeper fetches Cost Explorer's figures at start-up; they are
    // recorded when its answer arrives.
    let day = chrono::NaiveDate::parse_from_str(&today, "%Y-%m-%d").unwrap();
    let from = day.and_hms_opt(0, 0, 0).unwrap().and_utc();
    let history = || {
        s.run(&[
            "org",
            "costs",
            "default",
            "--granularity",
            "daily",
            "--from",
            &from.to_rfc3339(),
            "--to",
            &(from + chrono::TimeDelta::days(1)).to_rfc3339(),
            "--json",
        ])
        .json()
    };
    wait_for(WAIT, "Cost Explorer's figures", || {
        decimal(&history()["total"]) == Decimal::from(48)
    });
    let history = history();
    assert_eq!(
        decimal(&history["buckets"][0]["by_source"]["cost_explorer"]),
        Decimal::from(48),
        "{history}"
    );
    // However many reconciliations ran since (opening the account made
    // one), the day's figure is charged once.
    for _ in 0..2 {
        let done = s.run(&["org", "reconcile", "default", "--json"]);
        done.expect_code(0);
        let done = done.json();
        assert_eq!(
            decimal(&done["account"]["balance"]),
            Decimal::from(52),
            "{done}"
        );
        assert_eq!(decimal(&done["account"]["fytd_cost"]), Decimal::from(48));
    }
}
