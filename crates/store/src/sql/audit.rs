//! The audit log: who, at which level, did what to what, with which result.

use async_trait::async_trait;

use super::SqlStore;
use super::rows::*;
use crate::{AuditEntry, AuditQuery, AuditStore, NewAuditEntry, Result};

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        self.insert_audit(&mut conn, &entry).await
    }

    async fn audit_log(&self, query: &AuditQuery) -> Result<Vec<AuditEntry>> {
        let rows = sqlx::query_as::<_, AuditRow>(
            "SELECT id, at, actor, actor_name, level, action, target, result, detail FROM audit_log \
             WHERE ($1 IS NULL OR target = $1) AND ($2 IS NULL OR actor = $2 OR actor_name = $2) \
             AND ($3 IS NULL OR action = $3) AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5",
        )
        .bind(query.target.as_deref())
        .bind(query.actor.as_deref())
        .bind(query.action.as_deref())
        .bind(query.before_id)
        .bind(i64::from(query.limit.max(1)))
        .fetch_all(&self.pool)
        .await?;
        convert(rows)
    }
}
