//! The fake GitHub behaves like GitHub where Slipway can tell.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use base64::Engine as _;
use reqwest::blocking::{Client, Response};
use reqwest::{StatusCode, Url};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use slipway_testkit::github::{DEVICE_GRANT_TYPE, DeviceStep, Failure, FakeGitHub};

fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a client")
}

fn json(response: Response) -> Value {
    response.json().expect("a JSON body")
}

/// Starts a device flow and answers its device code.
fn start_device_flow(github: &FakeGitHub) -> Value {
    let response = client()
        .post(format!("{}/login/device/code", github.url()))
        .header("Accept", "application/json")
        .form(&[("client_id", github.client_id()), ("scope", "read:org")])
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    json(response)
}

fn poll(github: &FakeGitHub, device_code: &str) -> Value {
    let response = client()
        .post(format!("{}/login/oauth/access_token", github.url()))
        .header("Accept", "application/json")
        .form(&[
            ("client_id", github.client_id()),
            ("device_code", device_code),
            ("grant_type", DEVICE_GRANT_TYPE),
        ])
        .send()
        .unwrap();
    // GitHub answers OAuth errors with 200 too.
    assert_eq!(response.status(), StatusCode::OK);
    json(response)
}

#[test]
fn device_flow_follows_its_script() {
    let github = FakeGitHub::start();
    github.add_user(
        "octocat",
        583231,
        "gho_octocat",
        &["read:org", "user:email"],
    );
    github.set_device_interval(1);
    github.script_next_device_flow(vec![
        DeviceStep::Pending,
        DeviceStep::SlowDown,
        DeviceStep::approve("gho_octocat"),
    ]);

    let started = start_device_flow(&github);
    assert_eq!(started["expires_in"], 900);
    assert_eq!(started["interval"], 1);
    assert_eq!(
        started["verification_uri"],
        format!("{}/login/device", github.url())
    );
    let user_code = started["user_code"].as_str().unwrap();
    assert_eq!(user_code.len(), 9, "{user_code}");
    assert_eq!(&user_code[4..5], "-");
    assert!(
        user_code
            .chars()
            .all(|c| c == '-' || c.is_ascii_uppercase())
    );
    let device_code = started["device_code"].as_str().unwrap();

    let pending = poll(&github, device_code);
    assert_eq!(pending["error"], "authorization_pending");
    assert!(pending["error_description"].is_string());
    assert!(pending["error_uri"].is_string());

    let slow_down = poll(&github, device_code);
    assert_eq!(slow_down["error"], "slow_down");
    assert_eq!(slow_down["interval"], 6);

    let approved = poll(&github, device_code);
    assert_eq!(approved["access_token"], "gho_octocat");
    assert_eq!(approved["token_type"], "bearer");
    assert_eq!(approved["scope"], "read:org,user:email");
    assert!(approved.get("error").is_none());

    // The last step repeats.
    assert_eq!(poll(&github, device_code)["access_token"], "gho_octocat");

    // The script was for that flow only: the next one stays pending.
    let next = start_device_flow(&github);
    let next_code = next["device_code"].as_str().unwrap();
    assert_ne!(next_code, device_code);
    assert_eq!(poll(&github, next_code)["error"], "authorization_pending");
    assert_eq!(poll(&github, next_code)["error"], "authorization_pending");

    let polls = github.requests_to("/login/oauth/access_token");
    assert_eq!(polls.len(), 6);
    assert!(polls[0].body.contains("device_code="));
    assert!(polls.windows(2).all(|pair| pair[0].at <= pair[1].at));
}

#[test]
fn device_flow_ends_as_scripted() {
    let github = FakeGitHub::start();
    for (step, error) in [
        (DeviceStep::Disabled, "device_flow_disabled"),
        (DeviceStep::Denied, "access_denied"),
        (DeviceStep::Expired, "expired_token"),
        (DeviceStep::IncorrectDeviceCode, "incorrect_device_code"),
    ] {
        github.script_next_device_flow(vec![DeviceStep::Pending, step]);
        let started = start_device_flow(&github);
        assert_eq!(started["interval"], 5, "the default interval");
        let device_code = started["device_code"].as_str().unwrap();
        assert_eq!(poll(&github, device_code)["error"], "authorization_pending");
        assert_eq!(poll(&github, device_code)["error"], error);
        assert_eq!(poll(&github, device_code)["error"], error);
    }

    // An unknown device code.
    assert_eq!(poll(&github, "nonsense")["error"], "incorrect_device_code");

    // Another client.
    let response = client()
        .post(format!("{}/login/device/code", github.url()))
        .header("Accept", "application/json")
        .form(&[("client_id", "someone-else"), ("scope", "read:org")])
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(response)["error"], "incorrect_client_credentials");
}

