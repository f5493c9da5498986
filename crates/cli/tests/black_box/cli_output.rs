//! What a user of the command line meets: one JSON shape for every list and
//! every error, aligned tables with a header, `cancel` saying what came of
//! it, and shell completions and manual pages that cover every command.

use std::collections::BTreeSet;
use std::process::Stdio;

use crate::common::*;
use serde_json::Value;

/// Asserts `document` is a list as every list command prints it:
/// `{"<key>": [...], "next_cursor": null | "…"}`, and nothing else but the
/// keys in `beside`. Returns the items.
#[track_caller]
fn assert_list<'a>(document: &'a Value, key: &str, beside: &[&str]) -> &'a Vec<Value> {
    let object = document
        .as_object()
        .unwrap_or_else(|| panic!("a list is an object, not {document}"));
    let keys: BTreeSet<&str> = object.keys().map(String::as_str).collect();
    let mut expected: BTreeSet<&str> = [key, "next_cursor"].into_iter().collect();
    expected.extend(beside);
    assert_eq!(keys, expected, "{document}");
    assert!(
        document["next_cursor"].is_null() || document["next_cursor"].is_string(),
        "{document}"
    );
    document[key]
        .as_array()
        .unwrap_or_else(|| panic!("{key} is an array: {document}"))
}

/// Runs a command with `--json` that must succeed, and returns its document.
#[track_caller]
fn json_of(s: &Server, args: &[&str]) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = s.run(&args);
    out.expect_code(0);
    out.json()
}

#[test]
fn every_list_command_prints_its_items_and_the_next_cursor() {
    let s = server();
    for name in ["alpha", "beta", "gamma"] {
        s.run(&["cluster", "create", name, "--blueprint", "local"])
            .expect_code(0);
    }
    // An operation that never starts (no worker offers the tag), for the
    // history and the log.
    s.run(&["cluster", "create", "waits", "--blueprint", "tagged"])
        .expect_code(0);
    let queued = json_of(&s, &["deploy", "waits", "--no-wait"]);
    let op = queued["operation"]["id"].as_str().unwrap().to_owned();
    s.run(&[
        "token",
        "create",
        "--name",
        "ci",
        "--scope",
        "clusters:read",
    ])
    .expect_code(0);
    s.run(&["org", "create", "research"]).expect_code(0);

    let all = json_of(&s, &["list"]);
    assert_eq!(assert_list(&all, "clusters", &[]).len(), 4);
    assert!(all["next_cursor"].is_null(), "the last page: {all}");
    let first = json_of(&s, &["list", "--limit", "2"]);
    assert_eq!(assert_list(&first, "clusters", &[]).len(), 2);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("more pages")
        .to_owned();
    let rest = json_of(&s, &["list", "--cursor", &cursor]);
    let names: Vec<&str> = assert_list(&rest, "clusters", &[])
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["gamma", "waits"]);

    let history = json_of(&s, &["history", "waits"]);
    let operations = assert_list(&history, "operations", &[]);
    assert_eq!(operations[0]["id"], op.as_str());
    assert!(operations[0]["states"].is_array(), "{history}");

    let log = json_of(&s, &["logs", &op]);
    assert_list(&log, "events", &["operation"]);
    assert_eq!(log["operation"]["id"], op.as_str());

    assert_list(&json_of(&s, &["runs"]), "runs", &[]);
    assert_list(&json_of(&s, &["runs", "alpha"]), "runs", &[]);
    assert_list(&json_of(&s, &["runs", "--report"]), "runs", &[]);
    let tokens = json_of(&s, &["token", "list"]);
    assert_eq!(assert_list(&tokens, "tokens", &[]).len(), 2, "{tokens}");
    assert_list(
        &json_of(&s, &["org", "members", "research"]),
        "members",
        &[],
    );
    assert_list(
        &json_of(&s, &["capacity", "list", "alpha"]),
        "requests",
        &[],
    );

    // The audit log pages backwards with the cursor.
    let page = json_of(&s, &["audit", "--limit", "2"]);
    let entries = assert_list(&page, "entries", &[]);
    assert_eq!(entries.len(), 2);
    let cursor = page["next_cursor"].as_str().expect("a full page has more");
    let next = json_of(&s, &["audit", "--limit", "2", "--cursor", cursor]);
    let older = assert_list(&next, "entries", &[]);
    assert!(!older.is_empty());
    let last_seen = entries[1]["id"].as_i64().unwrap();
    assert!(
        older.iter().all(|e| e["id"].as_i64().unwrap() < last_seen),
        "{page}\n{next}"
    );

    // A change that answered nothing now answers what it did.
    let id = tokens["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let revoked = json_of(&s, &["token", "revoke", &id]);
    assert_eq!(revoked["result"], "revoked");
    assert_eq!(revoked["token"], id.as_str());
}

