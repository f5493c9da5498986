//! The blueprint catalog. PUBLISH: a version uploaded through the API
//! (`slipway blueprint publish`), checked as `slipway blueprint check`
//! checks it and stored immutably in the database every replica and worker
//! shares — so a version exists without being on any replica's disk, and no
//! restart is needed to ship one —, for every organization's clusters or
//! some organizations' only. DEPRECATE and `latest`. And which version a
//! cluster of an organization may use: a restricted version is invisible
//! to the others, a deprecated one takes no new cluster.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use parking_lot::Mutex;
use slipway_api::types::{
    BlueprintDetail, BlueprintView, NodeRange, PublishedBlueprint, VariableView,
};
use slipway_core::access::Level;
use slipway_core::blueprint::{LatestCandidate, latest, newest_first};
use slipway_core::{BlueprintName, OrgName};
use slipway_engine::catalog::{BlueprintSource, unpack};
use slipway_engine::providers::LOCK_FILE;
use slipway_engine::{EngineError, Validation};
use slipway_store::{BlueprintVersion, BlueprintVersionSummary, Deprecation, Registered};

use crate::Service;
use crate::caller::{Caller, scope};
use crate::error::{Error, Result};

impl Service {
    /// Publishes `archive` (a gzip'd tar of the blueprint's directory) as
    /// version `version` of blueprint `name` (administrators), for the
    /// clusters of `organizations` only (none: every organization's), and
    /// points `latest` at it if asked. The same content again changes
    /// nothing; other content (or other organizations) under a version
    /// that exists is refused (409 `version_exists`): versions are
    /// immutable.
    pub async fn publish_blueprint(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
        archive: &[u8],
        options: PublishOptions,
    ) -> Result<PublishedBlueprint> {
        caller.require_admin()?;
        let organizations = match options.organizations {
            None => None,
            Some(names) => {
                let mut orgs = Vec::new();
                for org in names {
                    let org = OrgName::parse(&org)
                        .map_err(|e| Error::invalid("organizations", e.rule))?;
                    if self.store.organization(&org).await?.is_none() {
                        return Err(Error::invalid(
                            "organizations",
                            format!("organization {org} does not exist"),
                        ));
                    }
                    orgs.push(org.to_string());
                }
                orgs.sort();
                orgs.dedup();
                Some(orgs)
            }
        };
        let name = BlueprintName::parse(name)?;
        slipway_core::names::check_version(version)?;
        if version == "latest" {
            return Err(Error::invalid(
                "version",
                "\"latest\" names the newest version: publish under a version of its own, e.g. 1.4.0",
            ));
        }
        let module = |e: EngineError| {
            let why = if let EngineError::InvalidModule { file, reason } = &e {
                format!("{file}: {reason}")
            } else {
                e.to_string()
            };
            Error::invalid("archive", why)
        };
        let mut files = unpack(archive).map_err(module)?;
        let mut report = slipway_engine::check::check_files(&files);
        if !report.findings.is_empty() {
            let findings: Vec<String> = report.findings.iter().map(|f| f.to_string()).collect();
            return Err(Error::invalid(
                "archive",
                format!(
                    "the blueprint does not pass slipway blueprint check: {}",
                    findings.join("; ")
                ),
            ));
        }
        // Terraform's own checks, with the providers from where every run
        // gets them; the lock file `init` wrote is kept with the version.
        let mut module_files = files.clone();
        module_files.remove(slipway_engine::catalog::METADATA_FILE);
        let validation = self
            .engine
            .validate(name.as_str(), &module_files)
            .await
            .map_err(module)?;
        report
            .skipped
            .retain(|s| !s.starts_with("terraform validate"));
        match validation {
            Validation::Passed { lock_file } => {
                if let Some(lock) = lock_file {
                    files.insert(LOCK_FILE.to_owned(), lock);
                }
            }
            Validation::Skipped { why } => report.skipped.push(why),
        }
        let source = BlueprintSource::from_files(files).map_err(module)?;
        if source.metadata.name != name.as_str() {
            return Err(Error::invalid(
                "archive",
                format!(
                    "blueprint.toml names blueprint {:?}, not {name}",
                    source.metadata.name
                ),
            ));
        }
        let digest = source.digest.clone();
        let registered = self
            .store
            .register_blueprint_version(BlueprintVersion {
                blueprint: name.to_string(),
                version: version.to_owned(),
                metadata: source.metadata,
                files: source.files,
                digest: digest.clone(),
                metadata_text: Some(source.metadata_text),
                created_at: Utc::now(),
                organizations: organizations.clone(),
                deprecated: None,
            })
            .await?;
        let created = match registered {
            Registered::Created => true,
            Registered::Unchanged => {
                let stored = self.store.blueprint_version(name.as_str(), version).await?;
                let restricted = stored.and_then(|s| s.organizations);
                if restricted != organizations {
                    return Err(Error::conflict(
                        "version_exists",
                        format!(
                            "version {version} of blueprint {name} was published for {}: a version's organizations are part of it, publish a new version for {}",
                            describe(restricted.as_deref()),
                            describe(organizations.as_deref())
                        ),
                    ));
                }
                false
            }
            Registered::Differs { stored_digest } => {
                return Err(Error::conflict(
                    "version_exists",
                    format!(
                        "version {version} of blueprint {name} exists with other content (digest {stored_digest}, this is {digest}): versions are immutable, publish this one under a new version"
                    ),
                ));
            }
        };
        if options.latest {
            self.store
                .move_blueprint_latest(name.as_str(), version, Utc::now())
                .await?;
        }
        if created {
            self.audit(
                caller,
                Level::Admin,
                "blueprint.publish",
                &format!("{name}@{version}"),
                "published",
                serde_json::json!({
                    "digest": digest,
                    "organizations": organizations,
                    "latest": options.latest,
                    "skipped": report.skipped,
                }),
            )
            .await;
        }
        let stored = self
            .store
            .blueprint_version(name.as_str(), version)
            .await?
            .ok_or_else(|| Error::not_found(format!("blueprint {name} version {version}")))?;
        Ok(PublishedBlueprint {
            created,
            blueprint: self.blueprint_view(name.as_str(), &stored.version).await?,
            skipped: report.skipped,
        })
    }

