//! A local S3 emulator for tests: `moto_server` from the Python tools the
//! test setup installs (`scripts/test`), on a free port, with one bucket.

use std::process::{Child, Command, Stdio};

use std::time::{Duration, Instant};

use crate::python_tool;

/// A running `moto_server`; killed when dropped.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    /// A bucket created for the test.
    pub bucket: String,
}

impl Moto {
    /// Starts the emulator and creates a bucket.
    pub fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(python_tool("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let endpoint = format!("http://127.0.0.1:{port}");
        let bucket = format!("slipway-{}", uuid::Uuid::new_v4().simple());
        let moto = Self {
            child,
            endpoint,
            bucket,
        };
        // Creating the bucket doubles as waiting for the server to answer.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let created = reqwest_put(&format!("{}/{}", moto.endpoint, moto.bucket));
            if created {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer within a minute"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// The keys stored in the bucket (every page of the listing).
    pub fn keys(&self) -> Vec<String> {
        let between = |text: &str, tag: &str| -> Vec<String> {
            text.split(&format!("<{tag}>"))
                .skip(1)
                .filter_map(|rest| rest.split(&format!("</{tag}>")).next())
                .map(str::to_owned)
                .collect()
        };
        let client = reqwest::blocking::Client::new();
        let (mut keys, mut token) = (Vec::new(), None::<String>);
        loop {
            let mut request = client
                .get(format!("{}/{}", self.endpoint, self.bucket))
                .query(&[("list-type", "2")]);
            if let Some(token) = &token {
                request = request.query(&[("continuation-token", token)]);
            }
            let listing = request.send().and_then(|r| r.text()).unwrap_or_default();
            keys.extend(between(&listing, "Key"));
            token = between(&listing, "NextContinuationToken").pop();
            if token.is_none() {
                return keys;
            }
        }
    }
}

impl Moto {
    /// What the emulated Cost Explorer answers to the next `GetCostAndUsage`
    /// requests, in order (its own API for tests).
    pub fn answer_cost_and_usage(&self, results: serde_json::Value) {
        let response = reqwest::blocking::Client::new()
            .post(format!(
                "{}/moto-api/static/ce/cost-and-usage-results",
                self.endpoint
            ))
            .json(&serde_json::json!({ "results": results }))
            .send()
            .expect("moto's Cost Explorer API");
        assert!(
            response.status().is_success(),
            "moto refused the answers: {}",
            response.text().unwrap_or_default()
        );
    }
}

impl Moto {
    /// The settings that put a Slipway's object storage (operation logs) in
    /// this emulator's bucket.
    pub fn storage_env(&self) -> Vec<(String, String)> {
        [
            (
                "SLIPWAY_STORAGE__URL",
                format!("s3://{}/slipway", self.bucket),
            ),
            ("SLIPWAY_STORAGE__S3_ENDPOINT", self.endpoint.clone()),
            ("SLIPWAY_STORAGE__S3_ALLOW_HTTP", "true".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// Stops the emulator answering, without closing anything: connections
    /// are accepted and then hang, as a storage service in trouble does
    /// (SIGSTOP). [`Moto::resume`] ends the outage with nothing lost.
    pub fn pause(&self) {
        self.signal(nix::sys::signal::Signal::SIGSTOP);
    }

    /// Ends an outage begun by [`Moto::pause`] (SIGCONT).
    pub fn resume(&self) {
        self.signal(nix::sys::signal::Signal::SIGCONT);
    }

    fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, signal).expect("signal moto_server");
    }
}

/// PUT with no body; true on a 2xx answer.
fn reqwest_put(url: &str) -> bool {
    reqwest::blocking::Client::new()
        .put(url)
        .send()
        .is_ok_and(|r| r.status().is_success())
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