/// Runs a command with `--json` that must fail with `code`; returns its
/// error, checking it is the one document on stderr and stdout is empty.
#[track_caller]
/// 200 clusters, searched, filtered and paged both ways, through the API
/// and `slipway list`: the filters hold across pages (one public cluster
/// past the first hundred is found), and Previous from a page leads back to
/// the one before it.
#[test]
fn two_hundred_clusters_are_searched_filtered_and_paged_both_ways() {
    let s = server();
    let client = reqwest::blocking::Client::new();
    for i in 0..200 {
        let response = client
            .post(format!("{}/v1/clusters", s.url))
            .bearer_auth(&s.token)
            .json(&serde_json::json!({
                "name": format!("c{i:03}"),
                "blueprint": "local",
                "public": i == 150,
            }))
            .send()
            .unwrap();
        assert_eq!(response.status().as_u16(), 201, "c{i:03}");
    }
    let list = |query: &str| -> Value {
        api(&s, "GET", &format!("/v1/clusters?{query}"))
            .send()
            .unwrap()
            .json()
            .unwrap()
    };
    let names = |page: &Value| -> Vec<String> {
        page["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_owned())
            .collect()
    };

    let public = list("public=true");
    assert_eq!(
        names(&public),
        ["c150"],
        "the one public cluster, past the first hundred"
    );
    let searched = list("search=c01");
    assert_eq!(names(&searched).len(), 10, "c010 to c019: {searched}");
    assert_eq!(names(&list("search=c01&state=running")).len(), 0);
    assert_eq!(names(&list("state=absent&limit=500")).len(), 200);
    assert_eq!(
        names(&list("mine=true&limit=500")).len(),
        200,
        "the admin defined them all"
    );

    // Forwards by 60, then back: the same pages.
    let mut forwards = Vec::new();
    let mut page = list("limit=60");
    assert!(
        page.get("prev_cursor").is_none(),
        "the first page has none before it"
    );
    loop {
        forwards.push(names(&page));
        let Some(next) = page["next_cursor"].as_str().map(str::to_owned) else {
            break;
        };
        page = list(&format!("limit=60&cursor={next}"));
    }
    assert_eq!(
        forwards.iter().map(Vec::len).collect::<Vec<_>>(),
        [60, 60, 60, 20]
    );
    let before = forwards[3][0].clone();
    let back = list(&format!("limit=60&before={before}"));
    assert_eq!(
        names(&back),
        forwards[2],
        "Previous from the last page is the third"
    );
    assert_eq!(back["next_cursor"], forwards[2][59].as_str());

    let refused = list("search=C%25");
    assert_eq!(refused["error"]["field"], "search", "{refused}");

    let cli = json_of(&s, &["list", "--search", "c19", "--state", "absent"]);
    assert_eq!(assert_list(&cli, "clusters", &[]).len(), 10);
    let paged = s.run(&["list", "--state", "absent", "--limit", "50"]);
    paged.expect_code(0);
    let hint = paged.stderr();
    assert!(
        hint.contains("more: slipway list --cursor c049 --state absent --limit 50"),
        "the next page keeps the filters: {hint}"
    );
    let cli = json_of(&s, &["list", "--public"]);
    assert_eq!(assert_list(&cli, "clusters", &[])[0]["name"], "c150");
}

fn error_of(s: &Server, args: &[&str], code: i32) -> Value {
    let mut args = args.to_vec();
    args.push("--json");
    let out = s.run(&args);
    out.expect_code(code);
    assert_eq!(out.stdout(), "", "nothing on stdout");
    let error: Value = serde_json::from_str(out.stderr().trim())
        .unwrap_or_else(|e| panic!("stderr is one JSON document ({e}):\n{}", out.stderr()));
    let detail = error["error"]
        .as_object()
        .unwrap_or_else(|| panic!("{{\"error\": {{…}}}}: {error}"));
    for key in detail.keys() {
        assert!(
            ["code", "message", "field", "operation"].contains(&key.as_str()),
            "{error}"
        );
    }
    assert!(error["error"]["code"].is_string(), "{error}");
    assert!(
        error["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{error}"
    );
    error
}

#[test]
fn every_error_is_the_error_document_on_stderr() {
    let s = server();
    s.run(&["cluster", "create", "a", "--blueprint", "local"])
        .expect_code(0);

    // The command line's own: an unknown flag, a missing argument, a value
    // that does not parse, flags that exclude each other.
    let e = error_of(&s, &["list", "--bogus"], 2);
    assert_eq!(e["error"]["code"], "invalid_request");
    assert_eq!(e["error"]["field"], "bogus");
    let e = error_of(&s, &["deploy"], 2);
    assert_eq!(e["error"]["field"], "name");
    let e = error_of(&s, &["list", "--limit", "many"], 2);
    assert_eq!(e["error"]["field"], "limit");
    let e = error_of(&s, &["extend", "a"], 2);
    assert_eq!(e["error"]["field"], "at", "{e}");
    let e = error_of(
        &s,
        &[
            "deploy",
            "a",
            "--ttl",
            "1h",
            "--destroy-at",
            "2030-01-01T00:00:00Z",
        ],
        2,
    );
    assert_eq!(e["error"]["field"], "ttl");
    let e = error_of(&s, &["completions", "tcsh"], 2);
    assert_eq!(e["error"]["field"], "shell");
    // Checked by the CLI before it asks the server.
    let e = error_of(&s, &["deploy", "a", "--destroy-at", "tomorrow"], 2);
    assert_eq!(e["error"]["field"], "destroy_at");
    let e = error_of(&s, &["deploy", "a", "--wait", "forever"], 2);
    assert_eq!(e["error"]["field"], "wait");
    let e = error_of(
        &s,
        &[
            "cluster",
            "create",
            "b",
            "--blueprint",
            "local",
            "--var",
            "x",
        ],
        2,
    );
    assert_eq!(e["error"]["field"], "variables");
    let e = error_of(&s, &["org", "account", "default", "--balance", "10"], 2);
    assert_eq!(e["error"]["field"], "reason");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("--reason"),
        "{e}"
    );
    let e = error_of(&s, &["list", "--server", "ftp://example"], 2);
    assert_eq!(e["error"]["field"], "server");

    // The server's: not found, not allowed, a rule.
    let e = error_of(&s, &["status", "nope"], 2);
    assert_eq!(e["error"]["code"], "not_found");
    let e = error_of(&s, &["extend", "a", "--in", "1h"], 4);
    assert_eq!(e["error"]["code"], "not_deployed");
    let out = s.run_as(&["list", "--json"], Some("slw_not-a-real-token"));
    out.expect_code(3);
    assert_eq!(out.error_json()["error"]["code"], "unauthenticated");

    // No server there at all.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let nobody = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let e = error_of(&s, &["list", "--server", &nobody], 1);
    assert_eq!(e["error"]["code"], "unavailable");
    assert!(
        e["error"]["message"].as_str().unwrap().contains(&nobody),
        "{e}"
    );
}

#[test]
fn an_operation_that_fails_or_outlasts_the_wait_ends_in_the_error_document() {
    let s = server();
    s.run(&[
        "cluster",
        "create",
        "f",
        "--blueprint",
        "flaky",
        "--var",
        "fail_apply=true",
    ])
    .expect_code(0);
    let out = s.run(&["deploy", "f", "--json"]);
    out.expect_code(1);
    // What happened on stdout, why it is a failure on stderr.
    let response = out.json();
    let op = response["operation"]["id"].as_str().unwrap();
    assert_eq!(response["operation"]["state"], "failed", "{response}");
    let error = out.error_json();
    assert_eq!(error["error"]["code"], "operation_failed", "{error}");
    assert_eq!(error["error"]["operation"], op, "{error}");
    assert_eq!(
        out.stderr().trim().lines().count(),
        1,
        "one document: {}",
        out.stderr()
    );
    let logs = s.run(&["logs", op, "--json"]);
    logs.expect_code(1);
    assert_eq!(logs.error_json()["error"]["operation"], op);

    // Still running when the wait ends: exit 5, naming the operation.
    let slow = queue_slow_deploy(&s, "slow", 1, 600);
    let out = s.run(&["deploy", "slow", "--wait", "1s", "--json"]);
    out.expect_code(5);
    let error = out.error_json();
    assert_eq!(error["error"]["code"], "still_running", "{error}");
    assert_eq!(error["error"]["operation"], slow.as_str(), "{error}");
    s.run(&["cancel", &slow]).expect_code(0);
}

#[test]
fn org_account_hints_name_the_reason() {
    let s = server();
    let shown = s.run(&["org", "account", "default"]);
    shown.expect_code(0);
    assert!(
        shown.stdout().contains("--reason"),
        "the hint to open an account names --reason: {}",
        shown.stdout()
    );
    let refused = s.run(&["org", "account", "default", "--allowance", "500"]);
    refused.expect_code(2);
    assert!(
        refused.stderr().contains("--reason"),
        "{}",
        refused.stderr()
    );
    // Nothing was opened by it.
    assert_eq!(
        s.run(&["org", "account", "default", "--json"]).json()["opened"],
        false
    );
}

/// The column each header cell starts at.
fn columns(header: &str) -> Vec<(String, usize)> {
    let mut found = Vec::new();
    let mut start = None;
    let bytes = header.as_bytes();
    for i in 0..=bytes.len() {
        let gap = i == bytes.len() || (bytes[i] == b' ' && bytes.get(i + 1) == Some(&b' '));
        match (start, gap) {
            (None, false) if bytes[i] != b' ' => start = Some(i),
            (Some(s), true) => {
                found.push((header[s..i].to_owned(), s));
                start = None;
            }
            _ => {}
        }
    }
    found
}

/// Asserts `text` is a table: a header of the `expected` columns, and rows
/// whose cells start where their column's header does (left-aligned
/// columns) or end where it ends (numbers), with no trailing spaces and no
/// colour.
#[track_caller]
fn assert_table(text: &str, expected: &[&str], rows: usize) {
    assert!(
        !text.contains('\u{1b}'),
        "no colour when not a terminal: {text}"
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), rows + 1, "a header and {rows} rows:\n{text}");
    let header = columns(lines[0]);
    let names: Vec<&str> = header.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, expected, "{text}");
    for line in &lines {
        assert_eq!(line.trim_end(), *line, "no trailing spaces:\n{text}");
    }
    for row in &lines[1..] {
        for (i, (name, start)) in header.iter().enumerate() {
            let end = start + name.len();
            let left = *start == 0 || row.as_bytes().get(start - 1) == Some(&b' ');
            let starts_here = left && row.as_bytes().get(*start).is_some_and(|b| *b != b' ');
            let ends_here = row.as_bytes().get(end - 1).is_some_and(|b| *b != b' ')
                && row.as_bytes().get(end).is_none_or(|b| *b == b' ');
            assert!(
                starts_here || ends_here,
                "column {i} ({name}) is not aligned in {row:?}:\n{text}"
            );
        }
    }
}

