//! The audit log: who, at which level, did what to what, with which result.

use async_trait::async_trait;

use super::rows::*;
use super::{Dialect, SqlStore};
use crate::{AuditEntry, AuditQuery, AuditStore, NewAuditEntry, Result};

#[async_trait]
impl AuditStore for SqlStore {
    async fn append_audit(&self, entry: NewAuditEntry) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        self.insert_audit(&mut conn, &entry).await
    }

    async fn append_audits(&self, entries: &[NewAuditEntry]) -> Result<()> {
        if self.dialect == Dialect::Postgres {
            // A connection to a server can break while it is kept: the
            // pool checks each before handing it out.
            let mut conn = self.pool.acquire().await?;
            return self.insert_audits(&mut conn, entries).await;
        }
        let mut kept = self.audit_connection.0.lock().await;
        let mut conn = match kept.take() {
            Some(conn) => conn,
            None => self.pool.acquire().await?.detach(),
        };
        // An error (or the caller giving up) drops the connection with it.
        self.insert_audits(&mut conn, entries).await?;
        *kept = Some(conn);
        Ok(())
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

/// The most entries one statement inserts.
const ROWS_PER_INSERT: usize = 100;

impl SqlStore {
    /// Inserts `entries` on `conn`, all or none. A group that fits in one
    /// statement needs no transaction around it — a statement is atomic —
    /// and so costs one round trip, not three.
    async fn insert_audits(
        &self,
        conn: &mut sqlx::AnyConnection,
        entries: &[NewAuditEntry],
    ) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        if entries.len() <= ROWS_PER_INSERT {
            return insert_rows(conn, entries).await;
        }
        let mut tx = self.begin_on(conn).await?;
        for chunk in entries.chunks(ROWS_PER_INSERT) {
            insert_rows(&mut tx, chunk).await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

/// One statement inserting `entries` (at least one).
pub(super) async fn insert_rows(
    conn: &mut sqlx::AnyConnection,
    entries: &[NewAuditEntry],
) -> Result<()> {
    const COLUMNS: usize = 8;
    let rows: Vec<String> = (0..entries.len())
        .map(|row| {
            let params: Vec<String> = (1..=COLUMNS)
                .map(|c| format!("${}", row * COLUMNS + c))
                .collect();
            format!("({})", params.join(", "))
        })
        .collect();
    let sql = format!(
        "INSERT INTO audit_log (at, actor, actor_name, level, action, target, result, detail) VALUES {}",
        rows.join(", ")
    );
    let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
    for entry in entries {
        insert = insert
            .bind(millis(entry.at))
            .bind(entry.actor.as_str())
            .bind(entry.actor_name.as_str())
            .bind(entry.level.to_string())
            .bind(entry.action.as_str())
            .bind(entry.target.as_str())
            .bind(entry.result.as_str())
            .bind(to_json(&entry.detail));
    }
    insert.execute(conn).await?;
    Ok(())
}
