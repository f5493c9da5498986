//! Who is calling, decided from the request's metadata before its message
//! is read: a bearer token in `authorization` (a user, API or bootstrap
//! token, checked as the REST API checks it); with none, the configured
//! service identity — but only for a client in `grpc.gen1.trusted_networks`.
//! Anything else is `UNAUTHENTICATED`. Health and reflection need no
//! credential.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use slipway_service::{Caller, Service};
use tonic::Status;

use crate::GrpcConfig;
use crate::status::to_status;

/// What the middleware needs.
#[derive(Clone)]
pub struct Authenticator {
    pub service: Arc<Service>,
    pub config: Arc<GrpcConfig>,
}

/// The package whose methods need a caller.
const AUTHENTICATED_PACKAGE: &str = "/ps_server.";

/// Authenticates a call to `Control` or `Account` and hands the [`Caller`]
/// to the method (in the request's extensions), or answers the status.
pub async fn authenticate(
    State(auth): State<Authenticator>,
    mut request: Request,
    next: Next,
) -> Response {
    if !request.uri().path().starts_with(AUTHENTICATED_PACKAGE) {
        return next.run(request).await;
    }
    let Some(&ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
        return refuse(Status::internal("the listener did not say who connected"));
    };
    let client = auth.service.client_address(
        peer.ip(),
        request
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().ok()),
    );
    let secret = slipway_auth::credential::bearer(
        request
            .headers()
            .get_all(axum::http::header::AUTHORIZATION)
            .iter()
            .map(|v| v.as_bytes()),
    )
    .map(str::to_owned);
    let gen1 = &auth.config.gen1;
    let caller: Result<Caller, _> = match secret {
        Some(secret) => auth.service.authenticate(Some(&secret), client).await,
        None if gen1.trusted_networks.iter().any(|n| n.contains(&client)) => auth
            .service
            .trusted_network_caller(&gen1.service_identity, client),
        None => auth.service.authenticate(None, client).await,
    };
    match caller {
        Ok(caller) => {
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(e) => refuse(to_status(e)),
    }
}

fn refuse(status: Status) -> Response {
    status.into_http::<axum::body::Body>()
}

/// The caller the middleware found.
pub fn caller<T>(request: &tonic::Request<T>) -> Result<Caller, Status> {
    request
        .extensions()
        .get::<Caller>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("this method needs a token"))
}
