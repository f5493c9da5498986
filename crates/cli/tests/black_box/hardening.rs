//! What an outside security probe found, each closed and kept closed,
//! through the binary: identities that collided, a state backend that read
//! bodies before checking who sent them, secrets and files readable at
//! rest, a sign-in that could be finished in another browser, slow and
//! failing clients, an administrator credential that could be revoked for
//! good, validation that let through what failed later, and a session
//! cookie that let other pages of the site act through the API.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{Value, json};
use slipway_testkit::github::FakeGitHub;

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

#[test]
fn a_github_user_called_admin_is_a_member_not_the_bootstrap_administrator() {
    let github = FakeGitHub::start();
    github.add_user("admin", 77, "gho_admin", &["read:org"]);
    github.add_user("ADMIN", 78, "gho_upper", &["read:org"]);
    let s = server_with_github(&github, &[]);
    for (token, id) in [("gho_admin", 77), ("gho_upper", 78)] {
        let session = github_session(&s, token);
        assert_eq!(session["level"], "member", "{session}");
        let user = session["token"].as_str().unwrap();
        let me = s.run_as(&["whoami", "--json"], Some(user));
        me.expect_code(0);
        let me = me.json();
        assert_eq!(me["subject"], format!("github:{id}"));
        assert_eq!(me["level"], "member");
        // None of what the bootstrap administrator may do.
        s.run_as(&["audit"], Some(user)).expect_code(3);
        s.run_as(
            &["token", "create", "--name", "all", "--scope", "*"],
            Some(user),
        )
        .expect_code(3);
    }
    // The bootstrap administrator is a subject no sign-in can produce.
    let me = s.run(&["whoami", "--json"]).json();
    assert_eq!(me["subject"], "slipway:bootstrap");
    assert_eq!(me["level"], "admin");
}

/// The server's resident memory, and its peak, in KiB.
fn memory(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap()
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Sends a request head and then up to `body_bytes` of body, as fast as
/// the server takes it, until it answers; returns its status and how many
/// body bytes it took.
fn upload(s: &Server, head: &str, body_bytes: usize) -> (u16, usize) {
    let mut stream = TcpStream::connect(s.url.trim_start_matches("http://")).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let chunk = vec![b'x'; 64 * 1024];
        let mut sent = 0;
        while sent < body_bytes {
            match writer.write(&chunk[..chunk.len().min(body_bytes - sent)]) {
                Ok(0) | Err(_) => break,
                Ok(n) => sent += n,
            }
        }
        sent
    });
    let mut answer = [0u8; 512];
    let n = stream.read(&mut answer).unwrap_or(0);
    let _ = stream.shutdown(std::net::Shutdown::Both);
    let sent = sender.join().unwrap();
    let text = String::from_utf8_lossy(&answer[..n]);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer: {text:?}"));
    (status, sent)
}

#[test]
fn an_unauthenticated_upload_to_the_state_backend_is_refused_before_it_is_read() {
    let s = server();
    let pid = s.pid().unwrap();
    let _ = get(&format!("{}/healthz", s.url));
    let (rss_before, peak_before) = memory(pid);
    const SIZE: usize = 150 << 20;
    // Announced, then chunked (no length to check up front), then with a
    // forged credential: each refused while almost nothing was read.
    let heads = [
        format!(
            "POST /v1/terraform/state HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {SIZE}\r\n\r\n"
        ),
        "POST /v1/terraform/state HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n100000\r\n".to_owned(),
        format!(
            "POST /v1/terraform/state HTTP/1.1\r\nHost: x\r\nAuthorization: Basic b3BfMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA6eA==\r\nContent-Length: {SIZE}\r\n\r\n"
        ),
    ];
    for head in &heads {
        let (status, sent) = upload(&s, head, SIZE);
        assert_eq!(status, 401, "{head}");
        assert!(
            sent < SIZE,
            "the server read the whole {SIZE} bytes ({sent}) before refusing"
        );
    }
    let (rss_after, peak_after) = memory(pid);
    eprintln!(
        "server memory: RSS {rss_before} KiB -> {rss_after} KiB, peak {peak_before} KiB -> {peak_after} KiB"
    );
    assert!(
        peak_after < peak_before + 16 * 1024,
        "the peak grew from {peak_before} KiB to {peak_after} KiB"
    );
}

