//! `terraform-provider-tiny`: a tiny, real Terraform provider used only by tests.
//!
//! The tests place this binary in a filesystem mirror, in the unpacked layout
//! `MIRROR/slipway.test/test/tiny/0.1.0/<os>_<arch>/terraform-provider-tiny_v0.1.0`,
//! so that Terraform can install it without network access. That lets them check
//! Slipway's provider mirror, its shared plugin cache and dependency lock files
//! against a real `terraform init` / `apply` / `destroy`.
//!
//! Modules refer to it as `source = "slipway.test/test/tiny"`, `version = "0.1.0"`.
//! It has an empty provider configuration and one resource, `tiny_thing`:
//!
//! - `input` (string, required): changing it forces replacement;
//! - `id` (string, computed): `"thing-" + input`, set at create;
//! - `output` (string, computed): `input` in upper case, set at create.
//!
//! Reads return the state unchanged and destroy does nothing: nothing exists
//! outside the Terraform state.

use std::borrow::Cow;
use std::collections::HashMap;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tf_provider::schema::{
    Attribute, AttributeConstraint, AttributeType, Block, Description, Schema,
};
use tf_provider::value::{Value, ValueEmpty, ValueString};
use tf_provider::{AttributePath, Diagnostics, DynamicResource, Provider, Resource, map, serve};

/// State (and configuration) of a `tiny_thing`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ThingState<'a> {
    #[serde(borrow)]
    input: ValueString<'a>,
    #[serde(borrow)]
    id: ValueString<'a>,
    #[serde(borrow)]
    output: ValueString<'a>,
}

/// The `tiny_thing` resource.
struct Thing;

fn string_attribute(description: &str, constraint: AttributeConstraint) -> Attribute {
    Attribute {
        attr_type: AttributeType::String,
        description: Description::plain(description),
        constraint,
        ..Default::default()
    }
}

#[async_trait]
impl Resource for Thing {
    type State<'a> = ThingState<'a>;
    type PrivateState<'a> = ValueEmpty;
    type ProviderMetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(Schema {
            version: 1,
            block: Block {
                description: Description::plain("A thing that exists only in the Terraform state."),
                attributes: map! {
                    "input" => string_attribute(
                        "Any string; changing it replaces the thing.",
                        AttributeConstraint::Required,
                    ),
                    "id" => string_attribute(
                        "`thing-` followed by `input`.",
                        AttributeConstraint::Computed,
                    ),
                    "output" => string_attribute(
                        "`input` in upper case.",
                        AttributeConstraint::Computed,
                    ),
                },
                ..Default::default()
            },
        })
    }

    async fn read<'a>(
        &self,
        _diags: &mut Diagnostics,
        state: Self::State<'a>,
        private_state: Self::PrivateState<'a>,
        _provider_meta_state: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        Some((state, private_state))
    }

    async fn plan_create<'a>(
        &self,
        _diags: &mut Diagnostics,
        proposed_state: Self::State<'a>,
        _config_state: Self::State<'a>,
        _provider_meta_state: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let planned = ThingState {
            id: Value::Unknown,
            output: Value::Unknown,
            ..proposed_state
        };
        Some((planned, ValueEmpty::default()))
    }

    async fn plan_update<'a>(
        &self,
        _diags: &mut Diagnostics,
        prior_state: Self::State<'a>,
        proposed_state: Self::State<'a>,
        _config_state: Self::State<'a>,
        prior_private_state: Self::PrivateState<'a>,
        _provider_meta_state: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>, Vec<AttributePath>)> {
        if proposed_state.input == prior_state.input {
            return Some((proposed_state, prior_private_state, Vec::new()));
        }
        let planned = ThingState {
            id: Value::Unknown,
            output: Value::Unknown,
            ..proposed_state
        };
        Some((
            planned,
            prior_private_state,
            vec![AttributePath::new("input")],
        ))
    }

    async fn plan_destroy<'a>(
        &self,
        _diags: &mut Diagnostics,
        _prior_state: Self::State<'a>,
        prior_private_state: Self::PrivateState<'a>,
        _provider_meta_state: Self::ProviderMetaState<'a>,
    ) -> Option<Self::PrivateState<'a>> {
        Some(prior_private_state)
    }

    async fn create<'a>(
        &self,
        diags: &mut Diagnostics,
        planned_state: Self::State<'a>,
        _config_state: Self::State<'a>,
        planned_private_state: Self::PrivateState<'a>,
        _provider_meta_state: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        let Value::Value(input) = &planned_state.input else {
            diags.root_error_short("`input` must be known when creating a tiny_thing");
            return None;
        };
        let created = ThingState {
            id: Value::Value(Cow::Owned(format!("thing-{input}"))),
            output: Value::Value(Cow::Owned(input.to_uppercase())),
            ..planned_state
        };
        Some((created, planned_private_state))
    }

    async fn update<'a>(
        &self,
        _diags: &mut Diagnostics,
        _prior_state: Self::State<'a>,
        planned_state: Self::State<'a>,
        _config_state: Self::State<'a>,
        planned_private_state: Self::PrivateState<'a>,
        _provider_meta_state: Self::ProviderMetaState<'a>,
    ) -> Option<(Self::State<'a>, Self::PrivateState<'a>)> {
        // Only `input` is configurable and changing it replaces the thing,
        // so an update never changes anything.
        Some((planned_state, planned_private_state))
    }

    async fn destroy<'a>(
        &self,
        _diags: &mut Diagnostics,
        _prior_state: Self::State<'a>,
        _planned_private_state: Self::PrivateState<'a>,
        _provider_meta_state: Self::ProviderMetaState<'a>,
    ) -> Option<()> {
        Some(())
    }
}

/// The `tiny` provider: an empty configuration and one resource.
struct Tiny;

#[async_trait]
impl Provider for Tiny {
    type Config<'a> = ValueEmpty;
    type MetaState<'a> = ValueEmpty;

    fn schema(&self, _diags: &mut Diagnostics) -> Option<Schema> {
        Some(Schema {
            version: 1,
            block: Block {
                description: Description::plain("A tiny provider for Slipway's tests."),
                ..Default::default()
            },
        })
    }

    fn get_resources(
        &self,
        _diags: &mut Diagnostics,
    ) -> Option<HashMap<String, Box<dyn DynamicResource>>> {
        Some(map! { "thing" => Thing })
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    serve("tiny", Tiny).await
}
