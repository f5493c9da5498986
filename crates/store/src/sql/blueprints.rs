//! Blueprint versions: immutable once registered; `latest` is the newest.

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
            Some(digest) if digest == bv.digest => Registered::Unchanged,
            Some(stored_digest) => Registered::Differs { stored_digest },
            None => {
                sqlx::query(
                    "INSERT INTO blueprint_versions (blueprint, version, metadata, files, digest, created_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(bv.blueprint.as_str())
                .bind(bv.version.as_str())
                .bind(to_json(&bv.metadata))
                .bind(to_json(&bv.files))
                .bind(bv.digest.as_str())
                .bind(millis(bv.created_at))
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
        let row = sqlx::query_as::<_, BlueprintVersionRow>(
            "SELECT blueprint, version, metadata, files, digest, created_at FROM blueprint_versions \
             WHERE blueprint = $1 AND ($2 = 'latest' OR version = $2) ORDER BY created_at DESC, version DESC LIMIT 1",
        )
        .bind(blueprint)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        row.map(BlueprintVersion::try_from).transpose()
    }

    async fn blueprint_versions(&self) -> Result<Vec<BlueprintVersionSummary>> {
        let rows = sqlx::query_as::<_, BlueprintVersionRow>(
            "SELECT blueprint, version, metadata, '{}' AS files, digest, created_at FROM blueprint_versions \
             ORDER BY blueprint, created_at DESC",
        )
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }
}
