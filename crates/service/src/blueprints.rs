//! PUBLISH: a blueprint version uploaded through the API (`slipway
//! blueprint publish`), checked as `slipway blueprint check` checks it and
//! stored immutably in the database every replica and worker shares — so a
//! version exists without being on any replica's disk, and no restart is
//! needed to ship one.

use chrono::Utc;
use slipway_api::types::{BlueprintView, PublishedBlueprint};
use slipway_core::BlueprintName;
use slipway_core::access::Level;
use slipway_engine::EngineError;
use slipway_engine::catalog::{BlueprintSource, unpack};
use slipway_store::{BlueprintVersion, Registered};

use crate::Service;
use crate::caller::Caller;
use crate::error::{Error, Result};

impl Service {
    /// Publishes `archive` (a gzip'd tar of the blueprint's directory) as
    /// version `version` of blueprint `name` (administrators). The same
    /// content again changes nothing; other content under a version that
    /// exists is refused (409 `version_exists`): versions are immutable.
    pub async fn publish_blueprint(
        &self,
        caller: &Caller,
        name: &str,
        version: &str,
        archive: &[u8],
    ) -> Result<PublishedBlueprint> {
        caller.require_admin()?;
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
        let files = unpack(archive).map_err(module)?;
        let report = slipway_engine::check::check_files(&files);
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
                created_at: Utc::now(),
            })
            .await?;
        let created = match registered {
            Registered::Created => true,
            Registered::Unchanged => false,
            Registered::Differs { stored_digest } => {
                return Err(Error::conflict(
                    "version_exists",
                    format!(
                        "version {version} of blueprint {name} exists with other content (digest {stored_digest}, this is {digest}): versions are immutable, publish this one under a new version"
                    ),
                ));
            }
        };
        if created {
            self.audit(
                caller,
                Level::Admin,
                "blueprint.publish",
                &format!("{name}@{version}"),
                "published",
                serde_json::json!({"digest": digest, "skipped": report.skipped}),
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
            blueprint: BlueprintView {
                name: stored.blueprint,
                version: stored.version,
                description: stored.metadata.description.clone(),
                digest: stored.digest,
                created_at: stored.created_at,
            },
            skipped: report.skipped,
        })
    }
}
