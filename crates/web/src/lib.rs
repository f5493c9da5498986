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
mod echo;
mod error;
mod flash;
mod format;
mod pages;
mod plot;
pub mod security;
pub mod session;
mod sort;
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

/// The paths that are the API's, whatever comes after them: everything
/// else is the web UI's, and a path it does not have gets a page.
const API_PATHS: [&str; 5] = ["/v1", "/healthz", "/readyz", "/metrics", "/.well-known"];

/// Whether `path` is the web UI's to answer (not the API's, whose unknown
/// paths get JSON).
pub fn serves(path: &str) -> bool {
    !API_PATHS.iter().any(|p| {
        path.strip_prefix(p)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// The web UI's page for a path it does not have (`404`), or a method its
/// path does not take (`405`), with the navigation of whoever is looking.
pub async fn missing(
    service: Arc<Service>,
    status: axum::http::StatusCode,
    request: axum::extract::Request,
) -> axum::response::Response {
    use axum::extract::FromRequestParts as _;
    let web = Web::new(service);
    let (mut parts, _) = request.into_parts();
    let mut response = match session::Ctx::from_request_parts(&mut parts, &web).await {
        Err(response) => response,
        Ok(ctx) => {
            let (title, what) = if status == axum::http::StatusCode::METHOD_NOT_ALLOWED {
                (
                    "Not like that",
                    "This page is not used that way: follow a link or a button of Slipway's own pages.",
                )
            } else {
                (
                    "Page not found",
                    "There is no page at this address. It may have been mistyped, or what it showed was removed.",
                )
            };
            ctx.render_status(
                status,
                title,
                maud::html! {
                    section.refusal aria-labelledby="refusal-title" data-missing=(status.as_u16()) {
                        h1 #refusal-title { (title) }
                        p.message { (what) }
                        p { a href="/" { "Back to the home page" } " · " a href="/clusters" { "Clusters" } }
                    }
                },
            )
        }
    };
    security::set_headers(response.headers_mut());
    response
}

/// The web UI's routes, to be merged at `/` beside the API (they use no
/// path under `/v1`, `/.well-known`, `/healthz`, `/readyz` or `/metrics`).
pub fn router<S>(service: Arc<Service>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    use pages::{
        admin, blueprints, clusters, deployments, home, operations, orgs, profile, runs, sign_in,
        tokens,
    };
    let web = Web::new(service);
    Router::new()
        .route("/", get(home::page))
        .route("/sign-in", get(sign_in::page).post(sign_in::with_token))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/clusters", get(clusters::list).post(clusters::create))
        .route("/clusters/new", get(clusters::new_form))
        .route("/clusters/{name}", get(clusters::show))
        .route("/clusters/{name}/deploy", post(clusters::deploy))
        .route(
            "/clusters/{name}/visibility",
            post(clusters::set_visibility),
        )
        .route(
            "/clusters/{name}/protection",
            post(clusters::set_protection),
        )
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
        .route("/deployments", get(deployments::page))
        .route("/blueprints", get(blueprints::page))
        .route(
            "/deployments/{deployment}/environments/{environment}/apply",
            post(deployments::apply_proposal),
        )
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

#[cfg(test)]
mod tests {
    #[test]
    fn the_api_keeps_its_paths() {
        for api in [
            "/v1",
            "/v1/nothing",
            "/healthz",
            "/readyz",
            "/metrics",
            "/.well-known/jwks.json",
        ] {
            assert!(!super::serves(api), "{api} is the API's");
        }
        for web in [
            "/",
            "/nothing",
            "/clusters/x/y",
            "/v1x",
            "/metricsfoo",
            "/healthz-page",
        ] {
            assert!(super::serves(web), "{web} is the web UI's");
        }
    }
}
