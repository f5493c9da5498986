//! A repository of deployments: the whole desired state of a team's
//! clusters, kept in git and reviewed like code.
//!
//! ```text
//! slipway.yaml                          the site: server, organization,
//!                                       environments in order, defaults
//! deployments/<d>/deployment.yaml       blueprint, version, visibility,
//!                                       lifecycle
//! deployments/<d>/config/common.yaml    values of every environment
//! deployments/<d>/config/<env>.yaml     one environment's values
//! deployments/<d>/secrets/<env>.yaml    one environment's secrets (sops or
//!                                       age, encrypted to the server)
//! ```
//!
//! Each (deployment, environment) is one cluster named `<d>-<env>`
//! ([`cluster_name`]). Its values are the layers merged root (the site's
//! `defaults`) → `common` → `<env>` (maps deeply, lists replace, `null`
//! removes: [`layers::merge`]); a value layer holds `version`, `nodes` and
//! `variables`. Secrets belong to one environment: a `secrets/common.yaml`
//! is refused, and this crate never opens a secrets file — it carries its
//! bytes, still encrypted, for the server to open inside the operation
//! that needs them.
//!
//! [`Repository::load`] reads and checks the files; [`Repository::desired`]
//! says what each cluster should be. Every error names the file, and the
//! key within it where there is one. The layout is documented, with a
//! complete example, in `examples/repository/`.

pub mod layers;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
use slipway_core::ClusterName;

/// The site file at the repository's root.
pub const SITE_FILE: &str = "slipway.yaml";
/// What git-crypt writes first in a file it encrypts.
const GIT_CRYPT_HEADER: &[u8] = b"\0GITCRYPT\0";
/// The keys a layer of values may hold.
const LAYER_KEYS: [&str; 3] = ["version", "nodes", "variables"];

/// What is wrong with a repository: the file (relative to its root), the
/// key within it if any, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}{}: {rule}", key.as_ref().map(|k| format!(": {k}")).unwrap_or_default())]
pub struct Error {
    pub file: String,
    pub key: Option<String>,
    pub rule: String,
}

impl Error {
    fn at(file: &str, key: Option<&str>, rule: impl Into<String>) -> Self {
        Self {
            file: file.to_owned(),
            key: key.map(str::to_owned),
            rule: rule.into(),
        }
    }
}

/// The site: `slipway.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteFile {
    /// The Slipway server the repository is applied to.
    #[serde(default)]
    server: Option<String>,
    /// The organization that owns (and pays for) every cluster.
    organization: String,
    /// The environments, in the order changes go through them.
    environments: Vec<EnvironmentEntry>,
    /// The root layer of values, under every deployment's.
    #[serde(default)]
    defaults: Option<Value>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
enum EnvironmentEntry {
    Name(String),
    Full {
        name: String,
        #[serde(default)]
        requires: Option<String>,
    },
}

/// An environment: its name, and the one a change must have passed first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Environment {
    pub name: String,
    pub requires: Option<String>,
}

/// Whether a deployment's clusters come and go or stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "lifecycle")]
pub enum Lifecycle {
    /// Destroyed `ttl` after each apply.
    Ephemeral {
        #[serde(with = "humantime_serde")]
        ttl: Duration,
    },
    /// Protected: never scheduled for destroy.
    Persistent,
}

/// `deployments/<d>/deployment.yaml`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeploymentFile {
    blueprint: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    public: bool,
    #[serde(default)]
    lifecycle: Option<String>,
    #[serde(default)]
    ttl: Option<String>,
    /// Destroy its clusters when the deployment is removed.
    #[serde(default)]
    prune: bool,
}

/// One deployment as its files say.
#[derive(Debug, Clone, PartialEq)]
pub struct Deployment {
    pub name: String,
    pub blueprint: String,
    pub version: Option<String>,
    pub public: bool,
    pub lifecycle: Lifecycle,
    pub prune: bool,
    /// `config/common.yaml`, if any.
    common: Option<Value>,
    /// `config/<env>.yaml` by environment.
    overrides: BTreeMap<String, Value>,
    /// `secrets/<env>.yaml` by environment: the file's path and its bytes,
    /// still encrypted.
    secrets: BTreeMap<String, SecretsFile>,
}

/// A secrets file as committed: encrypted, opened only by the server.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct SecretsFile {
    /// Its path in the repository.
    pub path: String,
    #[serde(skip)]
    pub contents: Vec<u8>,
    /// The SHA-256 of its bytes: whether the secrets changed, never what
    /// they are.
    pub digest: String,
}

impl std::fmt::Debug for SecretsFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsFile")
            .field("path", &self.path)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

