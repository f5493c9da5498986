//! The cluster gateway in front of a deployed `local` cluster — real
//! Terraform, real node and gateway processes, tokens from a real server:
//! who is admitted, rate limits, identity headers, a node dying under
//! traffic, key rotation, revocation.

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use base64::Engine as _;
use reqwest::blocking::{Client, Response};
use serde_json::Value;
use slipway_testkit::github::FakeGitHub;

fn deploy(s: &Server, name: &str, extra: &[&str]) -> String {
    let mut create = vec!["cluster", "create", name, "--blueprint", "local"];
    create.extend_from_slice(extra);
    s.run(&create).expect_code(0);
    let deployed = s.run(&["deploy", name, "--json"]);
    deployed.expect_code(0);
    deployed.json()["cluster"]["endpoint"]
        .as_str()
        .expect("an endpoint")
        .to_owned()
}

fn access(s: &Server, name: &str) -> String {
    let out = s.run(&["access", name]);
    out.expect_code(0);
    out.stdout().trim().to_owned()
}

fn call(endpoint: &str, token: Option<&str>) -> Response {
    let mut request = Client::new().get(format!("{endpoint}/api/echo"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().expect("the gateway answers")
}

/// Asserts a refusal: its status, a JSON error, and for 401 a
/// `WWW-Authenticate` challenge.
fn assert_refused(response: Response, status: u16, what: &str) -> Value {
    assert_eq!(response.status().as_u16(), status, "{what}");
    if status == 401 {
        assert!(
            response.headers().get("www-authenticate").is_some(),
            "{what}: a 401 carries WWW-Authenticate"
        );
    }
    let body: Value = response.json().expect("a JSON error");
    assert!(body["error"]["code"].is_string(), "{what}: {body}");
    body
}

/// A part of a token, decoded (not verified): 0 the header, 1 the claims.
fn token_part(token: &str, part: usize) -> Value {
    let encoded = token.split('.').nth(part).unwrap();
    serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(encoded)
            .unwrap(),
    )
    .unwrap()
}

fn kid(token: &str) -> String {
    token_part(token, 0)["kid"].as_str().unwrap().to_owned()
}

fn node_pid(s: &Server, cluster: &str, index: u32) -> i32 {
    let state: Value = serde_json::from_str(
        &std::fs::read_to_string(
            s.data_dir()
                .join(format!("runtime/{cluster}/node-{index}.json")),
        )
        .unwrap(),
    )
    .unwrap();
    state["pid"].as_i64().unwrap() as i32
}

#[test]
fn a_private_cluster_admits_only_its_own_cluster_tokens() {
    let s = server();
    let endpoint = deploy(&s, "abc", &["--nodes", "3"]);
    // A prefix and an extension of the name: the audience is matched exactly.
    s.run(&["cluster", "create", "ab", "--blueprint", "local"])
        .expect_code(0);
    s.run(&["cluster", "create", "abcd", "--blueprint", "local"])
        .expect_code(0);
    let token = access(&s, "abc");

    assert_refused(call(&endpoint, None), 401, "no token");
    assert_refused(
        call(&endpoint, Some(&access(&s, "ab"))),
        401,
        "a token for ab",
    );
    assert_refused(
        call(&endpoint, Some(&access(&s, "abcd"))),
        401,
        "a token for abcd",
    );
    assert_refused(
        call(&endpoint, Some("not.a.token")),
        401,
        "a malformed token",
    );
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    assert_refused(call(&endpoint, Some(&tampered)), 401, "a bad signature");

    // A valid token, as a bearer or a cookie: the node sees who calls.
    let echo: Value = call(&endpoint, Some(&token)).json().unwrap();
    assert_eq!(echo["cluster"], "abc", "{echo}");
    assert_eq!(echo["headers"]["x-slipway-level"], "admin", "{echo}");
    let user = echo["headers"]["x-slipway-user"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_cookie = Client::new()
        .get(format!("{endpoint}/api/echo"))
        .header("Cookie", format!("token={token}"))
        .send()
        .unwrap();
    assert_eq!(by_cookie.status(), 200);

    // Identity headers a client sends never reach a node.
    let spoofed: Value = Client::new()
        .get(format!("{endpoint}/api/echo"))
        .bearer_auth(&token)
        .header("X-Slipway-User", "mallory")
        .header("X-Slipway-Level", "admin")
        .header("X-Slipway-Orgs", "evil-corp")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        spoofed["headers"]["x-slipway-user"],
        user.as_str(),
        "{spoofed}"
    );
    assert!(
        !spoofed["headers"]["x-slipway-orgs"]
            .as_str()
            .unwrap_or_default()
            .contains("evil-corp"),
        "{spoofed}"
    );
    let anonymous_spoof = Client::new()
        .get(format!("{endpoint}/api/echo"))
        .header("X-Slipway-User", "mallory")
        .send()
        .unwrap();
    assert_refused(anonymous_spoof, 401, "headers are no credential");

    // A key rotation at the issuer: tokens signed with the new key are
    // admitted without restarting the gateway, and old ones still are.
    s.run(&["admin", "rotate-keys"]).expect_code(0);
    let rotated = access(&s, "abc");
    assert_ne!(kid(&rotated), kid(&token), "signed with the new key");
    assert_eq!(call(&endpoint, Some(&rotated)).status(), 200);
    assert_eq!(call(&endpoint, Some(&token)).status(), 200);

    // A node killed mid-traffic: requests keep succeeding on the others.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (endpoint, token, stop) = (endpoint.clone(), token.clone(), stop.clone());
        std::thread::spawn(move || {
            let client = Client::new();
            let mut statuses = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let response = client
                    .get(format!("{endpoint}/api/echo"))
                    .bearer_auth(&token)
                    .send()
                    .unwrap();
                let node = response
                    .json::<Value>()
                    .ok()
                    .and_then(|b| b["node"].as_u64());
                statuses.push(node);
            }
            statuses
        })
    };
    let victim = node_pid(&s, "abc", 1);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(victim),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // 200 more requests after the kill, beside the background traffic.
    for _ in 0..200 {
        let answer: Value = call(&endpoint, Some(&token)).json().unwrap();
        assert!(answer["node"].is_u64(), "answered by a node: {answer}");
    }
    stop.store(true, Ordering::Relaxed);
    let answers = traffic.join().unwrap();
    assert!(
        answers.iter().all(Option::is_some),
        "every request was answered by a node"
    );
    let served: std::collections::BTreeSet<u64> = answers.iter().flatten().copied().collect();
    assert!(served.contains(&0) && served.contains(&2), "{served:?}");

    s.run(&["destroy", "abc"]).expect_code(0);
    let left = cluster_processes(&s, "abc");
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