#[test]
fn lists_for_people_are_aligned_tables_with_a_header() {
    let s = server();
    for name in ["a", "a-cluster-with-a-much-longer-name"] {
        s.run(&["cluster", "create", name, "--blueprint", "local"])
            .expect_code(0);
    }
    s.run(&["cluster", "create", "waits", "--blueprint", "tagged"])
        .expect_code(0);
    s.run(&["deploy", "waits", "--no-wait"]).expect_code(0);
    s.run(&[
        "token",
        "create",
        "--name",
        "a-token",
        "--scope",
        "clusters:read",
    ])
    .expect_code(0);

    let list = s.run(&["list"]);
    list.expect_code(0);
    assert_table(
        &list.stdout(),
        &["NAME", "STATE", "NODES", "DESTROY AT", "ENDPOINT"],
        3,
    );
    let history = s.run(&["history", "waits"]);
    history.expect_code(0);
    assert_table(
        &history.stdout(),
        &[
            "OPERATION",
            "KIND",
            "STATE",
            "REASON",
            "REQUESTED BY",
            "CREATED",
            "STATES",
        ],
        1,
    );
    let tokens = s.run(&["token", "list"]);
    tokens.expect_code(0);
    assert_table(
        &tokens.stdout(),
        &["ID", "NAME", "OWNER", "SCOPES", "EXPIRES"],
        2,
    );
    let audit = s.run(&["audit", "--limit", "3"]);
    audit.expect_code(0);
    assert_table(
        &audit.stdout(),
        &["AT", "ACTOR", "LEVEL", "ACTION", "TARGET", "RESULT"],
        3,
    );
    // A full page says where the next one starts.
    assert!(
        audit.stderr().contains("slipway audit --cursor"),
        "{}",
        audit.stderr()
    );
}

