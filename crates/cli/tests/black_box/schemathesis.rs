//! The OpenAPI document says what the server really answers: schemathesis
//! (a tool no one here wrote) generates requests from it — examples,
//! boundary values, random and invalid inputs, and sequences that follow
//! the document's links — against a real server, and checks every answer:
//! no 5xx, every status documented, every content type and body as the
//! document says.

use std::process::Command;

use crate::common::*;
use slipway_testkit::github::FakeGitHub;

#[test]
fn the_api_answers_as_its_openapi_document_says() {
    // GitHub sign-in is configured (against the fake), so its routes answer
    // as they would in production rather than "not configured".
    let github = FakeGitHub::start();
    github.add_user("octocat", 1, "gho_octocat", &["read:org"]);
    let s = server_with(Options {
        env: [
            // The run sends far more requests than a person would; the
            // rate limits are tested elsewhere.
            ("SLIPWAY_AUTH__RATE_LIMITS__API_PER_SECOND", "100000"),
            ("SLIPWAY_AUTH__RATE_LIMITS__API_BURST", "100000"),
            ("SLIPWAY_AUTH__RATE_LIMITS__LOGIN_PER_SECOND", "100000"),
            ("SLIPWAY_AUTH__RATE_LIMITS__LOGIN_BURST", "100000"),
            (
                "SLIPWAY_AUTH__RATE_LIMITS__FAILED_AUTH_PER_MINUTE",
                "1000000",
            ),
            ("SLIPWAY_AUTH__RATE_LIMITS__FAILED_AUTH_BURST", "100000"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .chain(github_env(&github))
        .collect(),
        ..Options::default()
    });
    // Real resources for the path parameters, so requests reach the logic
    // behind them rather than stopping at "not found": a deployed cluster
    // and the default organization.
    s.run(&["cluster", "create", "sample", "--blueprint", "local"])
        .expect_code(0);
    s.run(&["deploy", "sample"]).expect_code(0);
    std::fs::write(
        s.data_dir().join("schemathesis.toml"),
        r#"
# Streams end only when what they follow does: check the first event of each.
max-stream-events = 1

[[operations]]
include-path-regex = "^/v1/clusters/\\{name\\}"
parameters = { "path.name" = "sample" }

[[operations]]
include-path-regex = "^/v1/orgs/\\{name\\}"
parameters = { "path.name" = "default" }
"#,
    )
    .expect("write schemathesis.toml");
    let report = s.data_dir().join("schemathesis");
    let out = Command::new(slipway_testkit::python_tool("schemathesis"))
        .current_dir(s.data_dir())
        .args(["run", &format!("{}/v1/openapi.json", s.url)])
        .args(["--header", &format!("Authorization: Bearer {}", s.token)])
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--max-examples",
            "15",
            "--seed",
            "20261130",
            "--generation-deterministic",
            "--request-timeout",
            "30",
            "--workers",
            "2",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
        ])
        .arg(&report)
        .output()
        .expect("run schemathesis");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "schemathesis found failures:\n{stdout}\n{}\nserver log:\n{}",
        String::from_utf8_lossy(&out.stderr),
        s.log()
    );
    // It really ran: every operation of the document was tested.
    assert!(stdout.contains("Tested:"), "{stdout}");
}
