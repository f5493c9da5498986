//! Operation logs: events numbered in order, appended in batches.

use async_trait::async_trait;
use slipway_core::OperationId;
use slipway_core::event::{Event, NewEvent};

use super::SqlStore;
use super::rows::*;
use crate::{LogStore, Notification, Result};

#[async_trait]
impl LogStore for SqlStore {
    async fn append_events(&self, id: &OperationId, events: &[NewEvent]) -> Result<u64> {
        if events.is_empty() {
            let last: i64 = sqlx::query_scalar(
                "SELECT COALESCE(MAX(seq), 0) FROM operation_events WHERE operation_id = $1",
            )
            .bind(id.as_str())
            .fetch_one(&self.pool)
            .await?;
            return Ok(u64::try_from(last).unwrap_or_default());
        }
        let mut tx = self.begin().await?;
        // Serializes appenders of one operation on PostgreSQL.
        let _ = self.load_operation(&mut tx, id, true).await?;
        let last_seq = self.insert_events(&mut tx, id, events).await?;
        tx.commit().await?;
        self.notify([Notification::Events {
            operation: id.clone(),
            last_seq,
        }])
        .await;
        Ok(last_seq)
    }

    async fn events(&self, id: &OperationId, after_seq: u64, limit: u32) -> Result<Vec<Event>> {
        let mut reader = self.reader().await?;
        let rows = sqlx::query_as::<_, EventRow>(
            "SELECT seq, at, kind, level, message, data FROM operation_events \
             WHERE operation_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(id.as_str())
        .bind(i64::try_from(after_seq).unwrap_or(i64::MAX))
        .bind(i64::from(limit.max(1)))
        .fetch_all(reader.conn())
        .await?;
        reader.done();
        convert(rows)
    }
}
