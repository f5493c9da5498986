//! The OpenAPI document says what the server really answers: schemathesis
//! (a tool no one here wrote) generates requests from it — examples,
//! boundary values, random and invalid inputs, and sequences that follow
//! the document's links — against a real server, and checks every answer:
//! no 5xx, every status documented, every content type and body as the
//! document says.

mod common;

use std::process::Command;

use common::*;

#[test]
fn the_api_answers_as_its_openapi_document_says() {
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
        .collect(),
        ..Options::default()
    });
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
