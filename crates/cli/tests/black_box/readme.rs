//! Every command in the README runs as written. The test takes each ```sh
//! block of README.md, in order, and runs its commands one by one with
//! `bash` against a real server it starts (a fresh data directory on a free
//! port), asserting each one's exit status is 0.
//!
//! What it maps, and nothing else:
//! - `alias slipway=target/release/slipway` → a shell function running the
//!   binary these tests built;
//! - the server: `SLIPWAY_URL` and `SLIPWAY_TOKEN` name the test's server and
//!   its bootstrap token (the README's local server on 127.0.0.1:7878 would
//!   find the token in its data directory itself), `127.0.0.1:7878` in a
//!   command becomes the test server's address, and `~/.local/share/slipway`
//!   is its data directory (`HOME` is a fresh directory of the test's own);
//! - a line that needs `jq`, `curl` or `grpcurl` where it is not installed is
//!   skipped, and the output says so.
//!
//! Blocks that cannot run here, and blocks that wait for work done beside
//! this, are listed below with the reason, and printed.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// Blocks that cannot run in a test, by a command in them, and why.
const CANNOT_RUN_HERE: &[(&str, &str)] = &[
    (
        "cargo run --release -- serve",
        "builds Slipway and serves it on the default port until stopped: the test starts the built binary itself, on a free port",
    ),
    ("./scripts/test", "the whole test suite, this test among it"),
    (
        "pip install './clients/python[requests]'",
        "installs into whichever Python is at hand: ./scripts/test installs the package into .tools/venv, and clients::the_readme_examples_run_as_written runs the example after it",
    ),
    (
        "npm install ./clients/js",
        "adds a node_modules to the current directory: clients::the_readme_examples_run_as_written runs the example after it with the package linked instead",
    ),
    (
        "slipway serve  --database postgres://slipway@db/slipway",
        "replicas and a worker on other hosts sharing a PostgreSQL at db and a load balancer at slipway.example (tests/black_box/replicas.rs runs that set-up locally)",
    ),
];

/// Blocks that need work being done beside this one (issue 17) before they
/// can pass, by a command in them, and what they wait for. Remove an entry
/// once that work has landed: the block then runs like the others.
const WAITING_FOR_OTHER_WORK: &[(&str, &str)] = &[];

/// Tools a README line may use that this machine may not have.
const OPTIONAL_TOOLS: &[&str] = &["jq", "curl", "grpcurl"];

/// One ```sh block: where it is, and its commands (a command may span lines
/// ending in `\`).
struct Block {
    section: String,
    line: usize,
    commands: Vec<(usize, String)>,
}

fn readme() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sh_blocks(readme: &str) -> Vec<Block> {
    let mut blocks = Vec::new();
    let mut section = String::new();
    let mut current: Option<Block> = None;
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in readme.lines().enumerate() {
        let number = i + 1;
        match &mut current {
            None => {
                if line.starts_with('#') {
                    section = line.trim_start_matches('#').trim().to_owned();
                } else if line.trim() == "```sh" {
                    current = Some(Block {
                        section: section.clone(),
                        line: number,
                        commands: Vec::new(),
                    });
                }
            }
            Some(block) => {
                if line.trim() == "```" {
                    assert!(
                        pending.is_none(),
                        "README.md:{number}: the block ends inside a command"
                    );
                    blocks.push(current.take().expect("a block"));
                    continue;
                }
                let (start, mut text) = pending.take().unwrap_or((number, String::new()));
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(line);
                if line.trim_end().ends_with('\\') {
                    pending = Some((start, text));
                } else if !text.trim().is_empty() && !text.trim_start().starts_with('#') {
                    block.commands.push((start, text));
                }
            }
        }
    }
    assert!(current.is_none(), "README.md ends inside a ```sh block");
    blocks
}

fn listed<'a>(list: &'a [(&str, &str)], block: &Block) -> Option<&'a str> {
    list.iter()
        .find(|(needle, _)| block.commands.iter().any(|(_, c)| c.contains(needle)))
        .map(|(_, why)| *why)
}

