//! `slipway probe`: checks a running cluster from the outside, through its
//! gateway, the way its users reach it — what the `local` blueprint's TEST
//! suites run, so that TEST and RELEASE work out of the box, with nothing
//! but the `slipway` executable (no `curl` needed).
//!
//! Every check reads what a suite gets in its environment:
//! `SLIPWAY_ENDPOINT`, `SLIPWAY_CLUSTER_TOKEN`, `SLIPWAY_CLUSTER`,
//! `SLIPWAY_NODES`, `SLIPWAY_PUBLIC`.
//!
//! - `health`: every node (`0..SLIPWAY_NODES`) answers `GET /health`
//!   through the gateway, naming its cluster, within `--timeout`.
//! - `access`: the gateway admits the cluster token, refuses a malformed
//!   token and one whose signature was tampered with, and refuses a request
//!   without a token on a private cluster (admits it as anonymous on a
//!   public one).
//! - `identity`: the identity a node hears (`X-Slipway-User`, `-Level`,
//!   `-Orgs`) is the token's, set by the gateway, whatever the client sent.
//!
//! Each prints one `ok:` or `FAIL:` line per finding; the exit code is 0
//! when every check passed, 1 otherwise, 2 when it cannot run (bad
//! arguments). `access` and `identity` expect nodes that echo requests, as
//! `slipway node` does.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Duration;

use base64::Engine as _;
use serde_json::Value;

/// What `slipway probe` checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, clap::ValueEnum)]
pub enum Check {
    Health,
    Access,
    Identity,
}

/// `slipway probe [CHECK]...`
#[derive(Debug, Clone, clap::Args)]
pub struct ProbeArgs {
    /// What to check (default: all of them).
    #[arg(value_enum)]
    pub checks: Vec<Check>,
    /// The cluster's endpoint: its gateway.
    #[arg(long, env = "SLIPWAY_ENDPOINT")]
    pub endpoint: String,
    /// A cluster token for it.
    #[arg(long, env = "SLIPWAY_CLUSTER_TOKEN", hide_env_values = true)]
    pub cluster_token: String,
    /// The cluster's name, which its nodes report.
    #[arg(long, env = "SLIPWAY_CLUSTER")]
    pub cluster: String,
    /// How many nodes it runs.
    #[arg(long, env = "SLIPWAY_NODES")]
    pub nodes: u32,
    /// Whether it admits callers without a token.
    #[arg(long, env = "SLIPWAY_PUBLIC", action = clap::ArgAction::Set, default_value_t = false)]
    pub public: bool,
    /// How long the nodes may take to all answer.
    #[arg(long, default_value = "30s", value_parser = humantime::parse_duration)]
    pub timeout: Duration,
}

/// Runs the checks, printing each finding; the exit code says whether all
/// passed.
pub fn run(args: ProbeArgs) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("slipway probe: error: {e}");
            return ExitCode::from(2);
        }
    };
    let findings = runtime.block_on(probe(&args));
    let mut passed = true;
    for finding in &findings {
        match finding {
            Finding::Ok(what) => println!("ok: {what}"),
            Finding::Failed(what) => {
                passed = false;
                println!("FAIL: {what}");
            }
        }
    }
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// One thing a check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    Ok(String),
    Failed(String),
}

impl Finding {
    fn check(ok: bool, what: String) -> Self {
        if ok {
            Finding::Ok(what)
        } else {
            Finding::Failed(what)
        }
    }
}

/// Runs the checks `args` names (all by default) and answers what they found.
pub async fn probe(args: &ProbeArgs) -> Vec<Finding> {
    let checks: BTreeSet<Check> = if args.checks.is_empty() {
        [Check::Health, Check::Access, Check::Identity].into()
    } else {
        args.checks.iter().copied().collect()
    };
    let http = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(http) => http,
        Err(e) => return vec![Finding::Failed(format!("no HTTP client: {e}"))],
    };
    let probe = Probe {
        args,
        http,
        endpoint: args.endpoint.trim_end_matches('/'),
    };
    let mut findings = Vec::new();
    for check in checks {
        match check {
            Check::Health => findings.push(probe.health().await),
            Check::Access => findings.extend(probe.access().await),
            Check::Identity => findings.extend(probe.identity().await),
        }
    }
    findings
}