#[test]
fn a_public_cluster_rate_limits_anonymous_callers_and_refuses_bad_tokens() {
    let s = server();
    let endpoint = deploy(&s, "pub", &["--public"]);

    // Anonymous: admitted until the burst is spent, then 429 with Retry-After.
    let mut admitted = 0;
    let limited = loop {
        let response = call(&endpoint, None);
        match response.status().as_u16() {
            200 => {
                let echo: Value = response.json().unwrap();
                assert_eq!(echo["headers"]["x-slipway-level"], "anonymous", "{echo}");
                admitted += 1;
                assert!(admitted <= 1000, "anonymous callers are never limited");
            }
            429 => break response,
            other => panic!("unexpected {other}"),
        }
    };
    assert!(admitted >= 1, "the first anonymous requests are admitted");
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry_after >= 1);
    assert_refused(limited, 429, "over the anonymous limit");

    // A token that is present but invalid is refused, not downgraded.
    assert_refused(
        call(&endpoint, Some("not.a.token")),
        401,
        "an invalid token",
    );
    s.run(&["cluster", "create", "pu", "--blueprint", "local"])
        .expect_code(0);
    assert_refused(
        call(&endpoint, Some(&access(&s, "pu"))),
        401,
        "a token for another cluster",
    );

    // Administrators are not limited, even now.
    let token = access(&s, "pub");
    for _ in 0..100 {
        assert_eq!(call(&endpoint, Some(&token)).status(), 200);
    }
    s.run(&["destroy", "pub"]).expect_code(0);
}