#[test]
fn oauth_answers_are_form_encoded_unless_json_is_accepted() {
    let github = FakeGitHub::start();
    github.set_device_interval(0);
    // A JSON request body is accepted as well.
    let response = client()
        .post(format!("{}/login/device/code", github.url()))
        .json(&serde_json::json!({ "client_id": github.client_id(), "scope": "read:org" }))
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/x-www-form-urlencoded")
    );
    let fields: HashMap<String, String> =
        serde_urlencoded::from_str(&response.text().unwrap()).unwrap();
    assert_eq!(fields["interval"], "0");
    assert_eq!(fields["expires_in"], "900");

    let response = client()
        .post(format!("{}/login/oauth/access_token", github.url()))
        .form(&[
            ("client_id", github.client_id()),
            ("device_code", fields["device_code"].as_str()),
            ("grant_type", DEVICE_GRANT_TYPE),
        ])
        .send()
        .unwrap();
    let fields: HashMap<String, String> =
        serde_urlencoded::from_str(&response.text().unwrap()).unwrap();
    assert_eq!(fields["error"], "authorization_pending");
}

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Plays the browser: answers the callback URL's query.
fn authorize(github: &FakeGitHub, redirect_uri: &str, challenge: &str) -> HashMap<String, String> {
    let response = client()
        .get(format!("{}/login/oauth/authorize", github.url()))
        .query(&[
            ("client_id", github.client_id()),
            ("redirect_uri", redirect_uri),
            ("scope", "read:org"),
            ("state", "st8 with/odd&chars"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(location.starts_with(redirect_uri), "{location}");
    Url::parse(location)
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn exchange(github: &FakeGitHub, fields: &[(&str, &str)]) -> Value {
    let response = client()
        .post(format!("{}/login/oauth/access_token", github.url()))
        .header("Accept", "application/json")
        .form(fields)
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    json(response)
}

#[test]
fn web_flow_checks_pkce_and_codes_are_single_use() {
    let github = FakeGitHub::start();
    github.add_user("octocat", 1, "gho_web", &["read:org"]);
    github.set_web_user("gho_web");
    let redirect = "http://127.0.0.1:9/auth/callback";
    let verifier = "dBjftJeZ4CVP-mJ92K27uhbUJU1p1r_wW1gFWFOEjXk";

    let callback = authorize(&github, redirect, &challenge(verifier));
    assert_eq!(callback["state"], "st8 with/odd&chars");
    let code = callback["code"].clone();
    let id = github.client_id().to_owned();
    let secret = github.client_secret().to_owned();
    let with = |secret: &str, redirect: &str, verifier: &str| {
        exchange(
            &github,
            &[
                ("client_id", id.as_str()),
                ("client_secret", secret),
                ("code", code.as_str()),
                ("redirect_uri", redirect),
                ("code_verifier", verifier),
            ],
        )
    };

    assert_eq!(
        with(
            &secret,
            redirect,
            "the-wrong-verifier-the-wrong-verifier-000"
        )["error"],
        "bad_verification_code"
    );
    assert_eq!(
        with("wrong", redirect, verifier)["error"],
        "incorrect_client_credentials"
    );
    assert_eq!(
        with(&secret, "http://127.0.0.1:9/elsewhere", verifier)["error"],
        "redirect_uri_mismatch"
    );
    let token = with(&secret, redirect, verifier);
    assert_eq!(token["access_token"], "gho_web");
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token["scope"], "read:org");
    // Used once: gone.
    assert_eq!(
        with(&secret, redirect, verifier)["error"],
        "bad_verification_code"
    );
    // A code never issued.
    let unknown = exchange(
        &github,
        &[
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("code", "0123456789abcdef0123"),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ],
    );
    assert_eq!(unknown["error"], "bad_verification_code");

    // An expired code.
    github.set_web_code_lifetime(Duration::ZERO);
    let callback = authorize(&github, redirect, &challenge(verifier));
    let expired = exchange(
        &github,
        &[
            ("client_id", id.as_str()),
            ("client_secret", secret.as_str()),
            ("code", callback["code"].as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
        ],
    );
    assert_eq!(expired["error"], "bad_verification_code");
}

#[test]
fn authorize_needs_s256_and_a_web_user() {
    let github = FakeGitHub::start();
    let url = format!("{}/login/oauth/authorize", github.url());
    let redirect = "http://127.0.0.1:9/cb?keep=1";
    for method in [None, Some("plain")] {
        let mut query = vec![
            ("client_id", github.client_id()),
            ("redirect_uri", redirect),
            ("state", "s"),
            ("code_challenge", "abc"),
        ];
        if let Some(method) = method {
            query.push(("code_challenge_method", method));
        }
        let response = client().get(&url).query(&query).send().unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{method:?}");
    }

    // Nobody approves: the browser comes back with access_denied.
    let callback = authorize(&github, redirect, &challenge("v"));
    assert_eq!(callback["keep"], "1");
    assert_eq!(callback["error"], "access_denied");
    assert_eq!(callback["state"], "st8 with/odd&chars");
    assert!(!callback.contains_key("code"));
}

fn get(github: &FakeGitHub, path: &str, token: Option<&str>) -> Response {
    let mut request = client()
        .get(format!("{}{path}", github.url()))
        .header("Accept", "application/vnd.github+json");
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().unwrap()
}

#[test]
fn user_answers_with_the_token_scopes() {
    let github = FakeGitHub::start();
    github.add_user("octocat", 583231, "ghp_pat", &["read:org", "repo"]);
    github.add_user("narrow", 7, "gho_narrow", &[]);

    let response = get(&github, "/user", Some("ghp_pat"));
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-oauth-scopes"], "read:org, repo");
    let user = json(response);
    assert_eq!(user["login"], "octocat");
    assert_eq!(user["id"], 583231);
    assert!(user.get("name").is_some() && user.get("email").is_some());

    // The older `token` scheme.
    let response = client()
        .get(format!("{}/user", github.url()))
        .header("Authorization", "token gho_narrow")
        .send()
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-oauth-scopes"], "");
    assert_eq!(json(response)["login"], "narrow");

    let response = get(&github, "/user", Some("nope"));
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json(response)["message"], "Bad credentials");
    let response = get(&github, "/user", None);
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(json(response)["message"].is_string());

    let recorded = github.requests_to("/user");
    assert_eq!(recorded.len(), 4);
    assert_eq!(recorded[0].authorization.as_deref(), Some("Bearer ghp_pat"));
    assert_eq!(recorded[3].authorization, None);
    assert_eq!(recorded[0].method, "GET");

    let response = get(&github, "/repos/acme/widgets", Some("ghp_pat"));
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(response)["message"], "Not Found");
}

#[test]
fn org_and_team_memberships() {
    let github = FakeGitHub::start();
    github.add_user("Octocat", 1, "tok", &["read:org"]);
    github.set_org_membership("octocat", "Acme", "active", "admin");
    github.set_org_membership("octocat", "pending-org", "pending", "member");
    github.set_team_membership("octocat", "acme", "platform", "active");
    github.set_team_membership("octocat", "acme", "invited", "pending");

    let response = get(&github, "/user/memberships/orgs/acme", Some("tok"));
    assert_eq!(response.status(), StatusCode::OK);
    let membership = json(response);
    assert_eq!(membership["state"], "active");
    assert_eq!(membership["role"], "admin");
    assert_eq!(membership["organization"]["login"], "Acme");
    assert_eq!(membership["user"]["login"], "Octocat");

    let pending = json(get(
        &github,
        "/user/memberships/orgs/pending-org",
        Some("tok"),
    ));
    assert_eq!(pending["state"], "pending");
    assert_eq!(pending["role"], "member");

    let response = get(&github, "/user/memberships/orgs/other", Some("tok"));
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    assert_eq!(json(response)["message"], "Not Found");

    github.remove_org_membership("octocat", "acme");
    let response = get(&github, "/user/memberships/orgs/acme", Some("tok"));
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    let response = get(&github, "/user/memberships/orgs/acme", None);
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    let team = json(get(
        &github,
        "/orgs/acme/teams/platform/memberships/octocat",
        Some("tok"),
    ));
    assert_eq!(team["state"], "active");
    assert_eq!(team["role"], "member");
    let team = json(get(
        &github,
        "/orgs/acme/teams/invited/memberships/octocat",
        Some("tok"),
    ));
    assert_eq!(team["state"], "pending");
    let response = get(
        &github,
        "/orgs/acme/teams/platform/memberships/someone",
        Some("tok"),
    );
    assert_eq!(response.status(), StatusCode::NOT_FOUND);

    // Only active teams are listed.
    let teams = json(get(&github, "/user/teams", Some("tok")));
    let slugs: Vec<&str> = teams
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["slug"].as_str().unwrap())
        .collect();
    assert_eq!(slugs, ["platform"]);
    assert_eq!(teams[0]["organization"]["login"], "acme");
}

#[test]
fn user_teams_pages_with_link_headers() {
    let github = FakeGitHub::start();
    github.add_user("octocat", 1, "tok", &["read:org"]);
    for n in 0..5 {
        github.set_team_membership("octocat", "acme", &format!("team-{n}"), "active");
    }
    github.set_team_membership("octocat", "acme", "team-pending", "pending");
    github.set_team_membership("someone", "acme", "team-other", "active");
    let base = format!("{}/user/teams", github.url());

    let response = get(&github, "/user/teams?per_page=2", Some("tok"));
    assert_eq!(
        response.headers()["link"],
        format!(
            "<{base}?per_page=2&page=2>; rel=\"next\", <{base}?per_page=2&page=3>; rel=\"last\""
        )
        .as_str()
    );
    assert_eq!(json(response).as_array().unwrap().len(), 2);

    let response = get(&github, "/user/teams?per_page=2&page=2", Some("tok"));
    assert_eq!(
        response.headers()["link"],
        format!(
            "<{base}?per_page=2&page=1>; rel=\"prev\", <{base}?per_page=2&page=3>; rel=\"next\", \
             <{base}?per_page=2&page=3>; rel=\"last\", <{base}?per_page=2&page=1>; rel=\"first\""
        )
        .as_str()
    );

    // Follow `next` the way a client does.
    let mut slugs = Vec::new();
    let mut next = Some(format!("{base}?per_page=2"));
    let mut pages = 0;
    while let Some(url) = next {
        pages += 1;
        let response = client().get(url).bearer_auth("tok").send().unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        next = response.headers().get("link").and_then(|link| {
            link.to_str()
                .unwrap()
                .split(", ")
                .find(|part| part.ends_with("rel=\"next\""))
                .map(|part| part[1..part.find('>').unwrap()].to_owned())
        });
        for team in json(response).as_array().unwrap() {
            slugs.push(team["slug"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(slugs, ["team-0", "team-1", "team-2", "team-3", "team-4"]);

    // One page holds them all: no Link header.
    let response = get(&github, "/user/teams?per_page=100", Some("tok"));
    assert!(response.headers().get("link").is_none());
    assert_eq!(json(response).as_array().unwrap().len(), 5);
}

#[test]
fn failures_apply_before_routing_until_cleared() {
    let github = FakeGitHub::start();
    github.add_user("octocat", 1, "tok", &[]);

    github.fail("/user", Failure::Status(502));
    assert_eq!(
        get(&github, "/user", Some("tok")).status(),
        StatusCode::BAD_GATEWAY
    );
    assert_eq!(
        get(&github, "/user/teams", Some("tok")).status(),
        StatusCode::BAD_GATEWAY
    );
    // The longest prefix wins.
    github.fail(
        "/user/teams",
        Failure::RateLimited {
            retry_after_secs: 30,
        },
    );
    let response = get(&github, "/user/teams", Some("tok"));
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers()["retry-after"], "30");
    assert_eq!(response.headers()["x-ratelimit-remaining"], "0");

    github.fail("/login/oauth/access_token", Failure::Timeout);
    let started = Instant::now();
    let error = Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap()
        .post(format!("{}/login/oauth/access_token", github.url()))
        .form(&[("client_id", github.client_id())])
        .send()
        .expect_err("no answer");
    assert!(error.is_timeout(), "{error}");
    assert!(started.elapsed() >= Duration::from_millis(300));

    github.clear_failures();
    assert_eq!(get(&github, "/user", Some("tok")).status(), StatusCode::OK);
    // Failed requests were recorded too.
    assert_eq!(github.requests_to("/user").len(), 2);
    assert_eq!(github.requests_to("/login/oauth/access_token").len(), 1);
    assert_eq!(github.requests().len(), 5);
}

#[test]
fn dropping_the_fake_stops_it_even_with_a_request_held_open() {
    let github = FakeGitHub::start();
    let url = github.url().to_owned();
    github.fail("/", Failure::Timeout);
    let held = std::thread::spawn({
        let url = url.clone();
        move || client().get(format!("{url}/user")).send()
    });
    while github.requests().is_empty() {
        std::thread::sleep(Duration::from_millis(10));
    }
    let started = Instant::now();
    drop(github);
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(held.join().unwrap().is_err(), "the held request fails");
    assert!(client().get(format!("{url}/user")).send().is_err());
}

#[tokio::test]
async fn works_inside_a_tokio_runtime() {
    let github = FakeGitHub::start();
    github.add_user("octocat", 1, "tok", &["read:org"]);
    let response = reqwest::Client::new()
        .get(format!("{}/user", github.url()))
        .bearer_auth("tok")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-oauth-scopes"], "read:org");
    drop(github);
}
