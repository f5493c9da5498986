//! Identity and access through the binary, with a fake GitHub: signing in
//! (token, device flow, web flow with PKCE), the access matrix of docs/domain.md
//! §4, organization limits, API tokens, key rotation, revocation, the
//! audit log, rate limits, and GitHub outages.

use std::process::Stdio;

use crate::common::*;
use serde_json::{Value, json};
use slipway_testkit::github::{DeviceStep, Failure, FakeGitHub};

/// A server whose GitHub is `github`, with `root` an administrator and the
/// organizations `research` (GitHub org `uw-research`) and `other` (GitHub
/// org `other-lab`).
fn identity_server(github: &FakeGitHub, extra: &[(&str, &str)]) -> Server {
    let settings = [
        ("SLIPWAY_AUTH__GITHUB__TIMEOUT", "2s"),
        ("SLIPWAY_AUTH__ADMINS__LOGINS", "[\"root\"]"),
        // Ask GitHub on every request, so membership changes show at once.
        ("SLIPWAY_AUTH__MEMBERSHIP_RECHECK", "0s"),
    ];
    let s = server_with_github(github, &[&settings[..], extra].concat());
    for (org, gh) in [("research", "uw-research"), ("other", "other-lab")] {
        s.run(&["org", "create", org, "--github-org", gh])
            .expect_code(0);
    }
    s
}

/// The people of the tests, known to the fake GitHub.
fn people(github: &FakeGitHub) {
    for (login, id) in [
        ("alice", 1),
        ("bob", 2),
        ("carol", 3),
        ("root", 4),
        ("dave", 5),
    ] {
        github.add_user(login, id, &format!("gho_{login}"), &["read:org"]);
    }
    github.set_org_membership("alice", "uw-research", "active", "member");
    github.set_org_membership("bob", "other-lab", "active", "member");
    github.set_org_membership("dave", "uw-research", "pending", "member");
}

fn python() -> std::path::PathBuf {
    slipway_testkit::python_tool("python")
}

#[test]
fn the_access_matrix_of_levels_and_clusters() {
    let github = FakeGitHub::start();
    people(&github);
    let s = identity_server(&github, &[]);
    for (name, public) in [("pub", true), ("priv", false)] {
        let mut args = vec![
            "cluster",
            "create",
            name,
            "--blueprint",
            "local",
            "--org",
            "research",
        ];
        if public {
            args.push("--public");
        }
        s.run(&args).expect_code(0);
        s.run(&["deploy", name, "--ttl", "1h"]).expect_code(0);
    }
    let alice = sign_in(&s, "gho_alice");
    let bob = sign_in(&s, "gho_bob");
    let carol = sign_in(&s, "gho_carol");
    let root = sign_in(&s, "gho_root");
    let dave = sign_in(&s, "gho_dave");

    // (who, token, access pub, access priv, manage pub, manage priv): 0
    // allowed, 3 refused, 2 "does not exist" — a private cluster is not
    // confirmed to whoever may not see it
    let matrix: [(&str, Option<&str>, [i32; 4]); 6] = [
        ("anonymous", None, [3, 3, 3, 3]),
        ("member", Some(&carol), [0, 2, 3, 2]),
        ("pending member", Some(&dave), [0, 2, 3, 2]),
        ("member of another organization", Some(&bob), [0, 2, 3, 2]),
        ("org member", Some(&alice), [0, 0, 3, 0]),
        ("admin", Some(&root), [0, 0, 0, 0]),
    ];
    for (who, token, [access_pub, access_priv, manage_pub, manage_priv]) in matrix {
        for (cluster, access, manage) in [
            ("pub", access_pub, manage_pub),
            ("priv", access_priv, manage_priv),
        ] {
            let check = |args: &[&str], want: i32| {
                let out = s.run_as(args, token);
                assert_eq!(
                    out.code(),
                    want,
                    "{who}: slipway {} exited {}; stderr: {}",
                    args.join(" "),
                    out.code(),
                    out.stderr()
                );
                if want == 3 && token.is_some() {
                    assert!(
                        out.stderr().contains("not allowed"),
                        "{who}: {}",
                        out.stderr()
                    );
                }
                if want == 2 {
                    assert!(
                        out.stderr()
                            .contains(&format!("cluster {cluster} does not exist")),
                        "{who}: {}",
                        out.stderr()
                    );
                }
            };
            check(&["access", cluster], access);
            check(&["deploy", cluster, "--ttl", "1h"], manage);
            check(&["schedule-destroy", cluster, "--in", "2h"], manage);
            check(&["destroy", cluster], manage);
            if manage == 0 {
                s.run(&["deploy", cluster, "--ttl", "1h"]).expect_code(0);
            }
        }
    }
    for name in ["pub", "priv"] {
        s.run(&["destroy", name]).expect_code(0);
    }
}

