//! The server's age identity. Teams encrypt the secrets they commit (sops
//! or age files) to its recipient, beside their own keys; only the server
//! reads them. It is derived from the secrets key, so every replica and
//! worker sharing that key has it, and nothing more is stored.

use slipway_api::types::SecretsRecipient;

use crate::Service;
use crate::caller::{Caller, scope};
use crate::error::Result;

impl Service {
    /// The server's age recipient (anyone signed in: it is a public key).
    pub fn secrets_recipient(&self, caller: &Caller) -> Result<SecretsRecipient> {
        caller.require(scope::CLUSTERS_READ)?;
        Ok(SecretsRecipient {
            recipient: self.age_identity().to_public().to_string(),
        })
    }

    /// The identity that opens the secrets teams commit.
    pub(crate) fn age_identity(&self) -> age::x25519::Identity {
        slipway_sops::identity(self.identities.sealer.identity_seed())
    }
}
