//! Bad input gets a clear refusal naming the field and the rule: exit 2 (or
//! 3, 4) from the CLI, a 4xx JSON error from the API — never a 5xx. And the
//! CLI fails cleanly where its own output goes nowhere.

use crate::common::*;
use serde_json::Value;

/// Runs a CLI command expecting `code`, and returns its JSON error.
fn refused(s: &Server, args: &[&str], code: i32) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = s.run(&args);
    out.expect_code(code);
    let error = out.error_json();
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{error}"
    );
    error
}

#[test]
fn the_cli_refuses_bad_input_with_the_field_and_the_rule() {
    let s = server();
    let e = refused(
        &s,
        &["cluster", "create", "Bad_Name", "--blueprint", "local"],
        2,
    );
    assert_eq!(e["error"]["field"], "name");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lowercase")
    );
    let long = "x".repeat(41);
    refused(&s, &["cluster", "create", &long, "--blueprint", "local"], 2);

    let e = refused(&s, &["cluster", "create", "a", "--blueprint", "nope"], 2);
    assert!(e["error"]["message"].as_str().unwrap().contains("nope"));
    let e = refused(
        &s,
        &[
            "cluster",
            "create",
            "a",
            "--blueprint",
            "local",
            "--nodes",
            "99",
        ],
        2,
    );
    assert_eq!(e["error"]["field"], "nodes");
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .contains("between 1 and 16")
    );
    let e = refused(
        &s,
        &[
            "cluster",
            "create",
            "a",
            "--blueprint",
            "local",
            "--var",
            "colour=red",
        ],
        2,
    );
    assert_eq!(e["error"]["field"], "variables.colour");
    let e = refused(
        &s,
        &[
            "cluster",
            "create",
            "a",
            "--blueprint",
            "local",
            "--var",
            "boot_seconds=forever",
        ],
        2,
    );
    assert_eq!(e["error"]["field"], "variables.boot_seconds");
    refused(
        &s,
        &[
            "cluster",
            "create",
            "a",
            "--blueprint",
            "local",
            "--var",
            "novalue",
        ],
        2,
    );

    s.run(&["cluster", "create", "a", "--blueprint", "local"])
        .expect_code(0);
    let e = refused(&s, &["cluster", "create", "a", "--blueprint", "local"], 4);
    assert_eq!(e["error"]["code"], "already_exists");

    let e = refused(
        &s,
        &["deploy", "a", "--destroy-at", "2001-01-01T00:00:00Z"],
        2,
    );
    assert_eq!(e["error"]["field"], "destroy_at");
    let e = refused(&s, &["deploy", "a", "--ttl", "0s"], 2);
    assert_eq!(e["error"]["field"], "ttl");
    refused(&s, &["deploy", "a", "--ttl", "soon"], 2);
    refused(&s, &["deploy", "a", "--destroy-at", "tomorrow"], 2);
    refused(&s, &["deploy", "a", "--wait", "forever"], 2);
    let e = refused(&s, &["deploy", "a", "--nodes", "0"], 2);
    assert_eq!(e["error"]["field"], "nodes");
    refused(&s, &["deploy", "a", "--version", "9.9.9"], 2);
    let e = refused(&s, &["deploy", "missing"], 2);
    assert_eq!(e["error"]["code"], "not_found");
    let e = refused(&s, &["extend", "a", "--in", "1h"], 4);
    assert_eq!(e["error"]["code"], "not_deployed");
    refused(&s, &["extend", "a", "--in=-5m"], 2);
    refused(&s, &["logs", "op_0000"], 2);

    // clap's own usage errors exit 2 as well
    assert_eq!(s.run(&["deploy"]).code(), 2);
    assert_eq!(s.run(&["extend", "a"]).code(), 2);
    assert_eq!(
        s.run(&[
            "deploy",
            "a",
            "--ttl",
            "1h",
            "--destroy-at",
            "2030-01-01T00:00:00Z"
        ])
        .code(),
        2
    );

    // Nothing was deployed by any of it.
    assert_eq!(s.run(&["status", "a", "--json"]).json()["state"], "absent");
}