#[test]
fn organization_members_deploy_within_the_limits() {
    let github = FakeGitHub::start();
    people(&github);
    let s = identity_server(&github, &[]);
    s.run(&[
        "org",
        "limits",
        "research",
        "--max-nodes",
        "3",
        "--max-clusters",
        "2",
        "--max-lifetime",
        "12h",
        "--min-lifetime",
        "1h",
    ])
    .expect_code(0);
    let alice = sign_in(&s, "gho_alice");
    for name in ["a1", "a2", "a3"] {
        s.run_as(
            &[
                "cluster",
                "create",
                name,
                "--blueprint",
                "local",
                "--org",
                "research",
            ],
            Some(&alice),
        )
        .expect_code(0);
    }
    let refused = |args: &[&str], limit: &str| {
        let mut args = args.to_vec();
        args.push("--json");
        let out = s.run_as(&args, Some(&alice));
        out.expect_code(4);
        let error = out.error_json();
        assert_eq!(error["error"]["code"], "limit_exceeded", "{error}");
        assert_eq!(error["error"]["field"], limit, "{error}");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(limit),
            "{error}"
        );
    };
    refused(&["deploy", "a1"], "max_lifetime");
    refused(&["deploy", "a1", "--ttl", "13h"], "max_lifetime");
    refused(&["deploy", "a1", "--ttl", "59m"], "min_lifetime");
    refused(
        &["deploy", "a1", "--ttl", "1h", "--nodes", "4"],
        "max_nodes",
    );
    // A lifetime of exactly the minimum (or the maximum) is within the limits.
    s.run_as(&["deploy", "a1", "--ttl", "1h"], Some(&alice))
        .expect_code(0);
    s.run_as(&["extend", "a1", "--in", "1h"], Some(&alice))
        .expect_code(0);
    s.run_as(&["extend", "a1", "--in", "12h"], Some(&alice))
        .expect_code(0);
    s.run_as(&["deploy", "a2", "--ttl", "1h", "--no-wait"], Some(&alice))
        .expect_code(0);
    refused(&["deploy", "a3", "--ttl", "1h"], "max_clusters");
    refused(&["extend", "a1", "--in", "13h"], "max_lifetime");
    let out = s.run_as(&["deploy", "a1", "--nodes", "2"], Some(&alice));
    out.expect_code(0);
    // Administrators have no limits but the ceiling.
    s.run(&["deploy", "a3", "--nodes", "4"]).expect_code(0);
    for name in ["a1", "a2", "a3"] {
        s.run(&["destroy", name]).expect_code(0);
    }
}