/// Every file under `dir` that contains `needle`.
pub(crate) fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<String> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return found;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_containing(&path, needle));
        } else if let Ok(bytes) = std::fs::read(&path)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            found.push(path.display().to_string());
        }
    }
    found
}

/// Every file and directory under `dir` (itself included) others can read,
/// write or enter.
fn not_private(dir: &std::path::Path) -> Vec<String> {
    let mut open = Vec::new();
    let mode = std::fs::symlink_metadata(dir).unwrap().permissions().mode();
    if mode & 0o077 != 0 {
        open.push(format!("{} {:o}", dir.display(), mode & 0o777));
    }
    if dir.is_dir() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                open.extend(not_private(&path));
            } else if meta.permissions().mode() & 0o077 != 0 {
                open.push(format!(
                    "{} {:o}",
                    path.display(),
                    meta.permissions().mode() & 0o777
                ));
            }
        }
    }
    open
}

#[test]
fn secrets_are_sealed_at_rest_and_the_data_directory_is_private() {
    let s = server();
    let secret = format!("hunter2-{}", uuid::Uuid::new_v4().simple());
    s.run(&[
        "cluster",
        "create",
        "vault",
        "--blueprint",
        "secretive",
        "--var",
        &format!("password={secret}"),
    ])
    .expect_code(0);
    s.run(&["deploy", "vault"]).expect_code(0);
    // Terraform got the value itself (its digest is an output)...
    let status = s.run(&["status", "vault", "--json"]).json();
    use sha2::Digest as _;
    let digest = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
    assert_eq!(status["outputs"]["password_digest"], digest.as_str());
    // ...and an update with the same value changes nothing.
    let again = s.run(&["deploy", "vault", "--json"]);
    again.expect_code(0);
    assert_eq!(again.json()["result"], "already_running");
    // Changing another setting keeps the secret no one typed again; unset,
    // the setting is back to its default.
    s.run(&["deploy", "vault", "--var", "greeting=bonjour"])
        .expect_code(0);
    let outputs = || s.run(&["status", "vault", "--json"]).json()["outputs"].clone();
    let changed = outputs();
    assert_eq!(changed["greeting"], "bonjour");
    assert_eq!(
        changed["password_digest"],
        digest.as_str(),
        "the secret is kept"
    );
    s.run(&["deploy", "vault", "--unset-var", "greeting"])
        .expect_code(0);
    assert_eq!(outputs()["greeting"], "hello");
    // Who may use it was given to its module: it changes only once
    // nothing is deployed.
    let refused = s.run(&["cluster", "visibility", "vault", "public"]);
    refused.expect_code(4);
    assert!(
        refused
            .stderr()
            .contains("destroy it before changing who may use it"),
        "{}",
        refused.stderr()
    );
    s.run(&["destroy", "vault"]).expect_code(0);
    let public = s.run(&["cluster", "visibility", "vault", "public"]);
    public.expect_code(0);
    assert!(
        public.stdout().contains("vault is public"),
        "{}",
        public.stdout()
    );
    assert_eq!(s.run(&["status", "vault", "--json"]).json()["public"], true);

    // Nowhere in clear: not the database (its WAL included), not the
    // archived logs, not the working directories.
    let found = files_containing(s.data_dir(), secret.as_bytes());
    assert!(found.is_empty(), "the secret is in clear in {found:?}");
    // And nothing there is open to other users.
    let open = not_private(s.data_dir());
    assert!(open.is_empty(), "readable by others: {open:?}");
}

/// Starts a web sign-in as a browser would: the binding cookie it sets
/// (`name=value`) and the callback URL GitHub sends the browser back to.
fn start_web_sign_in(http: &reqwest::blocking::Client, s: &Server) -> (String, String) {
    let start = http
        .get(format!("{}/v1/auth/web/login", s.url))
        .send()
        .unwrap();
    let cookie = start.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let to_github = start.headers()["location"].to_str().unwrap();
    let callback = http.get(to_github).send().unwrap().headers()["location"]
        .to_str()
        .unwrap()
        .to_owned();
    (cookie, callback)
}