struct Probe<'a> {
    args: &'a ProbeArgs,
    http: reqwest::Client,
    endpoint: &'a str,
}

/// A response's status and JSON body (null if it is not JSON).
struct Answer {
    status: u16,
    body: Value,
}

impl Probe<'_> {
    async fn get(
        &self,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Result<Answer, String> {
        let mut request = self.http.get(format!("{}{path}", self.endpoint));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request
            .send()
            .await
            .map_err(|e| format!("GET {}{path}: {e}", self.endpoint))?;
        let status = response.status().as_u16();
        let body = response.json().await.unwrap_or(Value::Null);
        Ok(Answer { status, body })
    }

    /// Every node answers `/health` through the gateway.
    async fn health(&self) -> Finding {
        let nodes = self.args.nodes;
        if nodes == 0 {
            return Finding::Failed("health: the cluster runs no node".into());
        }
        let deadline = tokio::time::Instant::now() + self.args.timeout;
        let mut seen = BTreeSet::new();
        let mut problem = String::from("none answered");
        loop {
            // The gateway spreads requests round robin over the healthy
            // nodes: one round reaches each of them.
            for _ in 0..nodes {
                match self
                    .get("/health", Some(&self.args.cluster_token), &[])
                    .await
                {
                    Ok(a) if a.status == 200 => {
                        let cluster = a.body["cluster"].as_str().unwrap_or_default();
                        if cluster != self.args.cluster {
                            return Finding::Failed(format!(
                                "health: a node of cluster {cluster:?} answered for {}",
                                self.args.cluster
                            ));
                        }
                        match a.body["node"].as_u64() {
                            Some(node) if node < u64::from(nodes) && a.body["status"] == "ok" => {
                                seen.insert(node);
                            }
                            _ => problem = format!("an unexpected answer: {}", a.body),
                        }
                    }
                    Ok(a) => problem = format!("the gateway answered {}: {}", a.status, a.body),
                    Err(e) => problem = e,
                }
            }
            if seen.len() == nodes as usize {
                return Finding::Ok(format!(
                    "health: all {nodes} node(s) of {} answer through the gateway",
                    self.args.cluster
                ));
            }
            if tokio::time::Instant::now() >= deadline {
                let missing: Vec<String> = (0..u64::from(nodes))
                    .filter(|n| !seen.contains(n))
                    .map(|n| n.to_string())
                    .collect();
                return Finding::Failed(format!(
                    "health: node(s) {} of {} did not answer within {}; last problem: {problem}",
                    missing.join(", "),
                    self.args.cluster,
                    humantime::format_duration(self.args.timeout)
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Who the gateway admits.
    async fn access(&self) -> Vec<Finding> {
        let token = self.args.cluster_token.as_str();
        let mut tampered = token.to_owned();
        let last = tampered.pop().unwrap_or('A');
        tampered.push(if last == 'A' { 'B' } else { 'A' });
        let mut findings = Vec::new();
        let path = "/slipway-probe/access";
        match self.get(path, None, &[]).await {
            Ok(a) if !self.args.public => findings.push(Finding::check(
                a.status == 401,
                format!("access: a request without a token is refused on a private cluster (got {})", a.status),
            )),
            Ok(a) => findings.push(Finding::check(
                a.status == 200 && a.body["headers"]["x-slipway-level"] == "anonymous",
                format!(
                    "access: a request without a token is admitted as anonymous on a public cluster (got {}, level {})",
                    a.status, a.body["headers"]["x-slipway-level"]
                ),
            )),
            Err(e) => findings.push(Finding::Failed(format!("access: {e}"))),
        }
        for (what, bad) in [
            ("a malformed token", "not.a.token"),
            ("a token with a tampered signature", tampered.as_str()),
        ] {
            match self.get(path, Some(bad), &[]).await {
                Ok(a) => findings.push(Finding::check(
                    a.status == 401,
                    format!("access: {what} is refused (got {})", a.status),
                )),
                Err(e) => findings.push(Finding::Failed(format!("access: {e}"))),
            }
        }
        match self.get(path, Some(token), &[]).await {
            Ok(a) => findings.push(Finding::check(
                a.status == 200,
                format!("access: the cluster token is admitted (got {})", a.status),
            )),
            Err(e) => findings.push(Finding::Failed(format!("access: {e}"))),
        }
        findings
    }

    /// What a node hears of the caller is the token's, not the client's.
    async fn identity(&self) -> Vec<Finding> {
        let claims = match claims(&self.args.cluster_token) {
            Ok(claims) => claims,
            Err(e) => return vec![Finding::Failed(format!("identity: {e}"))],
        };
        let forged = [
            ("X-Slipway-User", "forged-user"),
            ("X-Slipway-Level", "forged-level"),
            ("X-Slipway-Orgs", "forged-org"),
        ];
        let answer = match self
            .get(
                "/slipway-probe/identity",
                Some(&self.args.cluster_token),
                &forged,
            )
            .await
        {
            Ok(a) if a.status == 200 => a,
            Ok(a) => {
                return vec![Finding::Failed(format!(
                    "identity: the gateway answered {}: {}",
                    a.status, a.body
                ))];
            }
            Err(e) => return vec![Finding::Failed(format!("identity: {e}"))],
        };
        let heard = &answer.body["headers"];
        let user = heard["x-slipway-user"].as_str().unwrap_or_default();
        let level = heard["x-slipway-level"].as_str().unwrap_or_default();
        let orgs = heard["x-slipway-orgs"].as_str().unwrap_or_default();
        vec![
            Finding::check(
                answer.body["cluster"] == self.args.cluster.as_str(),
                format!(
                    "identity: a node of {} answered ({})",
                    self.args.cluster, answer.body["cluster"]
                ),
            ),
            Finding::check(
                user == claims["sub"],
                format!(
                    "identity: the node hears the token's subject ({user:?}), not the client's claim"
                ),
            ),
            Finding::check(
                level == claims["level"],
                format!(
                    "identity: the node hears the token's level ({level:?}), not the client's claim"
                ),
            ),
            Finding::check(
                !orgs.contains("forged-org"),
                format!(
                    "identity: the node hears the token's organizations ({orgs:?}), not the client's claim"
                ),
            ),
        ]
    }
}

/// A token's claims, read without verifying it (the gateway verifies it;
/// this only says what it should have told the node).
fn claims(token: &str) -> Result<Value, String> {
    let payload = token
        .split('.')
        .nth(1)
        .ok_or("the cluster token is not a JWT")?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|e| format!("the cluster token's claims are not base64: {e}"))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| format!("the cluster token's claims are not JSON: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        probe: ProbeArgs,
    }

    #[test]
    fn arguments_come_from_a_suites_environment_or_flags() {
        let cli = Cli::try_parse_from([
            "probe",
            "health",
            "identity",
            "--endpoint=http://gw",
            "--cluster-token=t",
            "--cluster=c",
            "--nodes=3",
            "--public=true",
        ])
        .unwrap();
        assert_eq!(cli.probe.checks, [Check::Health, Check::Identity]);
        assert_eq!(cli.probe.nodes, 3);
        assert!(cli.probe.public);
        assert_eq!(cli.probe.timeout, Duration::from_secs(30));
        assert!(Cli::try_parse_from(["probe", "bogus", "--endpoint=x"]).is_err());
    }

    #[test]
    fn claims_are_read_from_the_payload() {
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(r#"{"sub":"github:1","level":"admin"}"#);
        let claims = claims(&format!("h.{payload}.s")).unwrap();
        assert_eq!(claims["sub"], "github:1");
        assert!(super::claims("nodots").is_err());
        assert!(super::claims("a.!!.c").is_err());
    }
}