    /// DEPRECATE a version (administrators): no new clusters on it, and no
    /// cluster moved to it; the ones that run it keep running, and are
    /// resized and destroyed as ever.
    pub async fn deprecate_blueprint(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
        reason: &str,
    ) -> Result<BlueprintView> {
        caller.require_admin()?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(Error::invalid("reason", "say why, for whoever meets it"));
        }
        let deprecation = Deprecation {
            at: Utc::now(),
            reason: reason.to_owned(),
        };
        if !self
            .store
            .deprecate_blueprint_version(name, version, &deprecation)
            .await?
        {
            return Err(not_published(name, version));
        }
        // This replica's statuses say so at once; the others' within
        // DEPRECATIONS_TTL.
        *self.deprecations.0.lock() = None;
        self.audit(
            caller,
            Level::Admin,
            "blueprint.deprecate",
            &format!("{name}@{version}"),
            "deprecated",
            serde_json::json!({"reason": reason}),
        )
        .await;
        self.blueprint_view(name, version).await
    }

    /// Points `latest` at a version (administrators).
    pub async fn move_latest(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
    ) -> Result<BlueprintView> {
        caller.require_admin()?;
        if !self
            .store
            .move_blueprint_latest(name, version, Utc::now())
            .await?
        {
            return Err(not_published(name, version));
        }
        self.audit(
            caller,
            Level::Admin,
            "blueprint.latest",
            name,
            "moved",
            serde_json::json!({"version": version}),
        )
        .await;
        self.blueprint_view(name, version).await
    }

    /// The catalog, as the caller may see it: a version restricted to
    /// organizations is shown to their members and administrators only.
    pub async fn blueprints(&self, caller: &Caller) -> Result<Vec<BlueprintView>> {
        Ok(self
            .catalog(caller)
            .await?
            .into_iter()
            .map(|(view, _)| view)
            .collect())
    }

    /// The catalog with each version's metadata (its sizes and variables),
    /// in one read: the web UI's Blueprints page.
    pub async fn catalog(
        &self,
        caller: &Caller,
    ) -> Result<Vec<(BlueprintView, slipway_core::blueprint::BlueprintMetadata)>> {
        caller.require(scope::CLUSTERS_READ)?;
        let mut seen: Vec<BlueprintVersionSummary> = self
            .store
            .blueprint_versions()
            .await?
            .into_iter()
            .filter(|b| visible(caller, b.organizations.as_deref()))
            .collect();
        // `latest` marks what it names for this caller: among the versions
        // they see.
        let named: HashMap<String, String> = seen
            .iter()
            .map(|b| b.blueprint.clone())
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .filter_map(|name| {
                let version = latest_of(&seen, &name, |_| true)?;
                Some((name, version))
            })
            .collect();
        seen.sort_by(|a, b| {
            a.blueprint
                .cmp(&b.blueprint)
                .then_with(|| newest_first(&a.version, &b.version))
        });
        Ok(seen
            .into_iter()
            .map(|b| {
                let metadata = b.metadata.clone();
                let latest = named.get(&b.blueprint) == Some(&b.version);
                (BlueprintView { latest, ..view(b) }, metadata)
            })
            .collect())
    }

    /// The version `version` names for someone who may use the versions
    /// `usable` accepts: itself, or what `latest` names among them.
    async fn resolve(
        &self,
        name: &str,
        version: &str,
        usable: impl Fn(&BlueprintVersionSummary) -> bool,
    ) -> Result<String> {
        if version != "latest" {
            return Ok(version.to_owned());
        }
        let all = self.store.blueprint_versions().await?;
        latest_of(&all, name, usable).ok_or_else(|| missing(name, version))
    }

    /// A blueprint version for a cluster of `organization` that runs
    /// version `current` now (none: a new cluster): invisible (as if not
    /// published) when restricted to other organizations; refused when
    /// deprecated, unless the cluster already runs it.
    pub(crate) async fn blueprint_for(
        &self,
        organization: &OrgName,
        name: &str,
        version: &str,
        current: Option<&str>,
    ) -> Result<BlueprintVersion> {
        let version = self
            .resolve(name, version, |b| {
                b.organizations
                    .as_ref()
                    .is_none_or(|orgs| orgs.iter().any(|o| o == organization.as_str()))
            })
            .await?;
        let found = self.blueprint(name, &version).await?;
        if !found.available_to(organization.as_str()) {
            return Err(missing(name, &version));
        }
        let moves_to_it = current != Some(found.version.as_str());
        if let (true, Some(deprecated)) = (moves_to_it, &found.deprecated) {
            return Err(Error::conflict(
                "deprecated",
                format!(
                    "version {} of blueprint {name} is deprecated ({}): no new cluster runs it; choose another version (slipway blueprint list)",
                    found.version, deprecated.reason
                ),
            ));
        }
        Ok(found)
    }

    /// A version, whoever may use it: for administrators and the readers of
    /// its metadata (`latest`: among every version).
    pub(crate) async fn blueprint(&self, name: &str, version: &str) -> Result<BlueprintVersion> {
        slipway_core::names::check_version(version)?;
        let version = self.resolve(name, version, |_| true).await?;
        self.store
            .blueprint_version(name, &version)
            .await?
            .ok_or_else(|| missing(name, &version))
    }

    /// A version the caller may see (its metadata: variables, sizes, cost).
    pub async fn blueprint_version(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
    ) -> Result<BlueprintVersion> {
        caller.require(scope::CLUSTERS_READ)?;
        let version = self
            .resolve(name, version, |b| {
                visible(caller, b.organizations.as_deref())
            })
            .await?;
        let found = self.blueprint(name, &version).await?;
        if !visible(caller, found.organizations.as_deref()) {
            return Err(missing(name, &version));
        }
        Ok(found)
    }

    /// SHOW one version the caller may see (`latest`: what it names for
    /// them): its catalog entry, sizes, variables, files and the providers
    /// its lock file pins.
    pub async fn blueprint_detail(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
    ) -> Result<BlueprintDetail> {
        slipway_core::names::check_version(version)?;
        // The catalog as the caller sees it: what they may not use is not
        // there, and `latest` marks what it names for them.
        let (view, metadata) = self
            .catalog(caller)
            .await?
            .into_iter()
            .find(|(v, _)| {
                v.name == name && (v.version == version || (version == "latest" && v.latest))
            })
            .ok_or_else(|| not_published(name, version))?;
        let found = self
            .store
            .blueprint_version(name, &view.version)
            .await?
            .ok_or_else(|| not_published(name, version))?;
        let nodes = metadata.nodes;
        Ok(BlueprintDetail {
            blueprint: view,
            nodes: NodeRange {
                min: nodes.min,
                max: nodes.max,
                default: nodes.default,
            },
            variables: metadata
                .variables
                .into_iter()
                .map(|(name, spec)| VariableView {
                    name,
                    kind: serde_json::to_value(spec.kind)
                        .ok()
                        .and_then(|k| k.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    description: spec.description,
                    default: spec.default,
                    allowed: spec.allowed,
                    sensitive: spec.sensitive,
                })
                .collect(),
            providers: found
                .files
                .get(LOCK_FILE)
                .map(|lock| slipway_engine::providers::locked(lock))
                .unwrap_or_default(),
            files: found.files.into_keys().collect(),
        })
    }

    async fn blueprint_view(&self, name: &str, version: &str) -> Result<BlueprintView> {
        self.store
            .blueprint_versions()
            .await?
            .into_iter()
            .find(|b| b.blueprint == name && b.version == version)
            .map(view)
            .ok_or_else(|| not_published(name, version))
    }
}