#[test]
fn a_sign_in_finished_in_another_browser_is_refused() {
    let github = FakeGitHub::start();
    github.add_user("mallory", 66, "gho_mallory", &["read:org"]);
    github.set_web_user("gho_mallory");
    let s = server_with_github(&github, &[]);
    let http = client();
    // The attacker starts a sign-in in their browser and gets GitHub's
    // callback URL for their own account...
    let (attacker_cookie, callback) = start_web_sign_in(&http, &s);
    // ...and makes the victim's browser open it: no binding cookie there,
    // or the victim's own from a sign-in of theirs.
    let (victim_cookie, _) = start_web_sign_in(&http, &s);
    let refused = http
        .get(&callback)
        .header("cookie", &victim_cookie)
        .send()
        .unwrap();
    assert_eq!(refused.status(), 400);
    assert!(refused.headers().get("set-cookie").is_none());
    let body: Value = refused.json().unwrap();
    assert_eq!(body["error"]["code"], "invalid_state");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another browser"),
        "{body}"
    );
    // A second callback URL of the attacker's, opened with no cookie at
    // all, is refused the same way.
    let (_, second_callback) = start_web_sign_in(&http, &s);
    let refused = http.get(&second_callback).send().unwrap();
    assert_eq!(refused.status(), 400);
    let body: Value = refused.json().unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("another browser"),
        "{body}"
    );
    // The state was spent by the refused attempt: even the attacker's own
    // browser cannot use it now.
    let spent = http
        .get(&callback)
        .header("cookie", &attacker_cookie)
        .send()
        .unwrap();
    assert_eq!(spent.status(), 400);
}

/// Whether the server closes `stream` within `within` (reads end).
fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 256];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(started.elapsed()),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Some(started.elapsed());
            }
            Err(_) => return None,
        }
    }
}

#[test]
fn a_session_cookie_reads_but_changes_nothing_through_the_api() {
    // Another page of the same site (another port, a sibling subdomain)
    // makes the browser send its cookies, and a POST without a body needs
    // no preflight: the API must not act on the cookie alone.
    let s = server();
    s.run(&["cluster", "create", "c", "--blueprint", "local"])
        .expect_code(0);
    let cookie = format!("token={}", s.token);
    let read = client()
        .get(format!("{}/v1/clusters/c", s.url))
        .header("cookie", &cookie)
        .send()
        .unwrap();
    assert_eq!(read.status(), 200);
    for path in [
        "/v1/clusters/c/deploy",
        "/v1/clusters/c/access",
        "/v1/admin/rotate-keys",
    ] {
        let forged = client()
            .post(format!("{}{path}", s.url))
            .header("cookie", &cookie)
            .header("origin", "http://127.0.0.1:1")
            .send()
            .unwrap();
        assert_eq!(forged.status(), 401, "{path}");
    }
    assert_eq!(
        s.run(&["status", "c", "--json"]).json()["state"],
        "absent",
        "nothing was deployed"
    );
}

#[test]
fn slow_and_silent_clients_are_disconnected() {
    let s = server_with(Options {
        env: vec![
            ("SLIPWAY_HTTP__HEADER_READ_TIMEOUT".into(), "1s".into()),
            ("SLIPWAY_HTTP__BODY_READ_TIMEOUT".into(), "1s".into()),
        ],
        ..Options::default()
    });
    let address = s.url.trim_start_matches("http://").to_owned();
    // Fifty connections that send nothing, one that sends half a head, one
    // that starts the HTTP/2 preface and stops.
    let mut idle: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(&address).unwrap())
        .collect();
    let mut half = TcpStream::connect(&address).unwrap();
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut preface = TcpStream::connect(&address).unwrap();
    preface.write_all(b"PRI * HTTP/2.0\r\n").unwrap();
    for stream in idle.iter_mut().chain([&mut half, &mut preface]) {
        let closed = closed_within(stream, Duration::from_secs(15));
        assert!(closed.is_some(), "a silent connection stayed open");
    }
    // A body that stops arriving is cut off too.
    let mut slow_body = TcpStream::connect(&address).unwrap();
    slow_body
        .write_all(
            format!(
                "POST /v1/clusters HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"name\":",
                s.token
            )
            .as_bytes(),
        )
        .unwrap();
    slow_body
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut answer = String::new();
    let _ = slow_body.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // The server still answers everyone else.
    assert_eq!(get(&format!("{}/healthz", s.url)).0, 200);
}