#[test]
fn sign_in_with_a_token_the_device_flow_and_the_web_flow() {
    let github = FakeGitHub::start();
    people(&github);
    let s = identity_server(&github, &[]);

    // CI: a GitHub token; the session is saved for the server, mode 600.
    let login = s.run_as(&["login", "--github-token", "gho_alice"], None);
    login.expect_code(0);
    assert!(login.stdout().contains("alice"), "{}", login.stdout());
    let saved = s.data_dir().join("client-config/slipway/credentials.json");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let me = s.run_as(&["whoami", "--json"], None);
    me.expect_code(0);
    let me = me.json();
    assert_eq!(me["login"], "alice");
    assert_eq!(me["level"], "member");
    assert_eq!(me["organizations"], json!(["research"]));
    // A file other users may read is refused, naming the fix, not used.
    std::fs::set_permissions(&saved, std::fs::Permissions::from_mode(0o640)).unwrap();
    let open = s.run_as(&["whoami", "--json"], None);
    open.expect_code(1);
    let message = open.error_json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("mode 0640")
            && message.contains(&format!("chmod 600 {}", saved.display())),
        "{message}"
    );
    std::fs::set_permissions(&saved, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.run_as(&["logout"], None).expect_code(0);
    s.run_as(&["whoami"], None).expect_code(3);

    // A developer: the device flow, pending then slow_down then approved.
    github.set_device_interval(0);
    github.script_next_device_flow(vec![
        DeviceStep::Pending,
        DeviceStep::SlowDown,
        DeviceStep::approve("gho_carol"),
    ]);
    let out = s.run_as(&["login"], None);
    out.expect_code(0);
    assert!(out.stderr().contains("enter the code"), "{}", out.stderr());
    let polls = github.requests_to("/login/oauth/access_token");
    assert_eq!(polls.len(), 3, "one poll per step");
    let gap = polls[2].at - polls[1].at;
    assert!(
        gap >= std::time::Duration::from_secs(5),
        "slow_down adds 5 s: {gap:?}"
    );
    assert_eq!(
        s.run_as(&["whoami", "--json"], None).json()["login"],
        "carol"
    );

    for (step, code) in [
        (DeviceStep::Denied, "access_denied"),
        (DeviceStep::Disabled, "device_flow_disabled"),
        (DeviceStep::Expired, "device_code_expired"),
    ] {
        github.script_next_device_flow(vec![step]);
        let out = s.run_as(&["login", "--json"], None);
        out.expect_code(3);
        assert_eq!(out.error_json()["error"]["code"], code);
    }

    // The web: authorization code with PKCE S256 and state.
    github.set_web_user("gho_bob");
    let http = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let start = http
        .get(format!("{}/v1/auth/web/login", s.url))
        .send()
        .unwrap();
    assert!(start.status().is_redirection());
    // The sign-in is bound to this browser by a short-lived cookie.
    let binding = start.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        binding.starts_with("slipway_sign_in=")
            && binding.contains("HttpOnly")
            && binding.contains("SameSite=Lax")
            && binding.contains("Max-Age=600"),
        "{binding}"
    );
    let binding = binding.split(';').next().unwrap().to_owned();
    let to_github = start.headers()["location"].to_str().unwrap().to_owned();
    assert!(to_github.starts_with(github.url()), "{to_github}");
    assert!(to_github.contains("code_challenge_method=S256") && to_github.contains("state="));
    let approve = http.get(&to_github).send().unwrap();
    let callback = approve.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        callback.starts_with(&format!("{}/v1/auth/web/callback", s.url)),
        "{callback}"
    );
    let done = http
        .get(&callback)
        .header("cookie", &binding)
        .send()
        .unwrap();
    assert_eq!(done.status(), 200);
    let cookie = done.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.starts_with("token="),
        "{cookie}"
    );
    let session: Value = done.json().unwrap();
    assert_eq!(session["login"], "bob");
    let me: Value = http
        .get(format!("{}/v1/whoami", s.url))
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(me["login"], "bob");
    // The state is single use.
    let again = http
        .get(&callback)
        .header("cookie", &binding)
        .send()
        .unwrap();
    assert_eq!(again.status(), 400);
    let forged = http
        .get(format!(
            "{}/v1/auth/web/callback?code=x&state=forged",
            s.url
        ))
        .send()
        .unwrap();
    assert_eq!(forged.status(), 400);
}

