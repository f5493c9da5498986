//! Organizations as accounts, through the binary (DESIGN.md §3.8): costs
//! accrued exactly from which node count ran when, reconciliation that
//! debits them once, a budget that refuses what it cannot pay for and shuts
//! an organization down when its money is gone, capacity requests that
//! drive a cluster's size, and AWS Cost Explorer's figures (from the
//! emulator) replacing the model's.

mod common;

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use common::*;
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
    assert!(
        message.contains(&Utc::now().format("%Y-%m-%d").to_string()),
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
    // Bob's expires: the organization destroys idle clusters.
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
            ("destroy", "capacity"),
            ("update", "capacity"),
            ("update", "capacity"),
            ("deploy", "capacity")
        ],
        "{gone}"
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