#[test]
fn an_address_presenting_bad_tokens_is_slowed_down() {
    let s = server_with(Options {
        env: vec![(
            "SLIPWAY_AUTH__RATE_LIMITS__TRUSTED_PROXIES".into(),
            "[\"127.0.0.1\"]".into(),
        )],
        ..Options::default()
    });
    let http = client();
    let whoami = |from: &str, token: &str| {
        http.get(format!("{}/v1/whoami", s.url))
            .header("x-forwarded-for", from)
            .bearer_auth(token)
            .send()
            .unwrap()
    };
    let mut statuses = Vec::new();
    for i in 0..40 {
        statuses.push(
            whoami("203.0.113.7", &format!("slw_forged{i}"))
                .status()
                .as_u16(),
        );
    }
    let first_429 = statuses
        .iter()
        .position(|s| *s == 429)
        .unwrap_or_else(|| panic!("40 bad tokens in a row, never a 429: {statuses:?}"));
    assert!(
        statuses[..first_429].iter().all(|s| *s == 401),
        "{statuses:?}"
    );
    let limited = whoami("203.0.113.7", "slw_forged-again");
    assert_eq!(limited.status(), 429);
    assert!(limited.headers().contains_key("retry-after"));
    let body: Value = limited.json().unwrap();
    assert_eq!(body["error"]["code"], "too_many_failed_authentications");
    // Another address is not affected, and neither are good credentials
    // from it.
    assert_eq!(whoami("198.51.100.9", "slw_forged").status(), 401);
    assert_eq!(whoami("198.51.100.9", &s.token).status(), 200);
}

#[test]
fn the_last_administrator_credential_cannot_be_revoked_and_the_host_can_mint_one() {
    let s = server();
    let tokens = s.run(&["token", "list", "--json"]).json()["tokens"].clone();
    let bootstrap = tokens[0]["id"].as_str().unwrap().to_owned();
    let refused = s.run(&["token", "revoke", &bootstrap, "--json"]);
    refused.expect_code(4);
    assert_eq!(
        refused.error_json()["error"]["code"],
        "last_admin_credential"
    );
    // With another administrator credential, the bootstrap token may go...
    let other = s.run(&["token", "create", "--name", "ops", "--scope", "*", "--json"]);
    other.expect_code(0);
    let other = other.json();
    let other_secret = other["secret"].as_str().unwrap().to_owned();
    s.run(&["token", "revoke", &bootstrap]).expect_code(0);
    // ...but not the other, now the last.
    s.run_as(
        &["token", "revoke", other["token"]["id"].as_str().unwrap()],
        Some(&other_secret),
    )
    .expect_code(4);

    // The host's operator mints a new bootstrap token on the database.
    let minted = std::process::Command::new(slipway())
        .args(["admin", "bootstrap-token", "--data-dir"])
        .arg(s.data_dir())
        .env_remove("SLIPWAY_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        minted.status.success(),
        "{}",
        String::from_utf8_lossy(&minted.stderr)
    );
    let new_token = std::fs::read_to_string(s.data_dir().join("admin.token"))
        .unwrap()
        .trim()
        .to_owned();
    assert!(String::from_utf8_lossy(&minted.stdout).contains(&new_token));
    let me = s.run_as(&["whoami", "--json"], Some(&new_token)).json();
    assert_eq!(me["subject"], "slipway:bootstrap");
    assert_eq!(me["level"], "admin");
    refused_once_forgotten(&s, &s.token);
    let audit = s
        .run_as(
            &["audit", "--action", "token.bootstrap", "--json"],
            Some(&new_token),
        )
        .json()["entries"]
        .clone();
    assert!(
        audit
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["actor"] == "slipway:host-operator"),
        "{audit}"
    );
}

/// `slipway token create` with the server's admin token: (id, secret).
fn create_token(s: &Server, name: &str, scopes: &str, expires: &str) -> (String, String) {
    create_token_as(s, &s.token, name, scopes, expires)
}

