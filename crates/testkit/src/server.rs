//! A real `slipway serve` on a free port with a fresh data directory, driven
//! the way a user drives it: through the binary.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// How long a server may take to start (a first start may install Terraform).
const START_TIMEOUT: Duration = Duration::from_secs(180);

/// A running Slipway server. Dropping it kills the server and every node
/// process its clusters left behind.
pub struct Server {
    bin: PathBuf,
    data_dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    env: Vec<(String, String)>,
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// The bootstrap admin token.
    pub token: String,
    log: PathBuf,
}

/// How to start a server.
#[derive(Default, Clone)]
pub struct Options {
    /// A database URL (default: SQLite in the data directory).
    pub database_url: Option<String>,
    /// Extra environment for the server (`SLIPWAY_*` configuration).
    pub env: Vec<(String, String)>,
    /// The admin token, when another replica created it first.
    pub token: Option<String>,
}

impl Server {
    /// Starts `slipway serve` (the binary at `bin`) with a fresh data
    /// directory on a free port.
    pub fn start(bin: &Path) -> Self {
        Self::start_with(bin, Options::default())
    }

    pub fn start_with(bin: &Path, options: Options) -> Self {
        let temp = tempfile::Builder::new()
            .prefix("slipway-test-")
            .tempdir()
            .expect("a temporary data directory");
        let data_dir = temp.path().to_owned();
        let mut env = options.env.clone();
        if let Some(url) = options.database_url {
            env.push(("SLIPWAY_DATABASE_URL".into(), url));
        }
        let mut server = Server {
            bin: bin.to_owned(),
            log: data_dir.join("server.log"),
            data_dir,
            _temp: Some(temp),
            env,
            child: None,
            url: String::new(),
            token: String::new(),
        };
        server.launch("127.0.0.1:0");
        server.token = match options.token {
            Some(token) => token,
            None => std::fs::read_to_string(server.data_dir.join("admin.token"))
                .expect("the first start writes admin.token")
                .trim()
                .to_owned(),
        };
        server
    }

    /// Starts the binary and waits for the line that says where it serves.
    fn launch(&mut self, listen: &str) {
        // Private like everything else in the data directory.
        let log = std::os::unix::fs::OpenOptionsExt::mode(
            std::fs::OpenOptions::new().create(true).append(true),
            0o600,
        )
        .open(&self.log)
        .expect("server log");
        let mut child = Command::new(&self.bin)
            .args(["serve", "--listen", listen, "--data-dir"])
            .arg(&self.data_dir)
            // The options' environment may set its own (a benchmark's `warn`).
            .env("SLIPWAY_LOG", "info,slipway=debug")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start slipway serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("Slipway is serving on ") {
                    let _ = tx.send(url.to_owned());
                }
            }
        });
        self.child = Some(child);
        match rx.recv_timeout(START_TIMEOUT) {
            Ok(url) => self.url = url,
            Err(_) => panic!(
                "slipway serve did not start within {START_TIMEOUT:?}; its log:\n{}",
                self.log()
            ),
        }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `slipway ARGS` against this server, with its admin token. The
    /// client's configuration (saved logins) lives in the data directory,
    /// away from the user's own.
    pub fn cli(&self, args: &[&str]) -> Command {
        let mut cmd = self.cli_as(args, Some(&self.token));
        cmd.env("SLIPWAY_TOKEN", &self.token);
        cmd
    }

    /// `slipway ARGS` with `token` (none: no token at all).
    pub fn cli_as(&self, args: &[&str], token: Option<&str>) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .env("SLIPWAY_URL", &self.url)
            .env("XDG_CONFIG_HOME", self.data_dir.join("client-config"))
            .env_remove("SLIPWAY_TOKEN")
            .env_remove("SLIPWAY_GITHUB_TOKEN")
            .stdin(Stdio::null());
        if let Some(token) = token {
            cmd.env("SLIPWAY_TOKEN", token);
        }
        cmd
    }

    /// Runs `slipway ARGS` with `token` (none: no token at all).
    pub fn run_as(&self, args: &[&str], token: Option<&str>) -> CliOutput {
        CliOutput(self.cli_as(args, token).output().expect("run slipway"))
    }

    /// `METHOD PATH` with the admin token and a JSON body (none: no body):
    /// the answer's JSON (null when it has none); anything but a 2xx panics,
    /// naming the path.
    pub fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> serde_json::Value {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("an HTTP method");
        let mut request = reqwest::blocking::Client::new()
            .request(method, format!("{}{path}", self.url))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().expect("the API answers");
        let status = response.status();
        let text = response.text().unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {text}");
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// Runs `slipway ARGS` and returns its output.
    pub fn run(&self, args: &[&str]) -> CliOutput {
        CliOutput(self.cli(args).output().expect("run slipway"))
    }

    /// Kills the server with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Sets an environment variable (`SLIPWAY_*` configuration) for the
    /// next start: [`Server::restart`] with different settings.
    pub fn set_env(&mut self, key: &str, value: &str) {
        self.env.retain(|(k, _)| k != key);
        self.env.push((key.to_owned(), value.to_owned()));
    }

    /// Starts the server again on the same data directory and port.
    pub fn restart(&mut self) {
        self.kill9();
        let listen = self.url.trim_start_matches("http://").to_owned();
        self.launch(&listen);
    }

    /// The pid of the server process.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
        // Whatever a test left deployed goes too.
        let runtime = self.data_dir.join("runtime");
        if let Ok(entries) = std::fs::read_dir(&runtime) {
            for entry in entries.flatten() {
                let _ = Command::new(&self.bin)
                    .args(["node", "stop-all", "--dir"])
                    .arg(entry.path())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

/// What a CLI command did.
pub struct CliOutput(pub Output);

impl CliOutput {
    pub fn code(&self) -> i32 {
        self.0.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.0.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.0.stderr).into_owned()
    }

    /// The JSON document on stdout (`--json`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.0.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout(),
                self.stderr()
            )
        })
    }

    /// The JSON error document on stderr (`--json`): its last line (a
    /// command may have told the user something first, e.g. a sign-in code).
    pub fn error_json(&self) -> serde_json::Value {
        let stderr = self.stderr();
        let last = stderr
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("stderr does not end in JSON ({e}):\n{stderr}"))
    }

    /// Asserts the exit code, showing both outputs if it differs.
    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code(),
            code,
            "expected exit {code}; stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self
    }
}