/// Probe finding 6: a local cluster's nodes could be called directly with
/// forged identity headers, and members were shown their addresses.
#[test]
fn nodes_admit_only_their_gateway_and_members_see_no_node_address() {
    use std::os::unix::fs::PermissionsExt;
    let github = slipway_testkit::github::FakeGitHub::start();
    github.add_user("alice", 1, "gho_alice", &["read:org"]);
    github.set_org_membership("alice", "uw-research", "active", "member");
    let s = server_with_github(&github, &[("SLIPWAY_AUTH__MEMBERSHIP_RECHECK", "0s")]);
    s.run(&["org", "create", "research", "--github-org", "uw-research"])
        .expect_code(0);
    s.run(&[
        "cluster",
        "create",
        "lab",
        "--blueprint",
        "local",
        "--org",
        "research",
        "--nodes",
        "2",
    ])
    .expect_code(0);
    s.run(&["deploy", "lab", "--ttl", "1h"]).expect_code(0);
    let nodes = server_nodes(&s, "lab");
    assert_eq!(nodes.len(), 2, "{nodes:?}");

    // No node listens on the network: a direct request with forged
    // identity headers has nowhere to go. Each listens on a socket of its
    // own that only Slipway's user may open, in a private directory.
    let runtime = s.data_dir().join("runtime/lab");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&runtime), 0o700, "the runtime directory is private");
    for node in &nodes {
        let pid = node["pid"].as_u64().unwrap() as u32;
        assert_eq!(listening_tcp_ports(pid), Vec::<u16>::new(), "node {node}");
        let url = node["url"].as_str().unwrap();
        let socket = url.strip_prefix("unix:").expect("a Unix socket");
        assert!(socket.starts_with(runtime.to_str().unwrap()), "{url}");
        assert_eq!(mode(std::path::Path::new(socket)), 0o600, "{url}");
    }

    // The gateway still works, and what a node hears of the caller is the
    // gateway's word, not the client's.
    let alice = sign_in(&s, "gho_alice");
    let token = s
        .run_as(&["access", "lab"], Some(&alice))
        .expect_code(0)
        .stdout()
        .trim()
        .to_owned();
    let status = s.run_as(&["status", "lab", "--json"], Some(&alice));
    status.expect_code(0);
    let endpoint = status.json()["endpoint"].as_str().unwrap().to_owned();
    let echo: Value = Client::new()
        .get(format!("{endpoint}/api/echo"))
        .bearer_auth(&token)
        .header("X-Slipway-User", "mallory")
        .header("X-Slipway-Level", "admin")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(echo["headers"]["x-slipway-user"], "github:1", "{echo}");
    assert_eq!(echo["headers"]["x-slipway-level"], "org_member", "{echo}");
    let (code, health) = get(&format!("{endpoint}/health"));
    assert_eq!(code, 401, "{health}");

    // A member's status shows the gateway, and no node's address.
    let shown = status.stdout();
    for node in &nodes {
        let url = node["url"].as_str().unwrap();
        assert!(!shown.contains(url), "{url} shown to a member: {shown}");
    }
    assert!(!shown.contains("node_urls"), "{shown}");
    let outputs = status.json()["outputs"].clone();
    assert_eq!(
        outputs.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["endpoint"],
        "{outputs}"
    );
    s.run(&["destroy", "lab"]).expect_code(0);
}

#[test]
fn an_expired_cluster_token_is_refused() {
    let s = server_with(Options {
        env: vec![("SLIPWAY_AUTH__CLUSTER_TOKEN_TTL".into(), "1s".into())],
        ..Options::default()
    });
    let endpoint = deploy(&s, "short", &[]);
    let token = access(&s, "short");
    assert_eq!(call(&endpoint, Some(&token)).status(), 200);
    // Refused once past `exp` and the 30 s leeway, cached or not.
    wait_for(Duration::from_secs(90), "the token to expire", || {
        call(&endpoint, Some(&token)).status() == 401
    });
    let refused = assert_refused(call(&endpoint, Some(&token)), 401, "an expired token");
    // Its own code, so that a client knows a new token will do.
    assert_eq!(refused["error"]["code"], "token_expired", "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{refused}"
    );
    s.run(&["destroy", "short"]).expect_code(0);
}