/// `slipway token create` with `secret`: (id, secret).
fn create_token_as(
    s: &Server,
    secret: &str,
    name: &str,
    scopes: &str,
    expires: &str,
) -> (String, String) {
    let out = s.run_as(
        &[
            "token",
            "create",
            "--name",
            name,
            "--scope",
            scopes,
            "--expires",
            expires,
            "--json",
        ],
        Some(secret),
    );
    out.expect_code(0);
    let created = out.json();
    (
        created["token"]["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    )
}

/// `DELETE /v1/tokens/{id}` with `secret`: the status and the answer.
fn revoke_token(s: &Server, id: &str, secret: &str) -> (u16, Value) {
    let response = client()
        .delete(format!("{}/v1/tokens/{id}", s.url))
        .bearer_auth(secret)
        .send()
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(Value::Null))
}

fn assert_last_admin_refusal(status: u16, body: &Value, what: &str) {
    assert_eq!(status, 409, "{what}: {body}");
    assert_eq!(
        body["error"]["code"], "last_admin_credential",
        "{what}: {body}"
    );
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("no expiry or more than a day left"),
        "{what}: the refusal names the rule: {message}"
    );
}

#[test]
fn of_the_last_two_administrator_credentials_revoked_at_once_exactly_one_goes() {
    let s = server();
    // Acting with a token that may revoke tokens (its owner's, the
    // bootstrap administrator's) but administers nothing itself.
    let (_, actor) = create_token(&s, "revoker", "tokens", "30d");
    let tokens = s.run(&["token", "list", "--json"]).json()["tokens"].clone();
    let mut lasting = (
        tokens[0]["id"].as_str().unwrap().to_owned(),
        s.token.clone(),
    );
    for round in 0..10 {
        let other = create_token_as(&s, &lasting.1, &format!("admin-{round}"), "*", "30d");
        let pair = [lasting.clone(), other];
        let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
            let revocations: Vec<_> = pair
                .iter()
                .map(|(id, _)| scope.spawn(|| revoke_token(&s, id, &actor)))
                .collect();
            revocations.into_iter().map(|r| r.join().unwrap()).collect()
        });
        let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
        // The one refused is kept.
        let kept = match statuses.as_slice() {
            [204, 409] => 1,
            [409, 204] => 0,
            _ => panic!("round {round}: exactly one revocation succeeds: {answers:?}"),
        };
        let (status, body) = &answers[kept];
        assert_last_admin_refusal(*status, body, &format!("round {round}"));
        lasting = pair[kept].clone();
    }
    // Eight at once: exactly seven go.
    let mut eight = vec![lasting.clone()];
    for i in 0..7 {
        eight.push(create_token_as(
            &s,
            &lasting.1,
            &format!("more-{i}"),
            "*",
            "30d",
        ));
    }
    let answers: Vec<(u16, Value)> = std::thread::scope(|scope| {
        let revocations: Vec<_> = eight
            .iter()
            .map(|(id, _)| scope.spawn(|| revoke_token(&s, id, &actor)))
            .collect();
        revocations.into_iter().map(|r| r.join().unwrap()).collect()
    });
    let refused: Vec<usize> = (0..8).filter(|i| answers[*i].0 != 204).collect();
    assert_eq!(
        refused.len(),
        1,
        "exactly seven revocations succeed: {answers:?}"
    );
    let (status, body) = &answers[refused[0]];
    assert_last_admin_refusal(*status, body, "eight at once");
    lasting = eight[refused[0]].clone();

    let listed = s
        .run_as(&["token", "list", "--json"], Some(&lasting.1))
        .json()["tokens"]
        .clone();
    let valid: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["revoked_at"].is_null() && t["scopes"] == json!(["*"]))
        .collect();
    assert_eq!(valid.len(), 1, "{listed}");
    assert_eq!(valid[0]["id"], lasting.0.as_str());
}

#[test]
fn a_short_lived_administrator_token_does_not_make_the_bootstrap_token_revocable() {
    let s = server();
    let bootstrap = s.run(&["token", "list", "--json"]).json()["tokens"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, five_seconds) = create_token(&s, "brief", "*", "5s");
    let (_, hour) = create_token(&s, "hour", "admin,tokens", "1h");
    for (secret, what) in [(&five_seconds, "a 5 s token"), (&hour, "a 1 h token")] {
        let (status, body) = revoke_token(&s, &bootstrap, secret);
        if what == "a 5 s token" && status == 401 {
            continue; // it expired before it could even ask
        }
        assert_last_admin_refusal(status, &body, what);
    }
    s.run(&["whoami"]).expect_code(0);
    // One with more than a day left does.
    let (_, month) = create_token(&s, "month", "*", "30d");
    assert_eq!(revoke_token(&s, &bootstrap, &month).0, 204);
    s.run(&["whoami"]).expect_code(3);
}

