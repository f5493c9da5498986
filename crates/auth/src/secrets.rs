//! Secrets at rest: Terraform states and the values of a blueprint's
//! sensitive variables are sealed (with the secrets key) before they reach
//! the database, and opened only for a run.
//!
//! A sensitive variable's value is stored as `{"sealed": "<base64>"}`,
//! sealed deterministically with its cluster and name as context: the same
//! value seals to the same envelope, so "is this deploy's configuration the
//! one running?" is still a comparison of specs, and a sealed value cannot
//! be moved to another cluster or variable.

use crate::AuthError;
use crate::keys::Sealer;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use slipway_core::blueprint::BlueprintMetadata;
use slipway_core::{ClusterName, Variables};

/// The key of a sealed value's envelope.
const SEALED: &str = "sealed";

/// Seals a Terraform state for storage; the state's key is bound to it.
pub fn seal_state(sealer: &Sealer, state_key: &str, state: &[u8]) -> Result<Vec<u8>, AuthError> {
    sealer.seal(&state_context(state_key), state)
}

/// Opens a stored Terraform state.
pub fn open_state(sealer: &Sealer, state_key: &str, sealed: &[u8]) -> Result<Vec<u8>, AuthError> {
    sealer.open(&state_context(state_key), sealed)
}

fn state_context(state_key: &str) -> String {
    format!("state:{state_key}")
}

fn variable_context(cluster: &ClusterName, name: &str) -> String {
    format!("variable:{cluster}:{name}")
}

/// The variables with the values of the blueprint's sensitive ones sealed.
/// Values already sealed stay as they are.
pub fn seal_variables(
    sealer: &Sealer,
    cluster: &ClusterName,
    metadata: &BlueprintMetadata,
    variables: &Variables,
) -> Result<Variables, AuthError> {
    let sensitive: Vec<&str> = metadata.sensitive_variables().collect();
    variables
        .iter()
        .map(|(name, value)| {
            let value = if sensitive.contains(&name.as_str()) && !is_sealed(value) {
                let plain = serde_json::to_vec(value).expect("a JSON value serializes");
                let sealed = sealer.seal_deterministic(&variable_context(cluster, name), &plain)?;
                serde_json::json!({ SEALED: STANDARD.encode(sealed) })
            } else {
                value.clone()
            };
            Ok((name.clone(), value))
        })
        .collect()
}

/// The variables with every sealed value opened, for a run or for checking
/// them against a blueprint.
pub fn open_variables(
    sealer: &Sealer,
    cluster: &ClusterName,
    variables: &Variables,
) -> Result<Variables, AuthError> {
    variables
        .iter()
        .map(|(name, value)| {
            let value = match sealed_bytes(value) {
                Some(encoded) => {
                    let sealed = STANDARD
                        .decode(encoded)
                        .map_err(|_| AuthError::Crypto(format!("variable {name}: not base64")))?;
                    let plain =
                        sealer.open_deterministic(&variable_context(cluster, name), &sealed)?;
                    serde_json::from_slice(&plain).map_err(|_| {
                        AuthError::Crypto(format!("variable {name}: not a JSON value"))
                    })?
                }
                None => value.clone(),
            };
            Ok((name.clone(), value))
        })
        .collect()
}

fn is_sealed(value: &Value) -> bool {
    sealed_bytes(value).is_some()
}

fn sealed_bytes(value: &Value) -> Option<&str> {
    let map = value.as_object().filter(|map| map.len() == 1)?;
    map.get(SEALED)?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata() -> BlueprintMetadata {
        toml::from_str(
            r#"
name = "x"
[variables.password]
type = "string"
sensitive = true
[variables.size]
type = "number"
default = 1
"#,
        )
        .unwrap()
    }

    #[test]
    fn sensitive_values_are_sealed_equal_for_equal_values_and_open_again() {
        let sealer = Sealer::new(&Sealer::generate_key().unwrap()).unwrap();
        let c1 = ClusterName::parse("c1").unwrap();
        let vars: Variables = [
            ("password".to_owned(), serde_json::json!("hunter2")),
            ("size".to_owned(), serde_json::json!(3)),
        ]
        .into();
        let sealed = seal_variables(&sealer, &c1, &metadata(), &vars).unwrap();
        assert!(!serde_json::to_string(&sealed).unwrap().contains("hunter2"));
        assert_eq!(sealed["size"], serde_json::json!(3));
        assert_eq!(
            sealed,
            seal_variables(&sealer, &c1, &metadata(), &vars).unwrap()
        );
        assert_eq!(
            seal_variables(&sealer, &c1, &metadata(), &sealed).unwrap(),
            sealed,
            "sealing twice changes nothing"
        );
        assert_eq!(open_variables(&sealer, &c1, &sealed).unwrap(), vars);
        let c2 = ClusterName::parse("c2").unwrap();
        assert!(
            open_variables(&sealer, &c2, &sealed).is_err(),
            "bound to its cluster"
        );
    }
}
