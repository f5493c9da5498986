//! Signing in — with GitHub (the API's web flow: PKCE, a `state` bound to
//! this browser), or by pasting a credential (an API token; for the
//! administrator of a fresh install, the bootstrap token) — and signing
//! out.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Query, Request, State};
use axum::http::{HeaderMap, header};
use axum::response::Response;
use maud::html;
use serde::Deserialize;
use slipway_service::sign_in::local_path;
use slipway_service::{Credential, Error};

use crate::Web;
use crate::flash::{self, Flash};
use crate::security::{
    SESSION_COOKIE, SIGN_IN_FORM_COOKIE, cookie, foreign_origin, same, set_cookie,
};
use crate::session::{Ctx, FormPost, Viewer};

#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    return_to: Option<String>,
}

fn return_path(given: Option<&str>) -> String {
    given
        .and_then(local_path)
        .filter(|p| !p.starts_with("/sign-in") && !p.starts_with("/sign-out"))
        .unwrap_or_else(|| "/".to_owned())
}

pub async fn page(ctx: Ctx, headers: HeaderMap, Query(query): Query<SignInQuery>) -> Response {
    let back = return_path(query.return_to.as_deref());
    if let Viewer::Signed(s) = &ctx.viewer {
        return ctx.render(
            "Signed in",
            html! {
                h1 { "You are signed in" }
                p { "As " strong { (s.login()) } ". " a href=(back) { "Go on" } }
            },
        );
    }
    // The token form is bound to this browser by a random cookie it echoes.
    let binding = cookie(&headers, SIGN_IN_FORM_COOKIE).filter(|b| b.len() == 64);
    let binding = binding.unwrap_or_else(|| hex::encode(rand::random::<[u8; 32]>()));
    let github = !ctx.web.service.config.auth.github.client_id.is_empty();
    let github_url = format!(
        "/v1/auth/web/login?{}",
        serde_urlencoded::to_string([("return_to", back.as_str())]).unwrap_or_default()
    );
    let ended = match &ctx.viewer {
        Viewer::Anonymous { ended } => ended.clone(),
        Viewer::Signed(_) => None,
    };
    let mut response = ctx.render(
        "Sign in",
        html! {
            section.narrow aria-labelledby="sign-in-title" {
                h1 #sign-in-title { "Sign in to Slipway" }
                @if let Some(why) = ended {
                    p.notice { "Your last session ended: " (why) }
                }
                @if github {
                    p { a.button.primary #github-sign-in href=(github_url) { "Sign in with GitHub" } }
                    p.hint { "GitHub asks you to let Slipway read your login and organization memberships; you come back here afterwards." }
                } @else {
                    p.hint { "Sign-in with GitHub is not configured on this server; sign in with a token." }
                }
                details open[!github] {
                    summary { "Sign in with a token" }
                    form.stack method="post" action="/sign-in" {
                        input type="hidden" name="form" value=(binding);
                        input type="hidden" name="return_to" value=(back);
                        label for="token" { "API token or bootstrap token" }
                        input #token type="password" name="token" autocomplete="off" required spellcheck="false";
                        p.hint {
                            "Administrators of a fresh install: the first start wrote the bootstrap token to "
                            code { "admin.token" } " in the data directory, and "
                            code { "slipway admin bootstrap-token" } " on the server's host makes a new one."
                        }
                        button.primary type="submit" { "Sign in" }
                    }
                }
            }
        },
    );
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&ctx.web, SIGN_IN_FORM_COOKIE, &binding, Some(3600)),
    );
    response
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    #[serde(default)]
    form: String,
    #[serde(default)]
    token: String,
    return_to: Option<String>,
}

/// Signs in with a pasted credential: it must authenticate as the API's
/// bearer tokens do; the session cookie then carries it.
pub async fn with_token(State(web): State<Web>, request: Request) -> Response {
    let (mut parts, body) = request.into_parts();
    let ctx = match <Ctx as FromRequestParts<Web>>::from_request_parts(&mut parts, &web).await {
        Ok(ctx) => ctx,
        Err(response) => return response,
    };
    if let Some(from) = foreign_origin(&web, &parts.headers) {
        return ctx.error(&Error::forbidden(format!(
            "this sign-in was sent from {from}, not from Slipway's sign-in page"
        )));
    }
    let binding = cookie(&parts.headers, SIGN_IN_FORM_COOKIE);
    let client = crate::session::client_of(&web, &parts);
    let bytes =
        match <Bytes as FromRequest<Web>>::from_request(Request::from_parts(parts, body), &web)
            .await
        {
            Ok(bytes) => bytes,
            Err(rejection) => return ctx.error(&Error::invalid("form", rejection.body_text())),
        };
    let form: TokenForm = match serde_urlencoded::from_bytes(&bytes) {
        Ok(form) => form,
        Err(e) => return ctx.error(&Error::invalid("form", e.to_string())),
    };
    let back = return_path(form.return_to.as_deref());
    let again = format!(
        "/sign-in?{}",
        serde_urlencoded::to_string([("return_to", back.as_str())]).unwrap_or_default()
    );
    if !binding.is_some_and(|b| same(&b, &form.form)) {
        return flash::redirect(
            &web,
            &again,
            Some(Flash::refused(
                "This sign-in form was not the one this browser was given (it came from elsewhere, or it is old): try again.",
            )),
        );
    }
    let secret = form.token.trim();
    // A cookie carries it: only the characters tokens are made of.
    if secret.is_empty()
        || secret.len() > 4096
        || !secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'))
    {
        return flash::redirect(
            &web,
            &again,
            Some(Flash::refused("token: that is not a Slipway token")),
        );
    }
    match web.service.authenticate(Some(secret), client).await {
        Ok(caller) => {
            let max_age = match &caller.credential {
                Credential::UserToken { expires_at, .. } => {
                    Some((*expires_at - chrono::Utc::now()).num_seconds())
                }
                Credential::ApiToken { .. } | Credential::TrustedNetwork { .. } => None,
            };
            let mut response = flash::redirect(
                &web,
                &back,
                Some(Flash::ok(format!("Signed in as {}.", caller.name()))),
            );
            let headers = response.headers_mut();
            headers.append(
                header::SET_COOKIE,
                set_cookie(&web, SESSION_COOKIE, secret, max_age),
            );
            headers.append(
                header::SET_COOKIE,
                set_cookie(&web, SIGN_IN_FORM_COOKIE, "", Some(0)),
            );
            response
        }
        Err(e) if e.kind == slipway_service::Kind::RateLimited => ctx.error(&e),
        Err(e) => flash::redirect(&web, &again, Some(Flash::refused(e.message))),
    }
}

#[derive(Debug, Deserialize)]
pub struct Nothing {}

/// Signs out: a user token is revoked (everywhere, as `slipway logout`
/// does); a pasted API token stays valid (revoke it on the tokens page).
/// The cookie goes either way.
pub async fn sign_out(action: FormPost<Nothing>) -> Response {
    let session = action.session();
    let text = if session.is_user_token() {
        match action.ctx.web.service.logout(&session.caller).await {
            Ok(()) => "Signed out: your session token is revoked.".to_owned(),
            Err(e) => format!("Signed out of this browser (the token could not be revoked: {e})."),
        }
    } else {
        "Signed out of this browser. The API token you signed in with stays valid until it is revoked."
            .to_owned()
    };
    let mut response = flash::redirect(&action.ctx.web, "/sign-in", Some(Flash::ok(text)));
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(&action.ctx.web, SESSION_COOKIE, "", Some(0)),
    );
    response
}