/// `slipway gateway <args>` with the given environment only (but `PATH`),
/// as Terraform's provisioner runs it; its stdout (for `start`, the ready
/// line).
fn gateway(args: &[&str], env: &[(&str, String)]) -> Value {
    let output = Command::new(slipway())
        .arg("gateway")
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("slipway gateway");
    assert!(
        output.status.success(),
        "slipway gateway {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
}

/// Calls until the gateway stops admitting `token`; returns the refusal and
/// how long it took.
fn until_refused(endpoint: &str, token: &str) -> (Response, Duration) {
    let started = Instant::now();
    loop {
        let response = call(endpoint, Some(token));
        if response.status() != 200 {
            return (response, started.elapsed());
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the gateway still admits the token"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn assert_revoked(response: Response, what: &str) {
    let body = assert_refused(response, 401, what);
    assert_eq!(body["error"]["code"], "token_revoked", "{what}: {body}");
}

#[test]
fn a_revoked_cluster_token_is_refused_within_seconds_and_after_a_gateway_restart() {
    let s = server();
    let endpoint = deploy(&s, "rev", &[]);
    let token = access(&s, "rev");
    let other = access(&s, "rev");
    // Admitted, and from then on cached by the gateway.
    for _ in 0..3 {
        assert_eq!(call(&endpoint, Some(&token)).status(), 200);
    }
    let claims = token_part(&token, 1);
    let jti = claims["jti"].as_str().expect("a jti").to_owned();
    assert_ne!(token_part(&other, 1)["jti"], jti.as_str());

    // Revoked at the API: the gateway refuses it within its revocation
    // refresh (2 s) plus a fetch.
    let revoked = api(&s, "POST", "/v1/admin/revoke")
        .json(&serde_json::json!({ "jti": jti }))
        .send()
        .unwrap();
    assert_eq!(revoked.status(), 204);
    let (refused, delay) = until_refused(&endpoint, &token);
    println!("the revocation reached the gateway in {delay:?}");
    assert_revoked(refused, "a revoked token");
    assert!(delay < Duration::from_secs(10), "it took {delay:?}");
    assert_eq!(call(&endpoint, Some(&other)).status(), 200);

    // The gateway restarted as Terraform starts it: still refused.
    let runtime = s.data_dir().join("runtime/rev");
    let state_file = runtime.join("gateway.json");
    let issuer = claims["iss"].as_str().unwrap().to_owned();
    let env = |revocations_url: String| {
        vec![
            ("SLIPWAY_GATEWAY_CLUSTER", "rev".to_owned()),
            ("SLIPWAY_GATEWAY_PUBLIC", "false".to_owned()),
            ("SLIPWAY_GATEWAY_ISSUER", issuer.clone()),
            (
                "SLIPWAY_GATEWAY_JWKS_URL",
                format!("{issuer}/.well-known/jwks.json"),
            ),
            ("SLIPWAY_GATEWAY_REVOCATIONS_URL", revocations_url),
            ("SLIPWAY_GATEWAY_NODE_DIR", runtime.display().to_string()),
            (
                "SLIPWAY_GATEWAY_STATE_FILE",
                state_file.display().to_string(),
            ),
        ]
    };
    let restart = |env: &[(&str, String)]| -> String {
        gateway(&["stop"], env);
        assert!(!state_file.exists());
        let ready = gateway(&["start"], env);
        ready["url"].as_str().expect("a ready line").to_owned()
    };
    let endpoint = restart(&env(format!("{issuer}/.well-known/revocations")));
    assert_revoked(call(&endpoint, Some(&token)), "after a restart");
    assert_eq!(call(&endpoint, Some(&other)).status(), 200);

    // Restarted where the revocation list cannot be fetched: the list it
    // kept beside its state file still refuses the token, from the first
    // request on.
    assert!(runtime.join("gateway.json.revocations").exists());
    let endpoint = restart(&env("http://127.0.0.1:9/.well-known/revocations".into()));
    assert_revoked(
        call(&endpoint, Some(&token)),
        "after a restart, the list unreachable",
    );
    assert_eq!(call(&endpoint, Some(&other)).status(), 200);

    s.run(&["destroy", "rev"]).expect_code(0);
    let left = cluster_processes(&s, "rev");
    assert!(left.is_empty(), "processes left behind: {left:?}");
}

/// The `jti` of a token (its claims decoded, not verified).
fn jti(token: &str) -> String {
    token_part(token, 1)["jti"]
        .as_str()
        .expect("a jti")
        .to_owned()
}

#[test]
fn a_removed_member_loses_cluster_access_at_the_gateway_and_one_token_can_be_revoked_by_its_jti() {
    let github = FakeGitHub::start();
    for (login, id) in [("alice", 1), ("bob", 2), ("carol", 3)] {
        github.add_user(login, id, &format!("gho_{login}"), &["read:org"]);
    }
    // Carol belongs through GitHub; alice and bob by memberships approved in
    // Slipway.
    github.set_org_membership("carol", "uw-research", "active", "member");
    let s = server_with_github(&github, &[("SLIPWAY_AUTH__MEMBERSHIP_RECHECK", "0s")]);
    s.run(&["org", "create", "research", "--github-org", "uw-research"])
        .expect_code(0);
    let alice = sign_in(&s, "gho_alice");
    let bob = sign_in(&s, "gho_bob");
    let carol = sign_in(&s, "gho_carol");
    for (login, token) in [("alice", &alice), ("bob", &bob)] {
        s.run_as(&["org", "request", "research"], Some(token))
            .expect_code(0);
        s.run(&["org", "approve", "research", login]).expect_code(0);
    }
    let endpoint = deploy(&s, "lab", &["--org", "research"]);
    let access_as = |user: &str| {
        let out = s.run_as(&["access", "lab"], Some(user));
        out.expect_code(0);
        out.stdout().trim().to_owned()
    };
    let (a, b, c) = (access_as(&alice), access_as(&bob), access_as(&carol));
    for token in [&a, &b, &c] {
        assert_eq!(call(&endpoint, Some(token)).status(), 200);
    }

    // Each token issued is in the audit log with its id, audience and
    // expiry.
    let audit = s
        .run(&["audit", "--action", "cluster.access", "--json"])
        .json()["entries"]
        .clone();
    let issued = |token: &str| -> Value {
        audit
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["detail"]["jti"] == jti(token).as_str())
            .unwrap_or_else(|| panic!("no audit entry names {}: {audit}", jti(token)))
            .clone()
    };
    for token in [&a, &b, &c] {
        let entry = issued(token);
        assert_eq!(entry["target"], "lab", "{entry}");
        assert_eq!(entry["detail"]["audience"], "lab", "{entry}");
        assert_eq!(
            entry["detail"]["expires_at"]
                .as_str()
                .map(|at| chrono::DateTime::parse_from_rfc3339(at)
                    .unwrap()
                    .timestamp()),
            token_part(token, 1)["exp"].as_i64(),
            "{entry}"
        );
    }
    assert_eq!(issued(&a)["actor_name"], "alice");

    // An administrator removes alice: the gateway refuses her token within
    // its refresh period, and admits bob's and carol's.
    s.run(&["org", "remove", "research", "alice"])
        .expect_code(0);
    let (refused, delay) = until_refused(&endpoint, &a);
    println!("the removal reached the gateway in {delay:?}");
    assert_revoked(refused, "the removed member's token");
    assert_eq!(call(&endpoint, Some(&b)).status(), 200);
    assert_eq!(call(&endpoint, Some(&c)).status(), 200);
    // No longer a member: the private cluster is not even confirmed to her.
    s.run_as(&["access", "lab"], Some(&alice)).expect_code(2);

    // Carol's GitHub membership lapses; the next check with GitHub (her
    // next request) finds it, and her token goes too.
    github.remove_org_membership("carol", "uw-research");
    s.run_as(&["whoami"], Some(&carol)).expect_code(0);
    let (refused, _) = until_refused(&endpoint, &c);
    assert_revoked(
        refused,
        "the token of a member whose GitHub membership lapsed",
    );
    assert_eq!(call(&endpoint, Some(&b)).status(), 200);
    let lapsed = s
        .run(&["audit", "--action", "token.revoke_withdrawn", "--json"])
        .json()["entries"]
        .clone();
    assert_eq!(lapsed[0]["target"], "github:3", "{lapsed}");

    // One token, by the id the audit log recorded: bob's other token stays.
    let b2 = access_as(&bob);
    let first = issued(&b)["detail"]["jti"].as_str().unwrap().to_owned();
    s.run(&["admin", "revoke", &first]).expect_code(0);
    let (refused, _) = until_refused(&endpoint, &b);
    assert_revoked(refused, "a token revoked by its jti");
    assert_eq!(call(&endpoint, Some(&b2)).status(), 200);
    // Only an administrator may.
    s.run_as(&["admin", "revoke", &jti(&b2)], Some(&bob))
        .expect_code(3);
    assert_eq!(call(&endpoint, Some(&b2)).status(), 200);

    s.run(&["destroy", "lab"]).expect_code(0);
}
