//! The pages, by subject. Each page calls the service as the signed-in
//! person and shows its refusals in its words; each form posts through
//! [`crate::session::FormPost`] and redirects back with what happened.

pub mod admin;
pub mod blueprints;
pub mod clusters;
pub mod deployments;
pub mod home;
pub mod operations;
pub mod orgs;
pub mod profile;
pub mod runs;
pub mod sign_in;
pub mod tokens;
pub mod variables;

use axum::response::Response;
use slipway_service::{Error, Kind};

use crate::echo::Echo;
use crate::flash::{self, Flash};
use crate::session::{Ctx, FormPost};

/// Goes back to `location` saying what a call did: `ok` in words, or the
/// service's refusal.
pub(crate) fn done<T>(
    ctx: &Ctx,
    location: &str,
    result: Result<T, Error>,
    ok: impl FnOnce(T) -> String,
) -> Response {
    told(ctx, location, result, |value| Flash::ok(ok(value)))
}

/// Like [`done`], when what was done says how it went (kept, but waiting,
/// is not a success).
pub(crate) fn told<T>(
    ctx: &Ctx,
    location: &str,
    result: Result<T, Error>,
    flash: impl FnOnce(T) -> Flash,
) -> Response {
    match result {
        Ok(value) => flash::redirect(&ctx.web, location, Some(flash(value))),
        Err(e) if e.kind == Kind::Unauthenticated => ctx.error(&e),
        Err(e) => flash::redirect(&ctx.web, location, Some(Flash::refused(e.message))),
    }
}

/// Like [`done`] for a form with fields: a refusal goes back to `form`
/// on `page` with what was typed (the fields `shown` lets through) and the
/// refusal beside the field it names.
pub(crate) fn answered<T, R>(
    action: &FormPost<T>,
    page: &str,
    form: &str,
    result: Result<R, Error>,
    shown: impl Fn(&str) -> bool,
    flash: impl FnOnce(R) -> Flash,
) -> Response {
    match result {
        Err(e) if e.kind != Kind::Unauthenticated => {
            let back = Echo::location(page, form, &e, &action.fields, shown);
            flash::redirect(&action.ctx.web, &back, Some(Flash::refused(e.message)))
        }
        result => told(&action.ctx, page, result, flash),
    }
}

/// The form of a destructive action: it acts only once the person has
/// confirmed (`confirmed=yes`, which only the confirmation step sends).
#[derive(Debug, serde::Deserialize)]
pub struct Confirm {
    confirmed: Option<String>,
}

impl Confirm {
    pub fn confirmed(&self) -> bool {
        self.confirmed.as_deref() == Some("yes")
    }
}

/// The confirmation step of a destructive action: what it does, a button
/// that posts it again confirmed, and Cancel, back to `back`. It needs no
/// script; nothing is done until the button is pressed.
pub(crate) fn confirm_step(
    ctx: &Ctx,
    title: &str,
    what: impl Into<String>,
    button: &str,
    back: &str,
) -> Response {
    let Some(session) = ctx.session() else {
        return flash::redirect(&ctx.web, back, None);
    };
    let action = ctx.path.split('?').next().unwrap_or("/").to_owned();
    ctx.render(
        title,
        maud::html! {
            section.confirm-step data-confirm-step aria-labelledby="confirm-title" {
                h1 #confirm-title { (title) }
                p #confirm-what { (what.into()) }
                div.confirm-buttons {
                    form.inline method="post" action=(action) {
                        (crate::session::csrf_field(session))
                        input type="hidden" name="confirmed" value="yes";
                        button.danger type="submit" data-confirm-yes aria-describedby="confirm-what" { (button) }
                    }
                    a.button href=(back) data-confirm-cancel { "Cancel" }
                }
                p.hint { "Nothing is done until you press " strong { (button) } "." }
            }
        },
    )
}

/// A form's text field: trimmed, and `None` when left empty.
pub(crate) fn given(field: &Option<String>) -> Option<String> {
    field
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A form's whole-number field, if given.
pub(crate) fn number(name: &str, field: &Option<String>) -> Result<Option<u32>, Error> {
    given(field)
        .map(|v| {
            v.parse::<u32>()
                .map_err(|_| Error::invalid(name, format!("must be a whole number, not {v:?}")))
        })
        .transpose()
}

/// A form's amount of money, if given.
pub(crate) fn amount(
    name: &str,
    field: &Option<String>,
) -> Result<Option<slipway_core::Money>, Error> {
    given(field)
        .map(|v| {
            slipway_core::Money::parse(v.trim_start_matches('$').replace(',', "").as_str())
                .map_err(|e| Error::invalid(name, e.rule))
        })
        .transpose()
}

/// The path of a cluster's page (names are `[a-z0-9-]`, so they need no
/// escaping; anything else never reaches a link).
pub(crate) fn cluster_path(name: &str) -> String {
    format!("/clusters/{}", encode(name))
}

pub(crate) fn org_path(name: &str) -> String {
    format!("/orgs/{}", encode(name))
}

/// A path segment, percent-encoded.
pub(crate) fn encode(segment: &str) -> String {
    let mut out = String::new();
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