#[test]
fn github_outages_are_503_never_a_lower_level() {
    let github = FakeGitHub::start();
    people(&github);
    let s = identity_server(&github, &[]);
    s.run(&[
        "cluster",
        "create",
        "priv",
        "--blueprint",
        "local",
        "--org",
        "research",
    ])
    .expect_code(0);
    let alice = sign_in(&s, "gho_alice");
    s.run_as(&["access", "priv"], Some(&alice)).expect_code(0);

    let http = reqwest::blocking::Client::new();
    for failure in [
        Failure::Status(502),
        Failure::RateLimited {
            retry_after_secs: 7,
        },
        Failure::Timeout,
    ] {
        github.fail("/user", failure.clone());
        let response = http
            .post(format!("{}/v1/auth/github-token", s.url))
            .json(&json!({"token": "gho_carol"}))
            .send()
            .unwrap();
        assert_eq!(response.status(), 503, "{failure:?}");
        assert!(
            response.headers().contains_key("retry-after"),
            "{failure:?}"
        );
        // The membership re-check of a signed-in person fails the same way.
        let out = s.run_as(&["access", "priv", "--json"], Some(&alice));
        out.expect_code(1);
        assert_eq!(
            out.error_json()["error"]["code"],
            "unavailable",
            "{failure:?}"
        );
        github.clear_failures();
    }
    s.run_as(&["access", "priv"], Some(&alice)).expect_code(0);

    // Leaving the GitHub organization is noticed at the next check: the
    // private cluster is then one she cannot see.
    github.remove_org_membership("alice", "uw-research");
    s.run_as(&["access", "priv"], Some(&alice)).expect_code(2);
    // An approved membership in Slipway grants it again.
    s.run_as(&["org", "request", "research"], Some(&alice))
        .expect_code(0);
    s.run_as(&["access", "priv"], Some(&alice)).expect_code(2);
    s.run(&["org", "approve", "research", "alice"])
        .expect_code(0);
    s.run_as(&["access", "priv"], Some(&alice)).expect_code(0);
    let members = s.run(&["org", "members", "research", "--json"]).json()["members"].clone();
    assert_eq!(members[0]["login"], "alice");
    assert_eq!(members[0]["state"], "approved");
    // Only owners and administrators approve.
    s.run_as(
        &["org", "request", "research"],
        Some(&sign_in(&s, "gho_carol")),
    )
    .expect_code(0);
    s.run_as(&["org", "approve", "research", "carol"], Some(&alice))
        .expect_code(3);
    s.run(&["org", "approve", "research", "alice", "--owner"])
        .expect_code(0);
    s.run_as(&["org", "approve", "research", "carol"], Some(&alice))
        .expect_code(0);
}

