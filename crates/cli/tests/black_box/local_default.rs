//! The quick start: `slipway serve` with no options serves on the default
//! address with the default data directory, and the CLI finds its admin
//! token there — no copy and paste.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use crate::common::*;

#[test]
fn the_local_default_server_needs_no_token() {
    assert!(
        std::net::TcpListener::bind("127.0.0.1:7878").is_ok(),
        "this test runs a server on the default address 127.0.0.1:7878, which is taken"
    );
    let home = tempfile::tempdir().unwrap();
    let data_home = home.path().join("data");
    // The launcher is installed once per machine; share it.
    let tools_dir = slipway_engine::terraform::default_tools_dir();
    let with_env = |cmd: &mut Command| {
        cmd.env("XDG_DATA_HOME", &data_home)
            .env("SLIPWAY_TERRAFORM__TOOLS_DIR", &tools_dir)
            .env_remove("SLIPWAY_TOKEN")
            .env_remove("SLIPWAY_URL")
            .env_remove("SLIPWAY_DATA_DIR")
            .env_remove("SLIPWAY_LISTEN");
    };
    let mut serve = Command::new(slipway());
    serve
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    with_env(&mut serve);
    let mut server = serve.spawn().unwrap();
    let stdout = server.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let serving = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.starts_with("Slipway is serving on"))
        .expect("the server says where it serves");
    assert_eq!(serving, "Slipway is serving on http://127.0.0.1:7878");
    assert!(data_home.join("slipway").join("admin.token").is_file());

    let mut create = Command::new(slipway());
    create.args(["cluster", "create", "quick", "--blueprint", "local"]);
    with_env(&mut create);
    let out = create.output().unwrap();
    let _ = server.kill();
    let _ = server.wait();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
