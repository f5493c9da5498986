//! Provisioning paused site-wide by an administrator, as the first
//! generation allowed: while paused no worker leases a queued operation —
//! deploys, destroys and runs wait, whoever or whatever asked — and running
//! ones go on. Everyone signed in sees the pause; pausing and resuming are
//! audited.

use chrono::Utc;
use slipway_api::types::ProvisioningView;
use slipway_core::{Level, ValidationError};
use slipway_store::ProvisioningPause;

use crate::error::Result;
use crate::{Caller, Service, audit_intent};

/// The longest reason a pause may give.
pub const MAX_REASON_CHARS: usize = 500;

impl Service {
    /// Whether provisioning is paused (anyone signed in).
    pub async fn provisioning(&self, _caller: &Caller) -> Result<ProvisioningView> {
        Ok(view(self.store.provisioning_pause().await?))
    }

    /// Pauses provisioning (administrators); pausing again changes only the
    /// reason.
    pub async fn pause_provisioning(
        &self,
        caller: &Caller,
        reason: &str,
    ) -> Result<ProvisioningView> {
        caller.require_admin()?;
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > MAX_REASON_CHARS {
            return Err(ValidationError::new(
                "reason",
                format!("must say why, in 1 to {MAX_REASON_CHARS} characters"),
            )
            .into());
        }
        let now = Utc::now();
        let pause = ProvisioningPause {
            by: caller.subject().to_string(),
            by_name: caller.name().to_owned(),
            reason: reason.to_owned(),
            since: now,
        };
        let audit = audit_intent(caller, Level::Admin, "provisioning.pause").entry(
            now,
            "provisioning",
            "paused",
            serde_json::json!({ "reason": reason }),
        );
        self.store
            .set_provisioning_pause(Some(pause), &audit)
            .await?;
        self.provisioning(caller).await
    }

    /// Resumes provisioning (administrators): queued operations start.
    pub async fn resume_provisioning(&self, caller: &Caller) -> Result<ProvisioningView> {
        caller.require_admin()?;
        let audit = audit_intent(caller, Level::Admin, "provisioning.resume").entry(
            Utc::now(),
            "provisioning",
            "resumed",
            serde_json::json!({}),
        );
        self.store.set_provisioning_pause(None, &audit).await?;
        self.provisioning(caller).await
    }
}

fn view(pause: Option<ProvisioningPause>) -> ProvisioningView {
    match pause {
        Some(p) => ProvisioningView {
            paused: true,
            since: Some(p.since),
            by: Some(p.by_name),
            reason: Some(p.reason),
        },
        None => ProvisioningView {
            paused: false,
            since: None,
            by: None,
            reason: None,
        },
    }
}