#[test]
fn the_cli_needs_a_valid_token() {
    let s = server();
    let out = s
        .cli(&["list", "--json"])
        .env("SLIPWAY_TOKEN", "slw_not-a-real-token")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let error: Value = serde_json::from_slice(&out.stderr).unwrap();
    assert_eq!(error["error"]["code"], "unauthenticated");

    let out = s
        .cli(&["list"])
        .env_remove("SLIPWAY_TOKEN")
        .env("SLIPWAY_URL", &s.url)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_api_answers_bad_requests_with_json_errors_and_never_a_5xx() {
    let s = server();
    s.run(&["cluster", "create", "a", "--blueprint", "local"])
        .expect_code(0);
    let http = reqwest::blocking::Client::new();
    let send = |req: reqwest::blocking::RequestBuilder| {
        let response = req.send().unwrap();
        let status = response.status().as_u16();
        let body: Value = response.json().unwrap_or(Value::Null);
        assert!(status < 500, "{status}: {body}");
        assert!(body["error"]["code"].is_string(), "{status}: {body}");
        (status, body)
    };
    let post = |path: &str| {
        http.post(format!("{}{path}", s.url))
            .bearer_auth(&s.token)
            .header("content-type", "application/json")
    };

    let (status, body) = send(post("/v1/clusters").body("{\"name\": "));
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("malformed_json"))
    );

    let (status, body) =
        send(post("/v1/clusters").body(r#"{"name": "b", "blueprint": "local", "nodes": "three"}"#));
    assert_eq!(status, 400);
    assert_eq!(body["error"]["field"], "nodes");

    let (status, body) =
        send(post("/v1/clusters").body(r#"{"name": "b", "blueprint": "local", "colour": 1}"#));
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("colour"),
        "{body}"
    );

    let (status, _) = send(post("/v1/clusters").body(r#"[1, 2, 3]"#));
    assert_eq!(status, 400);

    // A body over the limit is refused from its announced length, before it
    // is read (so the client sends only the head, then reads the answer).
    let (status, body) = raw_request(
        &s,
        &format!(
            "POST /v1/clusters HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{{\"name\":",
            s.token,
            4 << 20
        ),
    );
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (413, Some("body_too_large"))
    );

    let (status, _) = send(
        http.post(format!("{}/v1/clusters", s.url))
            .bearer_auth(&s.token)
            .header("content-type", "text/plain")
            .body("name=b"),
    );
    assert_eq!(status, 415);

    let (status, body) = send(
        post("/v1/clusters/a/deploy")
            .body(r#"{"ttl": "2h", "destroy_at": "2030-01-01T00:00:00Z"}"#),
    );
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("ttl"))
    );
    let (status, body) = send(post("/v1/clusters/a/deploy").body(r#"{"destroy_at": "yesterday"}"#));
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("destroy_at"))
    );

    let (status, _) = send(http.get(format!("{}/v1/clusters", s.url)));
    assert_eq!(status, 401);
    let (status, _) = send(
        http.get(format!("{}/v1/clusters", s.url))
            .bearer_auth("wrong"),
    );
    assert_eq!(status, 401);
    let (status, _) = send(
        http.get(format!("{}/v1/nothing-here", s.url))
            .bearer_auth(&s.token),
    );
    assert_eq!(status, 404);
    let (status, _) = send(
        http.delete(format!("{}/v1/clusters", s.url))
            .bearer_auth(&s.token),
    );
    assert_eq!(status, 405);
    let (status, body) = send(
        http.get(format!("{}/v1/operations/not-an-id", s.url))
            .bearer_auth(&s.token),
    );
    assert_eq!(
        (status, body["error"]["field"].as_str()),
        (400, Some("operation"))
    );
    let (status, _) = send(
        http.get(format!("{}/v1/clusters/UPPER", s.url))
            .bearer_auth(&s.token),
    );
    assert_eq!(status, 400);
    let (status, _) = send(
        http.get(format!(
            "{}/v1/operations/op_{}/events?after=minus-one",
            s.url,
            "0".repeat(32)
        ))
        .bearer_auth(&s.token),
    );
    assert_eq!(status, 400);
}

/// Sends raw bytes and reads the status and JSON body of the answer.
fn raw_request(s: &Server, request: &str) -> (u16, Value) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(s.url.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {text}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

#[test]
fn the_openapi_document_describes_the_api() {
    let s = server();
    let doc: Value = api(&s, "GET", "/v1/openapi.json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for path in [
        "/v1/clusters",
        "/v1/clusters/{name}/deploy",
        "/v1/clusters/{name}/schedule",
        "/v1/operations/{id}/events",
    ] {
        assert!(paths.contains_key(path), "{path} missing");
    }
    assert!(doc["components"]["schemas"]["ClusterStatus"].is_object());
    let schedule = doc["paths"]["/v1/clusters/{name}/schedule"]["put"].to_string();
    assert!(
        schedule.contains(&format!(
            "from {} before",
            slipway_core::schedule::change_cutoff_in_words()
        )),
        "the five-minute rule, said from its constant: {schedule}"
    );
    assert_eq!(get(&format!("{}/healthz", s.url)).0, 200);
    let (code, ready) = get(&format!("{}/readyz", s.url));
    assert_eq!((code, ready["status"].as_str()), (200, Some("ready")));
}

/// The router and the document are one: every operation the document
/// describes is routed (the answer, without a credential, is never the
/// router's own "no such route" or "method not allowed"), and the one route
/// written by hand — Terraform's LOCK — is routed too.
#[test]
fn every_documented_operation_is_routed() {
    let s = server();
    let doc: Value = api(&s, "GET", "/v1/openapi.json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    let sample = |path: &str| {
        path.replace("{name}", "c1")
            .replace("{login}", "alice")
            .replace(
                "{id}",
                if path.contains("/capacity/") {
                    "cap_0123456789abcdef0123456789abcdef"
                } else if path.starts_with("/v1/tokens/") {
                    "tok_0123456789abcdef0123456789abcdef"
                } else {
                    "op_0123456789abcdef0123456789abcdef"
                },
            )
    };
    let anonymous = reqwest::blocking::Client::new();
    // First, before the failed authentications below are answered 429
    // (the service's limit on failed authentications from one address,
    // after the route matched: routed all the same).
    let lock = anonymous
        .request(
            "LOCK".parse().unwrap(),
            format!("{}/v1/terraform/lock", s.url),
        )
        .send()
        .unwrap();
    assert_eq!(
        lock.status().as_u16(),
        401,
        "LOCK is routed and needs a run's credential"
    );
    let mut routed = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            let url = format!("{}{}", s.url, sample(path));
            let response = anonymous
                .request(method.to_uppercase().parse().unwrap(), &url)
                .timeout(std::time::Duration::from_secs(30))
                .send()
                .unwrap();
            let status = response.status().as_u16();
            // Event streams answer at once without a credential; nothing
            // here reads a body it does not need.
            let body: Value = response.json().unwrap_or(Value::Null);
            let router_said = body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("see /v1/openapi.json"));
            assert!(
                !(router_said && (status == 404 || status == 405)),
                "{method} {path}: the router does not route it ({status} {body})"
            );
            routed += 1;
        }
    }
    assert!(routed >= 50, "only {routed} operations documented");
}

#[test]
fn the_cli_ends_quietly_when_its_reader_goes_away() {
    use std::os::unix::process::ExitStatusExt;
    use std::process::Stdio;

    let s = server();
    let mut child = s
        .cli(&["list"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before the CLI has its answer to print, as with
    // `slipway list | head -0`.
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        out.status.signal(),
        Some(nix::libc::SIGPIPE),
        "{:?}: {stderr}",
        out.status
    );
}