/// A repository read from disk.
#[derive(Debug, Clone, PartialEq)]
pub struct Repository {
    pub root: PathBuf,
    pub server: Option<String>,
    pub organization: String,
    pub environments: Vec<Environment>,
    defaults: Option<Value>,
    pub deployments: Vec<Deployment>,
}

/// What one cluster should be: a deployment in an environment, its layers
/// merged.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Desired {
    pub cluster: String,
    pub deployment: String,
    pub environment: String,
    pub organization: String,
    pub blueprint: String,
    /// A version, or `latest` when no layer names one.
    pub version: String,
    pub public: bool,
    #[serde(flatten)]
    pub lifecycle: Lifecycle,
    pub prune: bool,
    /// The blueprint's default when no layer says.
    pub nodes: Option<u32>,
    pub variables: Map<String, Value>,
    pub secrets: Option<SecretsFile>,
    /// The SHA-256 of what every environment shares — the deployment file
    /// and the root and common layers: equal in two environments, the same
    /// change was applied to both.
    pub common_digest: String,
    /// The SHA-256 of everything this cluster is given (the secrets by
    /// their file's digest).
    pub digest: String,
}

/// The cluster of `deployment` in `environment`: `<deployment>-<environment>`.
pub fn cluster_name(deployment: &str, environment: &str) -> Result<ClusterName, String> {
    let name = format!("{deployment}-{environment}");
    ClusterName::parse(&name).map_err(|e| {
        format!(
            "the cluster of deployment {deployment} in {environment} would be named {name:?}, which is not a cluster name ({})",
            e.rule
        )
    })
}

impl Repository {
    /// Reads and checks the repository at `root`.
    pub fn load(root: &Path) -> Result<Self, Error> {
        let site: SiteFile = parse(root, SITE_FILE)?;
        let environments = environments(&site)?;
        if let Some(defaults) = &site.defaults {
            check_layer(SITE_FILE, "defaults.", defaults)?;
        }
        let mut deployments = Vec::new();
        let dir = root.join("deployments");
        let mut names: Vec<String> = match std::fs::read_dir(&dir) {
            Ok(entries) => entries
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect(),
            Err(e) => {
                return Err(Error::at(
                    "deployments",
                    None,
                    format!("cannot be read: {e}"),
                ));
            }
        };
        names.sort();
        for name in names {
            deployments.push(deployment(root, &name, &environments)?);
        }
        Ok(Self {
            root: root.to_owned(),
            server: site.server,
            organization: site.organization,
            environments,
            defaults: site.defaults,
            deployments,
        })
    }

    /// What each cluster should be: of every deployment (or `only` the one
    /// named), in every environment (or `environment`).
    pub fn desired(
        &self,
        environment: Option<&str>,
        only: Option<&str>,
    ) -> Result<Vec<Desired>, Error> {
        if let Some(env) = environment
            && !self.environments.iter().any(|e| e.name == env)
        {
            return Err(Error::at(
                SITE_FILE,
                Some("environments"),
                format!("names no environment {env:?} (it names {})", self.names()),
            ));
        }
        if let Some(d) = only
            && !self.deployments.iter().any(|x| x.name == d)
        {
            return Err(Error::at(
                "deployments",
                None,
                format!("holds no deployment {d:?}"),
            ));
        }
        let mut all = Vec::new();
        for d in self
            .deployments
            .iter()
            .filter(|d| only.is_none_or(|o| o == d.name))
        {
            for env in self
                .environments
                .iter()
                .filter(|e| environment.is_none_or(|x| x == e.name))
            {
                all.push(self.render(d, &env.name)?);
            }
        }
        Ok(all)
    }