#[test]
fn github_administrators_stand_in_only_when_people_can_sign_in_with_github() {
    let admins = ("SLIPWAY_AUTH__ADMINS__LOGINS", "[\"root\"]");
    let bootstrap = |s: &Server| {
        s.run(&["token", "list", "--json"]).json()["tokens"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    // Administrators named, but nobody can sign in with GitHub.
    let s = server_with(Options {
        env: vec![(admins.0.into(), admins.1.into())],
        ..Options::default()
    });
    let (status, body) = revoke_token(&s, &bootstrap(&s), &s.token);
    assert_last_admin_refusal(status, &body, "no GitHub sign-in");
    // With GitHub sign-in, root can always sign in as an administrator.
    let github = FakeGitHub::start();
    let s = server_with_github(&github, &[admins]);
    assert_eq!(revoke_token(&s, &bootstrap(&s), &s.token).0, 204);
}

/// Waits until `secret` is refused. A bootstrap token minted by another
/// process on the server's SQLite file is announced to nobody: the server
/// forgets the authentications it remembers within a second
/// (`REMEMBERED` in crates/service/src/memory.rs), not at once.
fn refused_once_forgotten(s: &Server, secret: &str) {
    wait_for(Duration::from_secs(10), "the old token refused", || {
        s.run_as(&["whoami"], Some(secret)).code() == 3
    });
}

#[test]
fn a_new_bootstrap_token_revokes_earlier_bootstrap_tokens_only() {
    let s = server();
    // The bootstrap administrator's own tokens, one even named like a
    // bootstrap token.
    let (ops, ops_secret) = create_token(&s, "ops", "*", "30d");
    let (alike, alike_secret) = create_token(&s, "bootstrap-admin", "*", "30d");
    let minted = std::process::Command::new(slipway())
        .args(["admin", "bootstrap-token", "--data-dir"])
        .arg(s.data_dir())
        .env_remove("SLIPWAY_DATABASE_URL")
        .output()
        .unwrap();
    assert!(
        minted.status.success(),
        "{}",
        String::from_utf8_lossy(&minted.stderr)
    );
    let new_token = std::fs::read_to_string(s.data_dir().join("admin.token"))
        .unwrap()
        .trim()
        .to_owned();
    // The earlier bootstrap token is revoked; the others work on.
    refused_once_forgotten(&s, &s.token);
    for secret in [&new_token, &ops_secret, &alike_secret] {
        s.run_as(&["whoami"], Some(secret)).expect_code(0);
    }
    let audit = s
        .run_as(
            &["audit", "--action", "token.bootstrap", "--json"],
            Some(&new_token),
        )
        .json();
    let revoked = audit["entries"][0]["detail"]["revoked"].as_array().unwrap();
    assert_eq!(revoked.len(), 1, "{audit}");
    assert!(![ops.as_str(), alike.as_str()].contains(&revoked[0].as_str().unwrap()));
}

#[test]
fn validation_refuses_up_front_what_would_fail_later() {
    let s = server();
    let http = client();
    let post = |path: &str, content_type: &str, body: &str| {
        let response = http
            .post(format!("{}{path}", s.url))
            .bearer_auth(&s.token)
            .header("content-type", content_type)
            .body(body.to_owned())
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().unwrap_or(Value::Null))
    };
    // A fraction where the blueprint means a whole number of seconds.
    let (status, body) = post(
        "/v1/clusters",
        "application/json",
        r#"{"name":"frac","blueprint":"local","variables":{"boot_seconds":0.5}}"#,
    );
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "variables.boot_seconds");
    s.run(&["cluster", "create", "ok", "--blueprint", "local"])
        .expect_code(0);
    // An array is not a deploy request.
    let (status, body) = post("/v1/clusters/ok/deploy", "application/json", "[]");
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["error"]["field"], "body");
    // Only JSON is JSON.
    for content_type in ["application/jsonx", "text/json", "application/json-seq"] {
        let (status, body) = post("/v1/clusters/ok/deploy", content_type, "{}");
        assert_eq!(status, 415, "{content_type}: {body}");
    }
    // Token names count characters, not bytes; lifetimes have a ceiling.
    let token = |name: &str, expires: &str| {
        post(
            "/v1/tokens",
            "application/json",
            &json!({"name": name, "scopes": ["clusters:read"], "expires": expires}).to_string(),
        )
    };
    assert_eq!(token(&"é".repeat(100), "1d").0, 201);
    let (status, body) = token(&"é".repeat(101), "1d");
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("name"))
    );
    let (status, body) = token("ctl\u{7}", "1d");
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("name"))
    );
    let (status, body) = token("long", "400d");
    assert_eq!(
        (status, body["error"]["field"].clone()),
        (400, json!("expires"))
    );
    assert!(
        body["error"]["message"].as_str().unwrap().contains("366d"),
        "{body}"
    );
}

