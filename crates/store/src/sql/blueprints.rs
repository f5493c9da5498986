//! Blueprint versions: immutable once registered (restricted to some
//! organizations or not, as published); deprecated later; the version an
//! administrator pointed `latest` at (what `latest` names is core's rule,
//! `blueprint::latest`).

use async_trait::async_trait;

use super::SqlStore;
use super::rows::*;
use crate::{BlueprintStore, BlueprintVersion, BlueprintVersionSummary, Registered, Result};

#[async_trait]
impl BlueprintStore for SqlStore {
    async fn register_blueprint_version(&self, bv: BlueprintVersion) -> Result<Registered> {
        let mut tx = self.begin().await?;
        let stored: Option<String> = sqlx::query_scalar(
            "SELECT digest FROM blueprint_versions WHERE blueprint = $1 AND version = $2",
        )
        .bind(bv.blueprint.as_str())
        .bind(bv.version.as_str())
        .fetch_optional(&mut *tx)
        .await?;
        let registered = match stored {
            Some(digest) if digest == bv.digest => {
                // A version registered before its metadata file was kept
                // gets it now, from content with the same digest.
                sqlx::query(
                    "UPDATE blueprint_versions SET metadata_text = $3 \
                     WHERE blueprint = $1 AND version = $2 AND metadata_text IS NULL",
                )
                .bind(bv.blueprint.as_str())
                .bind(bv.version.as_str())
                .bind(bv.metadata_text.as_deref())
                .execute(&mut *tx)
                .await?;
                Registered::Unchanged
            }
            Some(stored_digest) => Registered::Differs { stored_digest },
            None => {
                sqlx::query(
                    "INSERT INTO blueprint_versions (blueprint, version, metadata, files, digest, created_at, organizations, metadata_text) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(bv.blueprint.as_str())
                .bind(bv.version.as_str())
                .bind(to_json(&bv.metadata))
                .bind(to_json(&bv.files))
                .bind(bv.digest.as_str())
                .bind(millis(bv.created_at))
                .bind(bv.organizations.as_ref().map(to_json))
                .bind(bv.metadata_text.as_deref())
                .execute(&mut *tx)
                .await?;
                Registered::Created
            }
        };
        tx.commit().await?;
        Ok(registered)
    }

    async fn blueprint_version(
        &self,
        blueprint: &str,
        version: &str,
    ) -> Result<Option<BlueprintVersion>> {
        let row = sqlx::query_as::<_, BlueprintVersionRow>(concat!(
            "SELECT ",
            blueprint_version_columns!("files"),
            " FROM blueprint_versions WHERE blueprint = $1 AND version = $2"
        ))
        .bind(blueprint)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.map(BlueprintVersion::try_from).transpose()
    }

    async fn blueprint_versions(&self) -> Result<Vec<BlueprintVersionSummary>> {
        let rows = sqlx::query_as::<_, BlueprintVersionRow>(concat!(
            "SELECT ",
            blueprint_version_columns!("'{}' AS files"),
            " FROM blueprint_versions ORDER BY blueprint, created_at DESC"
        ))
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }

    async fn deprecate_blueprint_version(
        &self,
        blueprint: &str,
        version: &str,
        deprecation: &crate::Deprecation,
    ) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE blueprint_versions SET deprecated_at = $3, deprecation = $4 \
             WHERE blueprint = $1 AND version = $2",
        )
        .bind(blueprint)
        .bind(version)
        .bind(millis(deprecation.at))
        .bind(&deprecation.reason)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn move_blueprint_latest(
        &self,
        blueprint: &str,
        version: &str,
        at: slipway_core::Timestamp,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let exists: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM blueprint_versions WHERE blueprint = $1 AND version = $2",
        )
        .bind(blueprint)
        .bind(version)
        .fetch_optional(&mut *tx)
        .await?;
        if exists.is_none() {
            return Ok(false);
        }
        sqlx::query(
            "INSERT INTO blueprint_latest (blueprint, version, moved_at) VALUES ($1, $2, $3) \
             ON CONFLICT (blueprint) DO UPDATE SET version = excluded.version, moved_at = excluded.moved_at",
        )
        .bind(blueprint)
        .bind(version)
        .bind(millis(at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }
}
