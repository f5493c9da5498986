//! Terraform's state, kept by Slipway for its HTTP backend: every version
//! (sealed by the caller), its lock, and the run credentials that reach it.

use async_trait::async_trait;
use slipway_core::{OperationId, Timestamp};
use sqlx::AnyConnection;

use super::rows::*;
use super::{SqlStore, locking};
use crate::{Result, RunCredential, StateLock, StateStore, StateVersion};

/// Adds the state's next version (serial one above the last); its serial.
async fn append_version(
    conn: &mut AnyConnection,
    state_key: &str,
    operation: &OperationId,
    data: &[u8],
    now: Timestamp,
) -> Result<i64> {
    let serial: i64 = sqlx::query_scalar(
        "SELECT COALESCE(MAX(serial), 0) + 1 FROM state_versions WHERE state_key = $1",
    )
    .bind(state_key)
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query(
        "INSERT INTO state_versions (state_key, serial, operation_id, created_at, data) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(state_key)
    .bind(serial)
    .bind(operation.as_str())
    .bind(millis(now))
    .bind(b64(data))
    .execute(&mut *conn)
    .await?;
    Ok(serial)
}

#[async_trait]
impl StateStore for SqlStore {
    async fn live_run_credential(&self, operation: &OperationId) -> Result<Option<RunCredential>> {
        let mut reader = self.reader().await?;
        let row: Option<(String, String)> = sqlx::query_as(
            "SELECT c.state_key, c.secret_hash FROM run_credentials c JOIN operations o ON o.id = c.operation_id \
             WHERE c.operation_id = $1 AND o.state = 'running'",
        )
        .bind(operation.as_str())
        .fetch_optional(reader.conn())
        .await?;
        reader.done();
        Ok(row.map(|(state_key, secret_hash)| RunCredential {
            operation: operation.clone(),
            state_key,
            secret_hash,
        }))
    }

    async fn latest_state(&self, state_key: &str) -> Result<Option<StateVersion>> {
        sqlx::query_as::<_, StateVersionRow>(
            "SELECT state_key, serial, operation_id, created_at, data FROM state_versions \
             WHERE state_key = $1 ORDER BY serial DESC LIMIT 1",
        )
        .bind(state_key)
        .fetch_optional(&self.pool)
        .await?
        .map(StateVersion::try_from)
        .transpose()
    }

    async fn state_history(&self, state_key: &str) -> Result<Vec<StateVersion>> {
        convert(
            sqlx::query_as::<_, StateVersionRow>(
                "SELECT state_key, serial, operation_id, created_at, '' AS data FROM state_versions \
                 WHERE state_key = $1 ORDER BY serial",
            )
            .bind(state_key)
            .fetch_all(&self.pool)
            .await?,
        )
    }

    async fn write_state(
        &self,
        state_key: &str,
        operation: &OperationId,
        lock_id: Option<&str>,
        data: Vec<u8>,
        now: Timestamp,
    ) -> Result<Result<i64, StateLock>> {
        let mut tx = self.begin().await?;
        let lock = sqlx::query_as::<_, StateLockRow>(locking!(
            self.dialect,
            "SELECT state_key, lock_id, operation_id, info, created_at FROM state_locks WHERE state_key = $1"
        ))
        .bind(state_key)
        .fetch_optional(&mut *tx)
        .await?
        .map(StateLock::try_from)
        .transpose()?;
        if let Some(lock) = lock
            && Some(lock.lock_id.as_str()) != lock_id
        {
            tx.rollback().await?;
            return Ok(Err(lock));
        }
        let serial = append_version(&mut tx, state_key, operation, &data, now).await?;
        tx.commit().await?;
        Ok(Ok(serial))
    }

    async fn recover_state(
        &self,
        state_key: &str,
        operation: &OperationId,
        data: Vec<u8>,
        now: Timestamp,
    ) -> Result<bool> {
        let mut tx = self.begin().await?;
        let op = self.load_operation(&mut tx, operation, true).await?;
        let newer: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM state_versions v JOIN operations o ON o.id = v.operation_id \
             WHERE v.state_key = $1 AND o.created_at > $2",
        )
        .bind(state_key)
        .bind(millis(op.created_at))
        .fetch_one(&mut *tx)
        .await?;
        if newer > 0 {
            tx.rollback().await?;
            return Ok(false);
        }
        sqlx::query("DELETE FROM state_locks WHERE operation_id = $1")
            .bind(operation.as_str())
            .execute(&mut *tx)
            .await?;
        append_version(&mut tx, state_key, operation, &data, now).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn lock_state(&self, lock: StateLock) -> Result<Result<(), StateLock>> {
        let mut tx = self.begin().await?;
        let held = sqlx::query_as::<_, StateLockRow>(locking!(
            self.dialect,
            "SELECT state_key, lock_id, operation_id, info, created_at FROM state_locks WHERE state_key = $1"
        ))
        .bind(lock.state_key.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .map(StateLock::try_from)
        .transpose()?;
        if let Some(held) = held {
            tx.rollback().await?;
            return Ok(Err(held));
        }
        // Two first lockers race on the primary key; the loser sees the winner.
        let inserted = sqlx::query(
            "INSERT INTO state_locks (state_key, lock_id, operation_id, info, created_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (state_key) DO NOTHING",
        )
        .bind(lock.state_key.as_str())
        .bind(lock.lock_id.as_str())
        .bind(lock.operation.as_str())
        .bind(to_json(&lock.info))
        .bind(millis(lock.created_at))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        if inserted.rows_affected() == 0 {
            let held = sqlx::query_as::<_, StateLockRow>(
                "SELECT state_key, lock_id, operation_id, info, created_at FROM state_locks WHERE state_key = $1",
            )
            .bind(lock.state_key.as_str())
            .fetch_one(&self.pool)
            .await?;
            return Ok(Err(held.try_into()?));
        }
        Ok(Ok(()))
    }

    async fn unlock_state(&self, state_key: &str, lock_id: &str) -> Result<Result<(), StateLock>> {
        let mut tx = self.begin().await?;
        let held = sqlx::query_as::<_, StateLockRow>(locking!(
            self.dialect,
            "SELECT state_key, lock_id, operation_id, info, created_at FROM state_locks WHERE state_key = $1"
        ))
        .bind(state_key)
        .fetch_optional(&mut *tx)
        .await?
        .map(StateLock::try_from)
        .transpose()?;
        match held {
            Some(held) if held.lock_id != lock_id => {
                tx.rollback().await?;
                Ok(Err(held))
            }
            Some(_) => {
                sqlx::query("DELETE FROM state_locks WHERE state_key = $1")
                    .bind(state_key)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(Ok(()))
            }
            None => {
                tx.rollback().await?;
                Ok(Ok(()))
            }
        }
    }
}