/// How long the deprecated versions a status shows are reused before they
/// are read again: a deprecation reaches every replica's statuses within it.
const DEPRECATIONS_TTL: Duration = Duration::from_secs(5);

/// Deprecated blueprint versions: `(blueprint, version)` → why.
pub(crate) type Deprecated = HashMap<(String, String), String>;

/// The deprecated blueprint versions as last read, and when (statuses show
/// them without a query each).
#[derive(Default)]
pub struct Deprecations(Mutex<Option<(Instant, Arc<Deprecated>)>>);

impl Service {
    /// The deprecated versions, read at most every [`DEPRECATIONS_TTL`].
    pub(crate) async fn deprecations(&self) -> Result<Arc<Deprecated>> {
        if let Some((at, known)) = &*self.deprecations.0.lock()
            && at.elapsed() < DEPRECATIONS_TTL
        {
            return Ok(known.clone());
        }
        let read: Deprecated = self
            .store
            .blueprint_versions()
            .await?
            .into_iter()
            .filter_map(|b| Some(((b.blueprint, b.version), b.deprecated?.reason)))
            .collect();
        let read = Arc::new(read);
        *self.deprecations.0.lock() = Some((Instant::now(), read.clone()));
        Ok(read)
    }
}

/// How to publish a version.
#[derive(Debug, Clone, Default)]
pub struct PublishOptions {
    /// Only these organizations' clusters may use it (none: every one).
    pub organizations: Option<Vec<String>>,
    /// Point `latest` at it.
    pub latest: bool,
}

