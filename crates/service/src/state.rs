//! Terraform's HTTP state backend, served by Slipway: Terraform
//! authenticates with basic auth as its operation (`TF_HTTP_USERNAME` = the
//! operation id, `TF_HTTP_PASSWORD` = the secret recorded with its lease),
//! which names the state and is valid only while the operation runs. Every
//! version is kept, sealed with the secrets key.
//!
//! The transport authenticates with [`Service::state_credential`] before it
//! reads any body, and bounds what it reads.

use std::net::IpAddr;

use chrono::Utc;
use slipway_auth::api_token::hash_secret;
use slipway_auth::secrets;
use slipway_core::OperationId;
use slipway_store::{RunCredential, StateLock};

use crate::Service;
use crate::error::{Error, Kind, Result};

/// A running operation, authenticated for its state by
/// [`Service::state_credential`]: what the other state calls take.
pub struct StateCaller(RunCredential);

/// What a lock or a write found in the way.
pub enum StateOutcome {
    Done,
    /// Another lock holds the state (answer 423 with its lock info).
    Locked(serde_json::Value),
}

impl Service {
    /// The running operation a state request authenticates as (basic auth:
    /// the operation id and its run's secret). Failures count against the
    /// client's address like any failed authentication.
    pub async fn state_credential(
        &self,
        client: IpAddr,
        user: Option<&str>,
        password: Option<&str>,
    ) -> Result<StateCaller> {
        self.rate_limiters.check_not_blocked(client)?;
        let refused = || {
            Error::unauthenticated("the state backend needs the credentials of a running operation")
        };
        let checked = async {
            let (Some(user), Some(password)) = (user, password) else {
                return Err(refused());
            };
            let operation = OperationId::parse(user).map_err(|_| refused())?;
            let credential = self
                .store
                .live_run_credential(&operation)
                .await?
                .ok_or_else(refused)?;
            if credential.secret_hash != hash_secret(password) {
                return Err(refused());
            }
            Ok(StateCaller(credential))
        };
        match checked.await {
            Err(e) if e.kind == Kind::Unauthenticated => {
                Err(self.rate_limiters.failed_authentication(client, e))
            }
            other => other,
        }
    }

    /// The newest version of the state, opened; `None` when there is none.
    pub async fn state_read(&self, credential: &StateCaller) -> Result<Option<Vec<u8>>> {
        let Some(version) = self.store.latest_state(&credential.0.state_key).await? else {
            return Ok(None);
        };
        let state = secrets::open_state(&self.identities.sealer, &credential.0.state_key, &version.data)
            .map_err(|e| {
                tracing::error!(state = %credential.0.state_key, serial = version.serial, error = %e, "cannot open a state");
                Error::unavailable("the state cannot be read (is the secrets key the one it was sealed with?)")
            })?;
        Ok(Some(state))
    }

    /// Writes a new version of the state (sealed), under `lock_id`.
    pub async fn state_write(
        &self,
        credential: &StateCaller,
        lock_id: Option<&str>,
        state: &[u8],
    ) -> Result<StateOutcome> {
        if serde_json::from_slice::<serde::de::IgnoredAny>(state).is_err() {
            return Err(Error::invalid("state", "must be a Terraform state (JSON)"));
        }
        let sealed = secrets::seal_state(&self.identities.sealer, &credential.0.state_key, state)
            .map_err(|_| Error::unavailable("cannot seal the state right now"))?;
        match self
            .store
            .write_state(
                &credential.0.state_key,
                &credential.0.operation,
                lock_id,
                sealed,
                Utc::now(),
            )
            .await?
        {
            Ok(serial) => {
                tracing::debug!(state = %credential.0.state_key, serial, operation = %credential.0.operation, "state written");
                Ok(StateOutcome::Done)
            }
            Err(lock) => Ok(StateOutcome::Locked(lock.info)),
        }
    }

    /// Takes (`lock`) or releases the state's lock with Terraform's lock
    /// info.
    pub async fn state_lock(
        &self,
        credential: &StateCaller,
        lock: bool,
        info: &[u8],
    ) -> Result<StateOutcome> {
        let info: serde_json::Value = serde_json::from_slice(info)
            .map_err(|e| Error::invalid("lock", format!("must be Terraform's lock info: {e}")))?;
        let id = info
            .get("ID")
            .and_then(|id| id.as_str())
            .filter(|id| !id.is_empty() && id.len() <= 256)
            .ok_or_else(|| Error::invalid("lock", "must carry an ID"))?
            .to_owned();
        let outcome = if lock {
            self.store
                .lock_state(StateLock {
                    state_key: credential.0.state_key.clone(),
                    lock_id: id,
                    operation: credential.0.operation.clone(),
                    info,
                    created_at: Utc::now(),
                })
                .await?
        } else {
            self.store
                .unlock_state(&credential.0.state_key, &id)
                .await?
        };
        Ok(match outcome {
            Ok(()) => StateOutcome::Done,
            Err(held) => StateOutcome::Locked(held.info),
        })
    }
}