#[test]
fn tokens_are_verified_revoked_rotated_and_read_by_a_third_party_library() {
    let github = FakeGitHub::start();
    people(&github);
    let s = identity_server(&github, &[]);
    s.run(&[
        "cluster",
        "create",
        "priv",
        "--blueprint",
        "local",
        "--org",
        "research",
    ])
    .expect_code(0);
    let alice = sign_in(&s, "gho_alice");

    let cluster_token = |token: &str| {
        let out = s.run_as(&["access", "priv", "--json"], Some(token));
        out.expect_code(0);
        out.json()["token"].as_str().unwrap().to_owned()
    };
    let before = cluster_token(&alice);

    // PyJWT, with its JWKS client, verifies the cluster token.
    let check = r#"
import json, sys, jwt
token, base, audience = sys.argv[1:4]
client = jwt.PyJWKClient(base + "/.well-known/jwks.json")
key = client.get_signing_key_from_jwt(token)
claims = jwt.decode(token, key.key, algorithms=["EdDSA"], audience=audience, issuer=base)
for wrong in (audience[:-1], audience + "x"):
    try:
        jwt.decode(token, key.key, algorithms=["EdDSA"], audience=wrong, issuer=base)
        raise SystemExit("accepted for " + wrong)
    except jwt.InvalidAudienceError:
        pass
print(json.dumps({"claims": claims, "kid": jwt.get_unverified_header(token)["kid"]}))
"#;
    let pyjwt = |token: &str| -> Value {
        let out = std::process::Command::new(python())
            .args(["-c", check, token, &s.url, "priv"])
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "PyJWT refused: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let verified = pyjwt(&before);
    assert_eq!(verified["claims"]["sub"], "github:1");
    assert_eq!(verified["claims"]["name"], "alice");
    assert_eq!(verified["claims"]["aud"], "priv");
    assert_eq!(verified["claims"]["level"], "org_member");
    assert_eq!(verified["claims"]["orgs"], json!(["research"]));
    for claim in ["exp", "nbf", "iat", "jti", "iss"] {
        assert!(!verified["claims"][claim].is_null(), "{claim}");
    }

    // Rotation: new tokens use the new key; tokens signed before stay valid.
    let rotated = s.run(&["admin", "rotate-keys", "--json"]);
    rotated.expect_code(0);
    let rotated = rotated.json();
    let new_kid = rotated["signing_kid"].as_str().unwrap();
    assert_ne!(new_kid, verified["kid"]);
    assert_eq!(rotated["published"].as_array().unwrap().len(), 2);
    assert_eq!(pyjwt(&before)["claims"]["sub"], "github:1");
    assert_eq!(pyjwt(&cluster_token(&alice))["kid"], new_kid);
    s.run_as(&["whoami"], Some(&alice)).expect_code(0);

    // The API refuses what is not a user token of its own.
    let refused = |token: &str| s.run_as(&["whoami"], Some(token)).code();
    assert_eq!(refused(&before), 3, "a cluster token is not for the API");
    let mut parts: Vec<String> = alice.split('.').map(str::to_owned).collect();
    let none_header = base64_url(br#"{"alg":"none","typ":"JWT"}"#);
    assert_eq!(
        refused(&format!("{none_header}.{}.", parts[1])),
        3,
        "alg none"
    );
    let payload = String::from_utf8(base64_decode(&parts[1]))
        .unwrap()
        .replace("\"member\"", "\"admin\"");
    parts[1] = base64_url(payload.as_bytes());
    assert_eq!(refused(&parts.join(".")), 3, "tampered payload");

    // Logout revokes the token's jti.
    s.run_as(&["logout"], Some(&alice)).expect_code(0);
    let out = s.run_as(&["whoami", "--json"], Some(&alice));
    out.expect_code(3);
    assert!(
        out.error_json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("revoked")
    );
}

fn base64_url(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap()
}

#[test]
fn api_tokens_are_scoped_hashed_and_revocable_and_the_audit_log_records() {
    let github = FakeGitHub::start();
    people(&github);
    let s = identity_server(&github, &[]);
    let alice = sign_in(&s, "gho_alice");
    let created = s.run_as(
        &[
            "token",
            "create",
            "--name",
            "ci",
            "--scope",
            "clusters:read,clusters:write",
            "--expires",
            "7d",
            "--json",
        ],
        Some(&alice),
    );
    created.expect_code(0);
    let created = created.json();
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert_eq!(created["token"]["owner"], "github:1");

    // The token acts as alice, within its scopes.
    s.run_as(
        &[
            "cluster",
            "create",
            "ci-1",
            "--blueprint",
            "local",
            "--org",
            "research",
        ],
        Some(&secret),
    )
    .expect_code(0);
    s.run_as(&["access", "ci-1"], Some(&secret)).expect_code(3);
    s.run_as(
        &["token", "create", "--name", "more", "--scope", "admin"],
        Some(&alice),
    )
    .expect_code(3);

    // Only the hash is stored.
    let db = std::fs::read(s.data_dir().join("slipway.db")).unwrap();
    assert!(
        !db.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret is in the database"
    );

    let listed = s.run_as(&["token", "list", "--json"], Some(&alice)).json()["tokens"].clone();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let id = listed[0]["id"].as_str().unwrap();
    s.run_as(&["token", "revoke", id], Some(&alice))
        .expect_code(0);
    s.run_as(&["list"], Some(&secret)).expect_code(3);

    // The audit log: who, level, action, target, result.
    s.run_as(&["audit"], Some(&alice)).expect_code(3);
    let audit = s.run(&["audit", "--target", "ci-1", "--json"]).json()["entries"].clone();
    let entry = audit
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "cluster.create")
        .expect("the create is audited");
    assert_eq!(entry["actor"], "github:1");
    assert_eq!(entry["actor_name"], "alice");
    assert_eq!(entry["level"], "org_member");
    assert_eq!(entry["result"], "created");
    let logins = s.run(&["audit", "--action", "auth.login", "--json"]).json()["entries"].clone();
    assert!(
        logins
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "github:1" && e["actor_name"] == "alice")
    );
}