#[test]
fn a_duration_that_meets_a_time_is_checked_and_the_documented_minimum_is_accepted() {
    let s = server();
    let http = client();
    let post = |path: &str, body: Value| {
        let response = http
            .post(format!("{}{path}", s.url))
            .bearer_auth(&s.token)
            .json(&body)
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json::<Value>().unwrap_or(Value::Null))
    };
    s.run(&["cluster", "create", "far", "--blueprint", "local"])
        .expect_code(0);
    // A million years is a refusal naming the field, never a panic (500).
    for (path, body, field) in [
        (
            "/v1/clusters/far/capacity",
            json!({"nodes": 1, "ttl": "1000000years"}),
            "ttl",
        ),
        (
            "/v1/clusters/far/deploy",
            json!({"ttl": "1000000years"}),
            "ttl",
        ),
    ] {
        let (status, answer) = post(path, body);
        assert_eq!(status, 400, "{path}: {answer}");
        assert_eq!(answer["error"]["field"], field, "{path}: {answer}");
    }
    // The documented minimum of a capacity request (15m) is accepted.
    let (status, answer) = post(
        "/v1/clusters/far/capacity",
        json!({"nodes": 1, "ttl": "15m"}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["request"]["nodes"], 1, "{answer}");
    // A cost history ending at the dawn of time is answered, not a panic.
    let response = http
        .get(format!(
            "{}/v1/orgs/default/costs?to=0001-01-01T00:00:00Z",
            s.url
        ))
        .bearer_auth(&s.token)
        .send()
        .unwrap();
    assert!(
        response.status().is_success() || response.status().is_client_error(),
        "{}",
        response.status()
    );
    watch_until(&s, "far", Duration::from_secs(120), |st| {
        st["state"] == "running"
    });
    s.run(&["destroy", "far"]).expect_code(0);
}

/// Alice in organization `research` and Mallory in `squat` (each by a
/// GitHub organization's membership), signed in: the fake GitHub (kept
/// running), the server, Alice's token and Mallory's.
fn two_organizations() -> (FakeGitHub, Server, String, String) {
    let github = FakeGitHub::start();
    github.add_user("alice", 1, "gho_alice", &["read:org"]);
    github.set_org_membership("alice", "uw-research", "active", "member");
    github.add_user("mallory", 2, "gho_mallory", &["read:org"]);
    github.set_org_membership("mallory", "squatters-inc", "active", "member");
    let s = server_with_github(&github, &[]);
    s.run(&["org", "create", "research", "--github-org", "uw-research"])
        .expect_code(0);
    s.run(&["org", "create", "squat", "--github-org", "squatters-inc"])
        .expect_code(0);
    let alice = sign_in(&s, "gho_alice");
    let mallory = sign_in(&s, "gho_mallory");
    (github, s, alice, mallory)
}

