//! The keeper of organizations' accounts: every `reconcile_every`, and
//! for one organization at once when its account changes, it accrues
//! costs, reconciles and enforces the budget ([`slipway_accounts::accounting`]).

use std::sync::Arc;

use slipway_accounts::accounting::{AccountsConfig, reconcile};
use slipway_core::{OrgName, Subject};
use slipway_store::{Notification, Store};
use tokio::sync::broadcast;
use tracing::{error, warn};

use crate::Worker;

/// The keeper of accounts: reconciles every organization's account every
/// `reconcile_every`, and one at once when it changes.
pub async fn run(worker: Arc<Worker>) {
    let mut notifications = worker.store.subscribe();
    let (store, config) = (worker.store.as_ref(), &worker.accounts);
    loop {
        keep_all(store, config).await;
        let next = tokio::time::sleep(config.reconcile_every);
        tokio::pin!(next);
        loop {
            tokio::select! {
                () = &mut next => break,
                note = notifications.recv() => match note {
                    Ok(Notification::AccountChanged { organization }) => {
                        keep(store, config, &organization).await;
                    }
                    Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                () = worker.shutdown.cancelled() => return,
            }
        }
    }
}

async fn keep_all(store: &dyn Store, config: &AccountsConfig) {
    let organizations = match store.organizations().await {
        Ok(orgs) => orgs,
        Err(e) => {
            warn!(error = %e, "cannot list the organizations to reconcile");
            return;
        }
    };
    for org in organizations {
        keep(store, config, &org.name).await;
    }
}

/// Accrues the organization's costs, reconciles its account (if it has one)
/// and enforces its budget. Errors are logged: the next round tries again.
async fn keep(store: &dyn Store, config: &AccountsConfig, organization: &OrgName) {
    let keeper = (Subject::slipway("accounts"), "accounts".to_owned());
    if let Err(e) = reconcile(store, config, organization, &keeper).await {
        error!(error = %e, %organization, "cannot reconcile the organization's account");
    }
}