#[test]
fn sign_in_routes_are_limited_per_client_address() {
    let github = FakeGitHub::start();
    people(&github);
    let s = identity_server(
        &github,
        &[
            ("SLIPWAY_AUTH__RATE_LIMITS__LOGIN_PER_SECOND", "1"),
            ("SLIPWAY_AUTH__RATE_LIMITS__LOGIN_BURST", "3"),
            (
                "SLIPWAY_AUTH__RATE_LIMITS__TRUSTED_PROXIES",
                "[\"127.0.0.1\"]",
            ),
            ("SLIPWAY_AUTH__RATE_LIMITS__API_PER_SECOND", "1"),
            ("SLIPWAY_AUTH__RATE_LIMITS__API_BURST", "5"),
        ],
    );
    let http = reqwest::blocking::Client::new();
    let sign_in_from = |address: &str| {
        http.post(format!("{}/v1/auth/github-token", s.url))
            .header("x-forwarded-for", address)
            .json(&json!({"token": "gho_nobody"}))
            .send()
            .unwrap()
    };
    for _ in 0..3 {
        assert_eq!(sign_in_from("10.1.1.1").status(), 401);
    }
    let limited = sign_in_from("10.1.1.1");
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    // Another client (through the trusted proxy) has its own allowance.
    assert_eq!(sign_in_from("10.2.2.2").status(), 401);

    // The rest of the API: per user.
    let alice = sign_in(&s, "gho_alice");
    let statuses: Vec<u16> = (0..7)
        .map(|_| {
            http.get(format!("{}/v1/whoami", s.url))
                .bearer_auth(&alice)
                .send()
                .unwrap()
                .status()
                .as_u16()
        })
        .collect();
    assert!(statuses.starts_with(&[200; 5]), "{statuses:?}");
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    assert_eq!(
        http.get(format!("{}/v1/whoami", s.url))
            .bearer_auth(&s.token)
            .send()
            .unwrap()
            .status(),
        200
    );
}