#[test]
fn cancel_says_whether_it_cancelled_asked_to_stop_or_came_too_late() {
    let s = server();
    // Queued, never to start (no worker offers the tag): cancelled at once.
    s.run(&["cluster", "create", "waits", "--blueprint", "tagged"])
        .expect_code(0);
    let queued = s.run(&["deploy", "waits", "--no-wait", "--json"]);
    queued.expect_code(0);
    let op = queued.json()["operation"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled = s.run(&["cancel", &op, "--json"]);
    cancelled.expect_code(0);
    let cancelled = cancelled.json();
    assert_eq!(cancelled["result"], "cancelled", "{cancelled}");
    assert_eq!(cancelled["operation"]["state"], "cancelled");

    // Running: the cancel is requested, and its worker stops it.
    let running = queue_slow_deploy(&s, "slow", 1, 600);
    follow_until_a_node_starts(&s, &running);
    let requested = s.run(&["cancel", &running]);
    requested.expect_code(0);
    assert!(
        requested.stdout().contains("Cancel requested"),
        "{}",
        requested.stdout()
    );
    assert!(
        requested.stdout().contains(&running),
        "{}",
        requested.stdout()
    );
    // Following the log ends when the operation does.
    s.run(&["logs", &running, "--follow"]);
    let ended = json_of(&s, &["logs", &running]);
    assert_eq!(ended["operation"]["state"], "cancelled", "{ended}");

    // Ended: too late, nothing cancelled, exit 4 naming the operation.
    let late = s.run(&["cancel", &running]);
    late.expect_code(4);
    assert!(late.stderr().contains("too late"), "{}", late.stderr());
    let late = s.run(&["cancel", &running, "--json"]);
    late.expect_code(4);
    assert_eq!(late.stdout(), "");
    let error = late.error_json();
    assert_eq!(error["error"]["code"], "already_ended", "{error}");
    assert_eq!(error["error"]["operation"], running.as_str(), "{error}");
}

/// The commands the binary offers, as its own help lists them: every path
/// from `slipway` to a command (`["org", "account"]`), found by asking
/// `slipway help` at each level — the command line's definition, not a list
/// kept by hand.
fn command_paths() -> Vec<Vec<String>> {
    fn children(path: &[String]) -> Vec<String> {
        let out = std::process::Command::new(slipway())
            .args(path)
            .arg("--help")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "slipway {path:?} --help");
        let help = String::from_utf8(out.stdout).unwrap();
        let Some((_, commands)) = help.split_once("Commands:\n") else {
            return Vec::new();
        };
        commands
            .lines()
            .take_while(|l| l.starts_with("  "))
            .filter(|l| !l.starts_with("   "))
            .filter_map(|l| l.split_whitespace().next())
            .filter(|name| *name != "help")
            .map(str::to_owned)
            .collect()
    }
    let mut paths = Vec::new();
    let mut todo = vec![Vec::new()];
    while let Some(path) = todo.pop() {
        for child in children(&path) {
            let mut sub = path.clone();
            sub.push(child);
            todo.push(sub.clone());
            paths.push(sub);
        }
    }
    paths.sort();
    paths
}