/// Who may use a cluster is remembered for a second so that ACCESS reads
/// nothing; making it private or removing it still takes effect at once.
#[test]
fn a_cluster_made_private_or_removed_gives_outsiders_no_more_tokens() {
    let (_github, s, alice, mallory) = two_organizations();
    s.run_as(
        &[
            "cluster",
            "create",
            "open-lab",
            "--blueprint",
            "local",
            "--org",
            "research",
        ],
        Some(&alice),
    )
    .expect_code(0);
    let http = client();
    let access = |token: &str| {
        http.post(format!("{}/v1/clusters/open-lab/access", s.url))
            .bearer_auth(token)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    let visibility = |to: &str| {
        s.run(&["cluster", "visibility", "open-lab", to])
            .expect_code(0);
    };

    assert_eq!(access(&mallory), 404, "private: not hers to see");
    visibility("public");
    // Twice: the second is answered from what the first remembered.
    assert_eq!(access(&mallory), 200, "public: anyone signed in");
    assert_eq!(access(&mallory), 200);
    visibility("private");
    assert_eq!(access(&mallory), 404, "private again: at once");
    assert_eq!(access(&alice), 200, "its organization still may");

    visibility("public");
    assert_eq!(access(&mallory), 200);
    s.run(&["cluster", "remove", "open-lab"]).expect_code(0);
    assert_eq!(access(&mallory), 404, "removed: at once");
    assert_eq!(access(&alice), 404);
}

#[test]
fn another_organizations_private_cluster_is_a_missing_one_and_names_are_not_hoarded() {
    let (_github, s, alice, mallory) = two_organizations();
    s.run(&["org", "limits", "squat", "--max-defined-clusters", "2"])
        .expect_code(0);
    s.run_as(
        &[
            "cluster",
            "create",
            "secret-lab",
            "--blueprint",
            "local",
            "--org",
            "research",
        ],
        Some(&alice),
    )
    .expect_code(0);
    s.run_as(&["deploy", "secret-lab", "--ttl", "1h"], Some(&alice))
        .expect_code(0);
    let op = s.run(&["status", "secret-lab", "--json"]).json()["last_operation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();

    // Every way in answers exactly as for a cluster that does not exist.
    let http = client();
    let answer = |method: &str, path: &str| {
        let response = http
            .request(method.parse().unwrap(), format!("{}{path}", s.url))
            .bearer_auth(&mallory)
            .json(&json!({}))
            .send()
            .unwrap();
        let status = response.status().as_u16();
        (status, response.text().unwrap())
    };
    for (method, path) in [
        ("GET", "/v1/clusters/{}"),
        ("POST", "/v1/clusters/{}/access"),
        ("POST", "/v1/clusters/{}/deploy"),
        ("POST", "/v1/clusters/{}/destroy"),
        ("GET", "/v1/clusters/{}/operations"),
        ("GET", "/v1/clusters/{}/capacity"),
    ] {
        let existing = answer(method, &path.replace("{}", "secret-lab"));
        let missing = answer(method, &path.replace("{}", "no-such-lab"));
        assert_eq!(existing.0, 404, "{method} {path}: {existing:?}");
        assert_eq!(
            existing,
            (missing.0, missing.1.replace("no-such-lab", "secret-lab")),
            "{method} {path}"
        );
    }
    let fake_op = format!("op_{}", "0".repeat(32));
    let existing = answer("GET", &format!("/v1/operations/{op}"));
    let missing = answer("GET", &format!("/v1/operations/{fake_op}"));
    assert_eq!(existing.0, 404, "{existing:?}");
    assert_eq!(existing, (missing.0, missing.1.replace(&fake_op, &op)));

    // An organization defines as many clusters as its limit allows, not
    // every name it can think of.
    for name in ["squat-1", "squat-2"] {
        s.run_as(
            &[
                "cluster",
                "create",
                name,
                "--blueprint",
                "local",
                "--org",
                "squat",
            ],
            Some(&mallory),
        )
        .expect_code(0);
    }
    let more = s.run_as(
        &[
            "cluster",
            "create",
            "research-2",
            "--blueprint",
            "local",
            "--org",
            "squat",
            "--json",
        ],
        Some(&mallory),
    );
    more.expect_code(4);
    assert_eq!(more.error_json()["error"]["code"], "limit_exceeded");
    assert!(
        more.error_json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("max_defined_clusters"),
        "{}",
        more.stderr()
    );
    // An administrator releases a name another organization needs.
    s.run(&["cluster", "remove", "squat-2"]).expect_code(0);
    s.run_as(
        &[
            "cluster",
            "create",
            "squat-2",
            "--blueprint",
            "local",
            "--org",
            "research",
        ],
        Some(&alice),
    )
    .expect_code(0);
    s.run_as(&["destroy", "secret-lab"], Some(&alice))
        .expect_code(0);
}