    fn names(&self) -> String {
        self.environments
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn render(&self, d: &Deployment, env: &str) -> Result<Desired, Error> {
        let dir = format!("deployments/{}", d.name);
        let cluster = cluster_name(&d.name, env).map_err(|e| Error::at(&dir, None, e))?;
        let mut common = Value::Object(Map::new());
        for layer in [&self.defaults, &d.common].into_iter().flatten() {
            layers::merge(&mut common, layer);
        }
        let mut merged = common.clone();
        if let Some(layer) = d.overrides.get(env) {
            layers::merge(&mut merged, layer);
        }
        let file = format!("{dir}/config/{env}.yaml");
        let version = match merged.get("version") {
            None => d.version.clone().unwrap_or_else(|| "latest".into()),
            Some(Value::String(v)) => v.clone(),
            Some(_) => {
                return Err(Error::at(
                    &file,
                    Some("version"),
                    "must be a version, as text",
                ));
            }
        };
        let nodes =
            match merged.get("nodes") {
                None => None,
                Some(n) => Some(n.as_u64().and_then(|n| u32::try_from(n).ok()).ok_or_else(
                    || Error::at(&file, Some("nodes"), "must be a whole number of nodes"),
                )?),
            };
        let variables = match merged.get("variables") {
            None => Map::new(),
            Some(Value::Object(v)) => v.clone(),
            Some(_) => {
                return Err(Error::at(
                    &file,
                    Some("variables"),
                    "must be a map of names to values",
                ));
            }
        };
        let secrets = d.secrets.get(env).cloned();
        let shared = serde_json::json!({
            "blueprint": d.blueprint,
            "version": d.version,
            "public": d.public,
            "lifecycle": d.lifecycle,
            "values": common,
        });
        let whole = serde_json::json!({
            "shared": shared,
            "version": version,
            "nodes": nodes,
            "variables": variables,
            "secrets": secrets.as_ref().map(|s| &s.digest),
        });
        Ok(Desired {
            cluster: cluster.to_string(),
            deployment: d.name.clone(),
            environment: env.to_owned(),
            organization: self.organization.clone(),
            blueprint: d.blueprint.clone(),
            version,
            public: d.public,
            lifecycle: d.lifecycle,
            prune: d.prune,
            nodes,
            variables,
            secrets,
            common_digest: digest(&shared),
            digest: digest(&whole),
        })
    }
}

/// The SHA-256 of a value's JSON (its maps' keys sorted, as
/// `serde_json`'s maps keep them).
fn digest(value: &Value) -> String {
    hex::encode(Sha256::digest(value.to_string().as_bytes()))
}

fn environments(site: &SiteFile) -> Result<Vec<Environment>, Error> {
    let mut out: Vec<Environment> = Vec::new();
    for (i, entry) in site.environments.iter().enumerate() {
        let key = format!("environments[{i}]");
        let (name, requires) = match entry {
            EnvironmentEntry::Name(n) => (n.clone(), None),
            EnvironmentEntry::Full { name, requires } => (name.clone(), requires.clone()),
        };
        if !is_segment(&name) {
            return Err(Error::at(
                SITE_FILE,
                Some(&key),
                format!(
                    "{name:?} is not an environment name (lower-case letters, digits and dashes)"
                ),
            ));
        }
        if out.iter().any(|e| e.name == name) {
            return Err(Error::at(
                SITE_FILE,
                Some(&key),
                format!("{name} is named twice"),
            ));
        }
        if let Some(r) = &requires
            && !out.iter().any(|e| &e.name == r)
        {
            return Err(Error::at(
                SITE_FILE,
                Some(&format!("{key}.requires")),
                format!("{r:?} is not an environment named before {name}"),
            ));
        }
        out.push(Environment { name, requires });
    }
    if out.is_empty() {
        return Err(Error::at(
            SITE_FILE,
            Some("environments"),
            "names none: list at least one (e.g. staging, prod)",
        ));
    }
    Ok(out)
}

fn deployment(root: &Path, name: &str, environments: &[Environment]) -> Result<Deployment, Error> {
    let dir = format!("deployments/{name}");
    if !is_segment(name) {
        return Err(Error::at(
            &dir,
            None,
            "is not a deployment name (lower-case letters, digits and dashes)",
        ));
    }
    let file = format!("{dir}/deployment.yaml");
    let spec: DeploymentFile = parse(root, &file)?;
    let lifecycle = match (spec.lifecycle.as_deref(), &spec.ttl) {
        (Some("ephemeral"), Some(ttl)) => Lifecycle::Ephemeral {
            ttl: slipway_core::duration::parse_duration("ttl", ttl)
                .map_err(|e| Error::at(&file, Some("ttl"), e.rule))?,
        },
        (Some("ephemeral"), None) => {
            return Err(Error::at(
                &file,
                Some("ttl"),
                "an ephemeral deployment needs a time to live (e.g. ttl: 8h)",
            ));
        }
        (Some("persistent"), None) => Lifecycle::Persistent,
        (Some("persistent"), Some(_)) => {
            return Err(Error::at(
                &file,
                Some("ttl"),
                "a persistent deployment is never destroyed on a schedule: remove ttl, or make it ephemeral",
            ));
        }
        (Some(other), _) => {
            return Err(Error::at(
                &file,
                Some("lifecycle"),
                format!("must be ephemeral or persistent, not {other:?}"),
            ));
        }
        (None, _) => {
            return Err(Error::at(
                &file,
                Some("lifecycle"),
                "is missing: say ephemeral (with a ttl) or persistent",
            ));
        }
    };
    let known = |env: &str| environments.iter().any(|e| e.name == env);
    let listed = environments
        .iter()
        .map(|e| e.name.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    let mut common = None;
    let mut overrides = BTreeMap::new();
    for (stem, path) in yaml_files(root, &format!("{dir}/config"))? {
        let layer: Value = parse(root, &path)?;
        check_layer(&path, "", &layer)?;
        if stem == "common" {
            common = Some(layer);
        } else if known(&stem) {
            overrides.insert(stem, layer);
        } else {
            return Err(Error::at(
                &path,
                None,
                format!(
                    "is for no environment: slipway.yaml names {listed} (and common.yaml is for all)"
                ),
            ));
        }
    }
    let mut secrets = BTreeMap::new();
    for (stem, path) in yaml_files(root, &format!("{dir}/secrets"))? {
        if stem == "common" {
            return Err(Error::at(
                &path,
                None,
                "secrets belong to one environment: a common layer may not hold any (move them to secrets/<environment>.yaml)",
            ));
        }
        if !known(&stem) {
            return Err(Error::at(
                &path,
                None,
                format!("is for no environment: slipway.yaml names {listed}"),
            ));
        }
        let contents = read(root, &path)?;
        if contents.starts_with(GIT_CRYPT_HEADER) {
            return Err(locked(&path));
        }
        let digest = hex::encode(Sha256::digest(&contents));
        secrets.insert(
            stem,
            SecretsFile {
                path,
                contents,
                digest,
            },
        );
    }
    Ok(Deployment {
        name: name.to_owned(),
        blueprint: spec.blueprint,
        version: spec.version,
        public: spec.public,
        lifecycle,
        prune: spec.prune,
        common,
        overrides,
        secrets,
    })
}

/// A layer holds only `version`, `nodes` and `variables`.
fn check_layer(file: &str, prefix: &str, layer: &Value) -> Result<(), Error> {
    let Value::Object(map) = layer else {
        return Err(Error::at(
            file,
            None,
            "must be a map of version, nodes and variables",
        ));
    };
    for (key, value) in map {
        if !LAYER_KEYS.contains(&key.as_str()) {
            let hint = if key == "secrets" {
                " (secrets go in secrets/<environment>.yaml, encrypted with sops)".to_owned()
            } else {
                format!(" (a layer holds {})", LAYER_KEYS.join(", "))
            };
            return Err(Error::at(
                file,
                Some(&format!("{prefix}{key}")),
                format!("is not a setting{hint}"),
            ));
        }
        if key == "variables" && !(value.is_object() || value.is_null()) {
            return Err(Error::at(
                file,
                Some(&format!("{prefix}{key}")),
                "must be a map of names to values",
            ));
        }
    }
    Ok(())
}

/// The `.yaml` (or `.yml`) files of a directory, by stem, in name order;
/// none when it does not exist.
fn yaml_files(root: &Path, dir: &str) -> Result<Vec<(String, String)>, Error> {
    let entries = match std::fs::read_dir(root.join(dir)) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::at(dir, None, format!("cannot be read: {e}"))),
    };
    let mut files: Vec<(String, String)> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| {
            let stem = n
                .strip_suffix(".yaml")
                .or_else(|| n.strip_suffix(".yml"))?
                .to_owned();
            Some((stem, format!("{dir}/{n}")))
        })
        .collect();
    files.sort();
    Ok(files)
}

fn read(root: &Path, file: &str) -> Result<Vec<u8>, Error> {
    std::fs::read(root.join(file)).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::at(file, None, "is missing"),
        _ => Error::at(file, None, format!("cannot be read: {e}")),
    })
}

fn locked(file: &str) -> Error {
    Error::at(
        file,
        None,
        "is still encrypted by git-crypt: unlock the repository (git-crypt unlock), or better, encrypt its secrets with sops to the server's recipient (slipway secrets recipient)",
    )
}

/// A YAML file as `T`, its errors naming the file and where in it.
fn parse<T: serde::de::DeserializeOwned>(root: &Path, file: &str) -> Result<T, Error> {
    let bytes = read(root, file)?;
    if bytes.starts_with(GIT_CRYPT_HEADER) {
        return Err(locked(file));
    }
    let text =
        std::str::from_utf8(&bytes).map_err(|_| Error::at(file, None, "is not text (UTF-8)"))?;
    serde_norway::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(" (line {}, column {})", l.line(), l.column()))
            .unwrap_or_default();
        Error::at(file, None, format!("does not parse{at}: {e}"))
    })
}

/// A directory or environment name: lower-case letters, digits and dashes.
fn is_segment(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 40
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
}