/// Whether the caller sees a version restricted to `organizations`.
fn visible(caller: &Caller, organizations: Option<&[String]>) -> bool {
    organizations.is_none_or(|orgs| {
        orgs.iter()
            .filter_map(|o| OrgName::parse(o).ok())
            .any(|o| caller.level_for(&o) >= Level::OrgMember)
    })
}

/// What `latest` names for blueprint `name` among the versions `usable`
/// accepts (core's rule).
fn latest_of(
    versions: &[BlueprintVersionSummary],
    name: &str,
    usable: impl Fn(&BlueprintVersionSummary) -> bool,
) -> Option<String> {
    let candidates: Vec<LatestCandidate> = versions
        .iter()
        .filter(|b| b.blueprint == name && usable(b))
        .map(|b| LatestCandidate {
            version: &b.version,
            deprecated: b.deprecated.is_some(),
            alias: b.latest,
        })
        .collect();
    latest(&candidates).map(str::to_owned)
}

fn view(b: BlueprintVersionSummary) -> BlueprintView {
    BlueprintView {
        name: b.blueprint,
        version: b.version,
        description: b.metadata.description,
        digest: b.digest,
        created_at: b.created_at,
        organizations: b.organizations,
        deprecated: b.deprecated.map(|d| d.reason),
        latest: b.latest,
    }
}

/// A version that does not exist, or that the caller may not see: the
/// same answer.
fn missing(name: &str, version: &str) -> Error {
    Error::invalid(
        if version == "latest" {
            "blueprint"
        } else {
            "version"
        },
        format!("blueprint {name} has no version {version}; see GET /v1/blueprints"),
    )
}

fn not_published(name: &str, version: &str) -> Error {
    Error::not_found(format!("blueprint {name} has no version {version}"))
}

fn describe(organizations: Option<&[String]>) -> String {
    match organizations {
        None => "every organization".to_owned(),
        Some(orgs) => format!("organizations {}", orgs.join(", ")),
    }
}
