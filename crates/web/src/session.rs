//! Who is looking at a page, and the one way a form changes anything.
//!
//! The session is the `token` cookie: a user token set by the GitHub web
//! flow (`/v1/auth/web/callback`), or a credential pasted into the token
//! form. It is authenticated by the service on every request, exactly as
//! the API authenticates a bearer token (revoked or expired: signed out).
//!
//! Every form posts through [`FormPost`], which refuses before the handler
//! runs unless the request came from this origin, the person is signed in,
//! and the form carries the session's anti-forgery token.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::de::DeserializeOwned;
use slipway_api::types::ProvisioningView;
use slipway_service::{Caller, Credential, Error, Kind};

use crate::Web;
use crate::flash::{self, Flash};
use crate::security::{SESSION_COOKIE, cookie, csrf_token, foreign_origin, same};

mod layout;

/// A signed-in person.
#[derive(Debug, Clone)]
pub struct Session {
    pub caller: Caller,
    /// The anti-forgery token every form of this session carries.
    pub csrf: String,
}

impl Session {
    pub fn admin(&self) -> bool {
        self.caller.identity.admin
    }

    pub fn login(&self) -> &str {
        self.caller.name()
    }

    /// Whether the session is a user token (signing out revokes it), not an
    /// API token pasted in.
    pub fn is_user_token(&self) -> bool {
        matches!(self.caller.credential, Credential::UserToken { .. })
    }
}

/// Who is looking.
#[derive(Debug, Clone)]
pub enum Viewer {
    /// Nobody signed in; `ended` says why a session that was there no
    /// longer counts (expired, revoked).
    Anonymous {
        ended: Option<String>,
    },
    Signed(Session),
}

/// What every page knows: the web UI, who is looking, what the last action
/// did, and the page's own path (to come back to after signing in).
pub struct Ctx {
    pub web: Web,
    pub viewer: Viewer,
    pub flash: Option<Flash>,
    /// The request's path and query.
    pub path: String,
    /// Provisioning paused site-wide, shown on every page of a signed-in
    /// person.
    pub paused: Option<ProvisioningView>,
    /// The viewer's time zone (`app.js` names it in a cookie; UTC until
    /// then): every time on the page is shown in it.
    pub zone: chrono_tz::Tz,
}

/// The client's address: the peer's, or behind trusted proxies the one
/// `X-Forwarded-For` names.
pub fn client_of(web: &Web, parts: &Parts) -> IpAddr {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(IpAddr::V4(Ipv4Addr::LOCALHOST), |c| c.0.ip());
    web.service.client_address(
        peer,
        parts
            .headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().ok()),
    )
}

impl FromRequestParts<Web> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, web: &Web) -> Result<Self, Response> {
        let path = parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let flash = flash::take(web, &parts.headers);
        let zone =
            crate::format::zone_of(cookie(&parts.headers, crate::format::ZONE_COOKIE).as_deref());
        let viewer = match cookie(&parts.headers, SESSION_COOKIE).filter(|c| !c.is_empty()) {
            None => Viewer::Anonymous { ended: None },
            Some(secret) => match web
                .service
                .authenticate(Some(&secret), client_of(web, parts))
                .await
            {
                Ok(caller) => Viewer::Signed(Session {
                    csrf: csrf_token(web, &secret),
                    caller,
                }),
                Err(e) if e.kind == Kind::Unauthenticated => Viewer::Anonymous {
                    ended: Some(e.message),
                },
                Err(e) => {
                    let ctx = Ctx {
                        web: web.clone(),
                        viewer: Viewer::Anonymous { ended: None },
                        flash: None,
                        path,
                        paused: None,
                        zone,
                    };
                    return Err(ctx.error(&e));
                }
            },
        };
        let paused = match &viewer {
            Viewer::Signed(session) => web
                .service
                .provisioning(&session.caller)
                .await
                .ok()
                .filter(|p| p.paused),
            Viewer::Anonymous { .. } => None,
        };
        Ok(Ctx {
            web: web.clone(),
            viewer,
            flash,
            path,
            paused,
            zone,
        })
    }
}

impl Ctx {
    pub fn session(&self) -> Option<&Session> {
        match &self.viewer {
            Viewer::Signed(s) => Some(s),
            Viewer::Anonymous { .. } => None,
        }
    }

    /// The session, or the answer that sends the browser to sign in (and
    /// back here afterwards).
    pub fn signed_in(&self) -> Result<&Session, Box<Response>> {
        match &self.viewer {
            Viewer::Signed(s) => Ok(s),
            Viewer::Anonymous { ended } => Err(Box::new(self.to_sign_in(ended.clone()))),
        }
    }