/// The optional tools a command uses that are not installed.
fn missing_tools(command: &str) -> Vec<&'static str> {
    let words: Vec<&str> = command
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        .collect();
    OPTIONAL_TOOLS
        .iter()
        .copied()
        .filter(|tool| words.contains(tool) && !installed(tool))
        .collect()
}

#[test]
fn the_readme_extracts_its_blocks_and_every_skip_names_a_block_that_exists() {
    let blocks = sh_blocks(&readme());
    assert!(
        blocks.iter().any(|b| b.section == "Quick start"),
        "the Quick start has shell blocks"
    );
    for (needle, _) in CANNOT_RUN_HERE.iter().chain(WAITING_FOR_OTHER_WORK) {
        assert!(
            blocks
                .iter()
                .any(|b| b.commands.iter().any(|(_, c)| c.contains(needle))),
            "the skip entry {needle:?} matches no README block: remove it"
        );
    }
    // A continued command stays one command.
    let curl = blocks
        .iter()
        .flat_map(|b| &b.commands)
        .find(|(_, c)| c.starts_with("curl"))
        .expect("the Quick start's curl");
    assert!(curl.1.contains("/health"), "{}", curl.1);
}

#[test]
fn every_command_in_the_readme_runs_as_written() {
    let s = server();
    let home = tempfile::Builder::new()
        .prefix("slipway-readme-home-")
        .tempdir()
        .unwrap();
    let share = home.path().join(".local/share");
    std::fs::create_dir_all(&share).unwrap();
    std::os::unix::fs::symlink(s.data_dir(), share.join("slipway")).unwrap();
    let address = s.url.trim_start_matches("http://").to_owned();

    let mut ran = 0;
    let mut skipped: Vec<String> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    for block in sh_blocks(&readme()) {
        let place = format!("README.md:{} ({})", block.line, block.section);
        if let Some(why) = listed(CANNOT_RUN_HERE, &block) {
            skipped.push(format!("{place}: cannot run here: {why}"));
            continue;
        }
        if let Some(why) = listed(WAITING_FOR_OTHER_WORK, &block) {
            skipped.push(format!("{place}: waits for other work: {why}"));
            continue;
        }
        for (line, command) in &block.commands {
            if command.starts_with("alias slipway=") {
                println!(
                    "README.md:{line}: {command} → the built binary {}",
                    slipway().display()
                );
                continue;
            }
            let missing = missing_tools(command);
            if !missing.is_empty() {
                skipped.push(format!(
                    "README.md:{line}: {} not installed: {}",
                    missing.join(", "),
                    command.lines().next().unwrap_or_default()
                ));
                continue;
            }
            let script = format!(
                "set -o pipefail\nslipway() {{ \"$SLIPWAY_BIN\" \"$@\"; }}\n{}\n",
                command.replace("127.0.0.1:7878", &address)
            );
            let out = Command::new("timeout")
                .args(["900", "bash", "-c", &script])
                .current_dir(repository_root())
                .env("HOME", home.path())
                .env("XDG_CONFIG_HOME", home.path().join(".config"))
                .env("SLIPWAY_BIN", slipway())
                .env("SLIPWAY_URL", &s.url)
                .env("SLIPWAY_TOKEN", &s.token)
                .env_remove("SLIPWAY_GITHUB_TOKEN")
                .output()
                .expect("run bash");
            ran += 1;
            let code = out.status.code().unwrap_or(-1);
            println!("README.md:{line}: exit {code}: {command}");
            if code != 0 {
                failed.push(format!(
                    "README.md:{line}: exit {code}: {command}\nstdout:\n{}\nstderr:\n{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    println!("\n{ran} README commands ran; skipped:");
    for skip in &skipped {
        println!("  {skip}");
    }
    assert!(ran > 0, "no README command ran");
    assert!(
        failed.is_empty(),
        "README commands that fail as written:\n{}\n\nserver log:\n{}",
        failed.join("\n\n"),
        s.log()
    );
}
