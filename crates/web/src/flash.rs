//! What an action did, carried to the page it redirects to (POST, redirect,
//! GET): a short-lived cookie, signed so that no one else (a page of a
//! sibling host that may set cookies for the site) can put words in
//! Slipway's mouth.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::Web;
use crate::security::{cookie, mac, set_cookie};

const COOKIE: &str = "slipway_flash";
/// The longest message carried (a cookie holds about 4 KB).
const MAX_CHARS: usize = 1500;

/// An action's result or refusal, in words, and how it went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Flash {
    pub tone: Tone,
    pub text: String,
}

/// How an action went: done, done only in part (kept, but waiting), or
/// refused. One colour each.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tone {
    Ok,
    Warning,
    Refused,
}

impl Tone {
    /// The CSS class and `data-flash` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Tone::Ok => "ok",
            Tone::Warning => "warning",
            Tone::Refused => "refused",
        }
    }
}

impl Flash {
    pub fn ok(text: impl Into<String>) -> Self {
        Self {
            tone: Tone::Ok,
            text: text.into(),
        }
    }

    pub fn warning(text: impl Into<String>) -> Self {
        Self {
            tone: Tone::Warning,
            text: text.into(),
        }
    }

    pub fn refused(text: impl Into<String>) -> Self {
        Self {
            tone: Tone::Refused,
            text: text.into(),
        }
    }
}

fn encode(web: &Web, flash: &Flash) -> Option<String> {
    let mut flash = flash.clone();
    if flash.text.chars().count() > MAX_CHARS {
        flash.text = flash.text.chars().take(MAX_CHARS).collect::<String>() + "…";
    }
    let json = serde_json::to_vec(&flash).ok()?;
    let tag = mac(web, "flash", &json)?;
    Some(format!("{}.{tag}", URL_SAFE_NO_PAD.encode(json)))
}

/// The flash the request carries, if it is one this server signed.
pub fn take(web: &Web, headers: &HeaderMap) -> Option<Flash> {
    let value = cookie(headers, COOKIE)?;
    let (body, tag) = value.split_once('.')?;
    let json = URL_SAFE_NO_PAD.decode(body).ok()?;
    let expected = mac(web, "flash", &json)?;
    if !crate::security::same(tag, &expected) {
        return None;
    }
    serde_json::from_slice(&json).ok()
}

/// The `Set-Cookie` that removes a shown flash.
pub fn clear(web: &Web) -> HeaderValue {
    set_cookie(web, COOKIE, "", Some(0))
}

/// `303 See Other` to `location` (a local path), carrying `flash`.
pub fn redirect(web: &Web, location: &str, flash: Option<Flash>) -> Response {
    let location = slipway_service::sign_in::local_path(location).unwrap_or_else(|| "/".to_owned());
    let mut response = (
        StatusCode::SEE_OTHER,
        [(
            header::LOCATION,
            HeaderValue::from_str(&location).unwrap_or(HeaderValue::from_static("/")),
        )],
    )
        .into_response();
    if let Some(value) = flash.as_ref().and_then(|f| encode(web, f)) {
        response.headers_mut().append(
            header::SET_COOKIE,
            set_cookie(web, COOKIE, &value, Some(60)),
        );
    }
    response
}