/// `slipway_revocation_list_signatures_total` of a server.
fn signatures(s: &Server) -> u64 {
    let text = reqwest::blocking::get(format!("{}/metrics", s.url))
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("slipway_revocation_list_signatures_total "))
        .unwrap_or_else(|| panic!("no signature counter in:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

/// `GET /.well-known/revocations`, with `If-None-Match` when given: the
/// status, the ETag, and the list's claims (none for a 304).
fn revocation_list(
    http: &reqwest::blocking::Client,
    s: &Server,
    etag: Option<&str>,
) -> (u16, String, Value) {
    let mut request = http.get(format!("{}/.well-known/revocations", s.url));
    if let Some(etag) = etag {
        request = request.header("if-none-match", etag);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let tag = response.headers()["etag"].to_str().unwrap().to_owned();
    let claims = if status == 200 {
        let body: Value = response.json().unwrap();
        let payload = body["token"].as_str().unwrap().split('.').nth(1).unwrap();
        serde_json::from_slice(&base64_decode(payload)).unwrap()
    } else {
        Value::Null
    };
    (status, tag, claims)
}

#[test]
fn the_revocation_list_is_signed_once_per_change_and_does_not_grow_with_logouts() {
    let github = FakeGitHub::start();
    people(&github);
    let unlimited = "1000000";
    let s = identity_server(
        &github,
        &[
            ("SLIPWAY_AUTH__RATE_LIMITS__LOGIN_PER_SECOND", unlimited),
            ("SLIPWAY_AUTH__RATE_LIMITS__LOGIN_BURST", unlimited),
            ("SLIPWAY_AUTH__RATE_LIMITS__API_PER_SECOND", unlimited),
            ("SLIPWAY_AUTH__RATE_LIMITS__API_BURST", unlimited),
            // Sign-ins ask GitHub; the re-checks need not.
            ("SLIPWAY_AUTH__MEMBERSHIP_RECHECK", "5m"),
        ],
    );
    let http = reqwest::blocking::Client::new();
    let revoke = |jti: &str| {
        let response = api(&s, "POST", "/v1/admin/revoke")
            .json(&json!({ "jti": jti }))
            .send()
            .unwrap();
        assert_eq!(response.status(), 204);
    };
    revoke("an-admin-revocation");
    let (status, etag, list) = revocation_list(&http, &s, None);
    assert_eq!(status, 200);
    assert_eq!(list["revoked"].as_array().unwrap().len(), 1, "{list}");
    let signed = signatures(&s);
    assert!(signed >= 1);

    // Many unauthenticated requests, with and without the ETag: answered
    // from what was signed once.
    for _ in 0..200 {
        let (status, tag, _) = revocation_list(&http, &s, Some(&etag));
        assert_eq!((status, tag.as_str()), (304, etag.as_str()));
    }
    for _ in 0..50 {
        let (status, tag, again) = revocation_list(&http, &s, None);
        assert_eq!((status, &tag), (200, &etag));
        assert_eq!(again, list);
    }
    assert_eq!(signatures(&s), signed, "no request signed the list again");

    // A thousand sign-ins and logouts: each token is refused by the API,
    // and the published list stays as it was.
    let mut last = String::new();
    for _ in 0..1000 {
        let session: Value = http
            .post(format!("{}/v1/auth/github-token", s.url))
            .json(&json!({ "token": "gho_alice" }))
            .send()
            .unwrap()
            .json()
            .unwrap();
        last = session["token"].as_str().unwrap().to_owned();
        let out = http
            .post(format!("{}/v1/auth/logout", s.url))
            .bearer_auth(&last)
            .send()
            .unwrap();
        assert_eq!(out.status(), 204);
    }
    let me = http
        .get(format!("{}/v1/whoami", s.url))
        .bearer_auth(&last)
        .send()
        .unwrap();
    assert_eq!(me.status(), 401, "a logged-out token is refused by the API");
    let (status, tag, _) = revocation_list(&http, &s, Some(&etag));
    assert_eq!((status, tag.as_str()), (304, etag.as_str()), "unchanged");
    let (_, _, after) = revocation_list(&http, &s, None);
    assert_eq!(after["revoked"], list["revoked"], "the same size");
    assert_eq!(signatures(&s), signed);

    // A revocation gateways must know changes it, signed once more.
    revoke("a-cluster-token");
    let (status, changed, list) = revocation_list(&http, &s, Some(&etag));
    assert_eq!(status, 200);
    assert_ne!(changed, etag);
    assert_eq!(list["revoked"].as_array().unwrap().len(), 2, "{list}");
    assert_eq!(revocation_list(&http, &s, Some(&changed)).0, 304);
    assert_eq!(signatures(&s), signed + 1);
}

#[test]
fn a_revocation_at_one_replica_is_in_the_others_list_at_once() {
    use base64::Engine as _;
    let db =
        slipway_testkit::runtime().block_on(slipway_testkit::database::TestDatabase::postgres());
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let options = Options {
        database_url: Some(db.url.clone()),
        env: vec![("SLIPWAY_AUTH__SECRETS_KEY".into(), key)],
        token: None,
    };
    let a = server_with(options.clone());
    let b = server_with(Options {
        token: Some(a.token.clone()),
        ..options
    });
    let http = reqwest::blocking::Client::new();
    let (_, etag, _) = revocation_list(&http, &a, None);
    assert_eq!(revocation_list(&http, &a, Some(&etag)).0, 304);
    let signed = signatures(&a);

    let revoked = api(&b, "POST", "/v1/admin/revoke")
        .json(&json!({ "jti": "revoked-at-b" }))
        .send()
        .unwrap();
    assert_eq!(revoked.status(), 204);
    // Replica a heard of it (the database's notification): its cached list
    // is replaced at the next request, not after some expiry.
    wait_for(
        std::time::Duration::from_secs(20),
        "a's list to change",
        || revocation_list(&http, &a, Some(&etag)).0 == 200,
    );
    let (_, at_a, list) = revocation_list(&http, &a, None);
    assert_eq!(list["revoked"][0]["jti"], "revoked-at-b", "{list}");
    assert_eq!(signatures(&a), signed + 1);
    // Both replicas name the same content with the same ETag.
    let (_, at_b, _) = revocation_list(&http, &b, None);
    assert_eq!(at_a, at_b);

    // An API token revoked at b, just after a answered it (and remembered
    // its authentication): a hears of it and refuses the token.
    let created = b.run(&["token", "create", "--name", "ci", "--scope", "*", "--json"]);
    let created = created.expect_code(0).json();
    let secret = created["secret"].as_str().unwrap().to_owned();
    a.run_as(&["whoami"], Some(&secret)).expect_code(0);
    b.run(&["token", "revoke", created["token"]["id"].as_str().unwrap()])
        .expect_code(0);
    b.run_as(&["whoami"], Some(&secret)).expect_code(3);
    wait_for(
        std::time::Duration::from_secs(20),
        "a to refuse the revoked token",
        || a.run_as(&["whoami"], Some(&secret)).code() == 3,
    );
}
