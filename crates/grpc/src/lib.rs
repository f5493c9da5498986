//! The first generation's gRPC interface — package `ps_server`, services
//! `Control` and `Account` (`proto/ps_server.proto`) — served over the same
//! service as the REST API and the web UI, so the same rules decide. Its
//! clients (a web site and scripts that spoke to the first generation's
//! provisioning server) keep working when pointed at Slipway.
//!
//! - [`control`]: `SetUp`, `Update`, `Refresh`, `Destroy`, `TearDown` as
//!   Slipway's cluster actions, each streaming the operation's log live;
//!   versions and set-up configuration from the blueprint.
//! - [`account`]: costs from the organization's cost history, the
//!   cluster's size.
//! - [`caller`]: who is calling — a bearer token in the `authorization`
//!   metadata, or (only from a configured trusted network, with no
//!   credential) the configured service identity. Checked before a request
//!   message is read.
//! - [`status`]: the service's errors as gRPC statuses.
//!
//! Server reflection and the standard health service are served too
//! (without a credential: they say nothing a client could not know).

// A new variant of an enum must be handled where it is matched: no
// wildcard arm swallows it (ARCHITECTURE.md, "Adding an operation kind").
#![warn(clippy::wildcard_enum_match_arm)]

pub mod account;
pub mod caller;
pub mod control;
pub mod status;

use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use slipway_service::{Service, ServiceIdentity};

/// The messages and service traits generated from `proto/ps_server.proto`.
#[allow(clippy::all, clippy::pedantic, missing_docs)]
pub mod proto {
    tonic::include_proto!("ps_server");

    /// The compiled `.proto`, for server reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        include_bytes!(concat!(env!("OUT_DIR"), "/ps_server_descriptor.bin"));
}

/// The `[grpc]` section of the configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GrpcConfig {
    /// The first generation's interface.
    pub gen1: Gen1Config,
}

/// How the first generation's requests map onto Slipway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Gen1Config {
    /// The blueprint a first-generation cluster is set up from.
    pub blueprint: String,
    /// Networks (CIDRs) whose calls without a credential act as
    /// `service_identity` — the first generation's clients sent none, from
    /// inside a private network. Default: none (every call needs a token).
    #[serde(with = "slipway_core::net::networks")]
    pub trusted_networks: Vec<IpNet>,
    /// Who those calls act as, audited under its name and their address.
    pub service_identity: ServiceIdentity,
}

impl Default for Gen1Config {
    fn default() -> Self {
        Self {
            blueprint: "local".into(),
            trusted_networks: Vec::new(),
            service_identity: ServiceIdentity::default(),
        }
    }
}

/// The largest request message accepted: the first generation's are a few
/// short strings.
const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// The gRPC services as one router: `Control` and `Account` behind the
/// authentication middleware, reflection and health without it. Unknown
/// methods answer `UNIMPLEMENTED`.
pub fn router(service: Arc<Service>, config: GrpcConfig) -> axum::Router {
    use proto::account_server::AccountServer;
    use proto::control_server::ControlServer;
    let config = Arc::new(config);
    let control = ControlServer::new(control::Control {
        service: service.clone(),
        config: config.clone(),
    })
    .max_decoding_message_size(MAX_MESSAGE_BYTES);
    let account = AccountServer::new(account::Account {
        service: service.clone(),
    })
    .max_decoding_message_size(MAX_MESSAGE_BYTES);
    let (health, health_service) = tonic_health::server::health_reporter();
    tokio::spawn(async move {
        health
            .set_serving::<ControlServer<control::Control>>()
            .await;
        health
            .set_serving::<AccountServer<account::Account>>()
            .await;
    });
    // Reflection in both versions clients use (grpcurl asks v1 first).
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    let reflection_v1 = reflection()
        .build_v1()
        .expect("the compiled descriptors are valid");
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .expect("the compiled descriptors are valid");
    tonic::service::Routes::new(control)
        .add_service(account)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .into_axum_router()
        .layer(axum::middleware::from_fn_with_state(
            caller::Authenticator { service, config },
            caller::authenticate,
        ))
}

/// Whether a request is gRPC (`content-type: application/grpc…`): the
/// listener sends those here and the rest to the REST API and web UI.
pub fn is_grpc<B>(request: &axum::http::Request<B>) -> bool {
    request
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/grpc"))
}

/// The answer to a call whose request message did not arrive in time (the
/// listener bounds how long a request's body may take): a trailers-only
/// `DEADLINE_EXCEEDED` with `message`.
pub fn deadline_exceeded(message: String) -> axum::response::Response {
    tonic::Status::deadline_exceeded(message).into_http()
}