#[test]
fn completions_and_man_pages_cover_every_command() {
    let paths = command_paths();
    for expected in [
        &["deploy"][..],
        &["org", "account"],
        &["completions"],
        &["man"],
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected:?} in {paths:?}"
        );
    }
    assert!(
        !paths.iter().any(|p| p[0] == "node" || p[0] == "job"),
        "hidden"
    );

    // bash: the script names every command, and bash completes with it.
    let bash = std::process::Command::new(slipway())
        .args(["completions", "bash"])
        .output()
        .unwrap();
    assert!(bash.status.success());
    let script = String::from_utf8(bash.stdout).unwrap();
    let words: BTreeSet<&str> = script
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .collect();
    for path in &paths {
        let name = path.last().unwrap();
        assert!(
            words.contains(name.as_str()),
            "the bash completion names {path:?}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("slipway.bash");
    std::fs::write(&file, &script).unwrap();
    let complete = |words: &str| -> Vec<String> {
        let words: Vec<&str> = words.split(' ').collect();
        let program = format!(
            "source {file}\nCOMP_WORDS=({words})\nCOMP_CWORD={cword}\nCOMP_LINE=\"{line}\"\nCOMP_POINT=${{#COMP_LINE}}\n_slipway slipway \"{cur}\" \"{prev}\"\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file = file.display(),
            words = words.join(" "),
            cword = words.len() - 1,
            line = words.join(" "),
            cur = words[words.len() - 1],
            prev = words[words.len() - 2],
        );
        let out = std::process::Command::new("bash")
            .args(["-c", &program])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .map(str::to_owned)
            .collect()
    };
    let offered = complete("slipway de");
    assert!(
        offered.contains(&"deploy".to_owned()) && offered.contains(&"destroy".to_owned()),
        "{offered:?}"
    );
    let offered = complete("slipway org acc");
    assert_eq!(offered, ["account"], "{offered:?}");
    let offered = complete("slipway deploy x --no");
    assert!(offered.contains(&"--nodes".to_owned()), "{offered:?}");

    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = std::process::Command::new(slipway())
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success(), "{shell}");
        let script = String::from_utf8(out.stdout).unwrap();
        assert!(script.contains("schedule-destroy"), "{shell}");
    }

    // Manual pages: slipway.1, and one per command named after its path.
    let man = dir.path().join("man1");
    let out = std::process::Command::new(slipway())
        .args(["man", "--dir"])
        .arg(&man)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let main = std::fs::read_to_string(man.join("slipway.1")).unwrap();
    assert!(
        main.starts_with(".ie") || main.contains(".TH slipway 1"),
        "{main}"
    );
    for path in &paths {
        let page = man.join(format!("slipway-{}.1", path.join("-")));
        let text =
            std::fs::read_to_string(&page).unwrap_or_else(|e| panic!("{}: {e}", page.display()));
        assert!(text.contains(".TH"), "{} is a manual page", page.display());
        assert!(
            text.contains(&format!("slipway-{}", path.join("-")).replace('-', "\\-")),
            "{} names its command",
            page.display()
        );
        if path.len() == 1 {
            assert!(
                main.contains(&path[0].replace('-', "\\-")),
                "slipway.1 lists {path:?}"
            );
        }
    }
    let pages = std::fs::read_dir(&man).unwrap().count();
    assert_eq!(
        pages,
        paths.len() + 1,
        "one page per command, and slipway.1"
    );
    if installed("man") {
        let out = std::process::Command::new("man")
            .args(["-l"])
            .arg(man.join("slipway-org-account.1"))
            .env("MANPAGER", "cat")
            .env("MANWIDTH", "80")
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("--reason"), "{text}");
    }
}
