//! Slipway's web UI, served by `slipway serve` beside the API: pages
//! rendered on the server (with `maud`, which escapes everything it
//! interpolates), a little JavaScript of its own (`assets/app.js`: local
//! times, countdowns, the live log, copy buttons) and plots drawn as SVG by
//! the server. Everything is compiled into the binary; nothing is fetched
//! at run time.
//!
//! Every page and action calls the service as the signed-in person, so the
//! rules are the API's: a member of one organization never sees another's
//! clusters, costs or members, and a link to them gives a clear page.
//!
//! - [`session`]: who is looking (the `token` cookie the GitHub web flow or
//!   the token form sets), and the [`session::FormPost`] every form posts
//!   through: same origin, signed in, and the form's anti-forgery token.
//! - [`security`]: the headers of every answer (a strict
//!   `Content-Security-Policy`, no framing), the anti-forgery tokens, the
//!   origin check, cookies.
//! - `pages`: the pages by subject; `sse`: the live log and cluster
//!   status as server-sent events; `plot`: the SVG plots.

// A new variant of an enum must be handled where it is matched: no
// wildcard arm swallows it (ARCHITECTURE.md, "Adding an operation kind").
#![warn(clippy::wildcard_enum_match_arm)]

mod assets;
mod error;
mod flash;
mod format;
mod pages;
mod plot;
pub mod security;
pub mod session;
mod sse;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use slipway_service::Service;

/// The largest form a page posts.
const FORM_BYTES: usize = 64 * 1024;

/// What every handler of the web UI gets.
#[derive(Clone)]
pub struct Web {
    pub service: Arc<Service>,
    /// Cookies are `Secure` (Slipway is reached over HTTPS).
    pub secure: bool,
    /// The origin (`scheme://host[:port]`) of the public URL.
    pub origin: String,
}

impl Web {
    pub fn new(service: Arc<Service>) -> Self {
        let public = service.config.public_url.trim_end_matches('/').to_owned();
        Self {
            secure: public.starts_with("https://"),
            origin: security::origin_of(&public).unwrap_or(public),
            service,
        }
    }

    /// `http` or `https`: the scheme people reach Slipway with.
    pub(crate) fn scheme(&self) -> &'static str {
        if self.secure { "https" } else { "http" }
    }
}

/// The web UI's routes, to be merged at `/` beside the API (they use no
/// path under `/v1`, `/.well-known`, `/healthz`, `/readyz` or `/metrics`).
pub fn router<S>(service: Arc<Service>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    use pages::{admin, clusters, home, operations, orgs, profile, runs, sign_in, tokens};
    let web = Web::new(service);
    Router::new()
        .route("/", get(home::page))
        .route("/sign-in", get(sign_in::page).post(sign_in::with_token))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/clusters", get(clusters::list).post(clusters::create))
        .route("/clusters/new", get(clusters::new_form))
        .route("/clusters/{name}", get(clusters::show))
        .route("/clusters/{name}/deploy", post(clusters::deploy))
        .route("/clusters/{name}/extend", post(clusters::extend))
        .route("/clusters/{name}/unschedule", post(clusters::unschedule))
        .route("/clusters/{name}/destroy", post(clusters::destroy))
        .route("/clusters/{name}/refresh", post(clusters::refresh))
        .route("/clusters/{name}/remove", post(clusters::remove))
        .route(
            "/clusters/{name}/capacity",
            post(clusters::request_capacity),
        )
        .route(
            "/clusters/{name}/capacity/{id}/withdraw",
            post(clusters::withdraw_capacity),
        )
        .route("/clusters/{name}/access", post(clusters::access))
        .route("/clusters/{name}/runs", post(clusters::start_run))
        .route("/clusters/{name}/watch", get(sse::watch))
        .route("/operations/{id}", get(operations::show))
        .route("/operations/{id}/events", get(sse::events))
        .route("/operations/{id}/cancel", post(operations::cancel))
        .route("/orgs", post(orgs::create))
        .route("/orgs/{name}", get(orgs::show))
        .route("/orgs/{name}/join", post(orgs::join))
        .route(
            "/orgs/{name}/members/{who}/approve",
            post(orgs::approve_member),
        )
        .route(
            "/orgs/{name}/members/{who}/remove",
            post(orgs::remove_member),
        )
        .route("/orgs/{name}/reconcile", post(orgs::reconcile))
        .route("/orgs/{name}/account", post(orgs::update_account))
        .route("/orgs/{name}/limits", post(orgs::update_limits))
        .route("/tokens", get(tokens::page).post(tokens::create))
        .route("/tokens/{id}/revoke", post(tokens::revoke))
        .route("/admin", get(admin::page))
        .route("/runs", get(runs::page))
        .route("/profile", get(profile::page))
        .route("/admin/rotate-keys", post(admin::rotate_keys))
        .route("/admin/provisioning/pause", post(admin::pause_provisioning))
        .route(
            "/admin/provisioning/resume",
            post(admin::resume_provisioning),
        )
        .route("/static/{file}", get(assets::serve))
        .layer(DefaultBodyLimit::max(FORM_BYTES))
        .layer(middleware::from_fn(security::headers))
        .with_state(web)
}