/// Processes whose command line mentions `needle` (zombies do not count:
/// this machine's init does not always reap them).
pub fn processes_mentioning(needle: &str) -> Vec<(u32, String)> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(raw) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
        if !cmdline.trim().is_empty() && cmdline.contains(needle) && pid != std::process::id() {
            found.push((pid, cmdline));
        }
    }
    found
}

/// A running `slipway worker`; killed when dropped.
pub struct Worker {
    command: Command,
    child: Option<Child>,
    data: tempfile::TempDir,
    /// The worker's id, as its operations' events name it.
    pub id: String,
}

impl Worker {
    /// Starts `slipway worker` on `database_url`, reaching the API at `api`.
    pub fn start(
        bin: &Path,
        database_url: &str,
        api: &str,
        tags: &[&str],
        env: &[(String, String)],
    ) -> Self {
        let data = tempfile::Builder::new()
            .prefix("slipway-worker-")
            .tempdir()
            .expect("a data directory");
        let mut command = Command::new(bin);
        command
            .args([
                "worker",
                "--database",
                database_url,
                "--api",
                api,
                "--data-dir",
            ])
            .arg(data.path())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::piped());
        if !tags.is_empty() {
            command.args(["--tags", &tags.join(",")]);
        }
        let mut worker = Self {
            command,
            child: None,
            data,
            id: String::new(),
        };
        worker.launch();
        worker
    }

    /// Starts the process and waits for the line that names it.
    fn launch(&mut self) {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.path().join("worker.log"))
            .expect("worker log");
        let mut child = self
            .command
            .stderr(log)
            .spawn()
            .expect("start slipway worker");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(rest) = line.strip_prefix("Slipway worker ") {
                    let _ = tx.send(rest.trim_end_matches(" is running").to_owned());
                }
            }
        });
        self.child = Some(child);
        self.id = rx
            .recv_timeout(START_TIMEOUT)
            .unwrap_or_else(|_| panic!("slipway worker did not start; its log:\n{}", self.log()));
    }

    /// Kills the worker with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the worker again on the same data directory (a new id).
    pub fn restart(&mut self) {
        self.kill9();
        self.launch();
    }

    /// The worker's data directory (its runtime and run directories).
    pub fn data_dir(&self) -> &Path {
        self.data.path()
    }

    /// The worker's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.data.path().join("worker.log")).unwrap_or_default()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill9();
    }
}