    fn to_sign_in(&self, why: Option<String>) -> Response {
        let back: String =
            serde_urlencoded::to_string([("return_to", self.path.as_str())]).unwrap_or_default();
        let mut response = flash::redirect(
            &self.web,
            &format!("/sign-in?{back}"),
            Some(Flash::refused(match why {
                Some(why) => format!("Your session ended ({why}). Sign in again."),
                None => "Sign in to see this page.".to_owned(),
            })),
        );
        self.forget_ended_session(&mut response);
        response
    }

    /// A session cookie that no longer authenticates is removed, so the
    /// browser stops presenting it (each try counts as a failed
    /// authentication of its address).
    fn forget_ended_session(&self, response: &mut Response) {
        if let Viewer::Anonymous { ended: Some(_) } = &self.viewer {
            response.headers_mut().append(
                header::SET_COOKIE,
                crate::security::set_cookie(&self.web, SESSION_COOKIE, "", Some(0)),
            );
        }
    }

    /// A page: the layout around `body`, and the flash it showed removed.
    pub fn render(&self, title: &str, body: Markup) -> Response {
        self.render_status(StatusCode::OK, title, body)
    }

    pub fn render_status(&self, status: StatusCode, title: &str, body: Markup) -> Response {
        let mut response = (status, layout::page(self, title, body)).into_response();
        if self.flash.is_some() {
            response
                .headers_mut()
                .append(header::SET_COOKIE, flash::clear(&self.web));
        }
        self.forget_ended_session(&mut response);
        response
    }

    /// A clear page for a refusal: what was wrong, in the service's words,
    /// with the status its kind maps to. An ended session goes to sign in.
    pub fn error(&self, e: &Error) -> Response {
        if e.kind == Kind::Unauthenticated {
            return self.to_sign_in(Some(e.message.clone()));
        }
        let (status, title) = crate::error::status_and_title(e.kind);
        self.render_status(
            status,
            title,
            html! {
                section.refusal aria-labelledby="refusal-title" {
                    h1 #refusal-title { (title) }
                    p.message data-error-code=(e.code) { (crate::format::humanize(&e.message, self.zone)) }
                    p { a href="/" { "Back to the home page" } }
                }
            },
        )
    }

    /// A page that refuses a form for how it arrived.
    fn refuse_form(&self, message: &str) -> Response {
        self.render_status(
            StatusCode::FORBIDDEN,
            "Refused",
            html! {
                section.refusal aria-labelledby="refusal-title" {
                    h1 #refusal-title { "Refused" }
                    p.message data-error-code="csrf" { (message) }
                    p { a href="/" { "Back to the home page" } }
                }
            },
        )
    }
}

/// A form posted by a signed-in person from one of Slipway's own pages:
/// same origin, the session's anti-forgery token, then the form's fields.
/// A handler that takes one cannot run otherwise.
pub struct FormPost<T> {
    pub ctx: Ctx,
    pub form: T,
    /// The form's fields as sent, to show a refused form again
    /// ([`crate::echo`]).
    pub fields: Vec<(String, String)>,
}

impl<T> FormPost<T> {
    pub fn session(&self) -> &Session {
        self.ctx
            .session()
            .expect("an action is taken only by a signed-in person")
    }

    pub fn caller(&self) -> &Caller {
        &self.session().caller
    }
}

impl<T: DeserializeOwned> FromRequest<Web> for FormPost<T> {
    type Rejection = Response;

    async fn from_request(request: Request, web: &Web) -> Result<Self, Response> {
        let (mut parts, body) = request.into_parts();
        let ctx = Ctx::from_request_parts(&mut parts, web).await?;
        if let Some(from) = foreign_origin(web, &parts.headers) {
            tracing::warn!(origin = %from, path = %ctx.path, "refused a form from another origin");
            return Err(ctx.refuse_form(&format!(
                "This form was sent from {from}, not from Slipway's own pages, so nothing was done."
            )));
        }
        let Some(session) = ctx.session() else {
            let why = match &ctx.viewer {
                Viewer::Anonymous { ended } => ended.clone(),
                Viewer::Signed(_) => None,
            };
            return Err(ctx.to_sign_in(why));
        };
        let expected = session.csrf.clone();
        let bytes = Bytes::from_request(Request::from_parts(parts, body), web)
            .await
            .map_err(|rejection| {
                ctx.error(&Error::invalid(
                    "form",
                    format!("cannot be read: {}", rejection.body_text()),
                ))
            })?;
        let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ctx.error(&Error::invalid("form", e.to_string())))?;
        let given = fields
            .iter()
            .find(|(k, _)| k == "csrf")
            .map_or("", |(_, v)| v.as_str());
        if !same(given, &expected) {
            tracing::warn!(path = %ctx.path, "refused a form without this session's anti-forgery token");
            return Err(ctx.refuse_form(
                "This form did not carry this session's anti-forgery token (it was made elsewhere, or before you signed in again), so nothing was done. Reload the page and try again.",
            ));
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ctx.error(&Error::invalid("form", e.to_string())))?;
        Ok(FormPost { ctx, form, fields })
    }
}

/// The hidden field every form carries.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}
