//! The web UI's defences.
//!
//! - Every answer carries a strict `Content-Security-Policy` (scripts,
//!   styles, images and connections from this origin only; no inline script
//!   or style; no framing, no plugins, forms post here only), `X-Frame-Options:
//!   DENY`, `Referrer-Policy: same-origin`, `nosniff`, and `no-store` unless
//!   it says how it may be cached.
//! - Cross-site request forgery: every form that changes something carries
//!   a token derived from the session with a key only the server holds
//!   ([`mac`]), checked on every POST, and the POST must come from this
//!   origin (`Origin`, else `Referer`, when the browser sends one). The
//!   session cookie is `SameSite=Lax` besides, so other sites' forms do not
//!   carry it at all; the checks hold against pages of the same site (other
//!   ports, sibling hosts), which `SameSite` does not stop.
//! - Before a session exists, the token form is bound to the browser by a
//!   random cookie it must echo (a login cannot be forced on someone).

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};

use crate::Web;

/// The policy of every page: nothing but this origin, no inline code.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The session cookie (the same the API reads, and the GitHub web flow
/// sets).
pub const SESSION_COOKIE: &str = "token";
/// The cookie that binds the token form to the browser before a session.
pub const SIGN_IN_FORM_COOKIE: &str = "slipway_form";

/// Adds the security headers to every answer of the web UI.
pub async fn headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    set_headers(response.headers_mut());
    response
}

/// The security headers, on an answer made outside the web UI's router
/// (its pages for unknown paths).
pub fn set_headers(h: &mut HeaderMap) {
    let set = |h: &mut HeaderMap, name: header::HeaderName, value: &'static str| {
        h.insert(name, HeaderValue::from_static(value));
    };
    set(h, header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(h, header::X_FRAME_OPTIONS, "DENY");
    set(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(h, header::REFERRER_POLICY, "same-origin");
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        "permissions-policy",
        HeaderValue::from_static("camera=(), microphone=(), geolocation=()"),
    );
    if !h.contains_key(header::CACHE_CONTROL) {
        set(h, header::CACHE_CONTROL, "no-store");
    }
}

/// A keyed digest of `data` for `purpose`, as hex: only this server (and
/// its replicas, which share the secrets key) can make one. The key is the
/// secrets key's deterministic sealing (AES-256-GCM-SIV, a PRF under its
/// key), so no other secret needs configuring.
pub fn mac(web: &Web, purpose: &str, data: &[u8]) -> Option<String> {
    let sealed = web
        .service
        .identities
        .sealer
        .seal_deterministic(&format!("slipway-web:{purpose}"), &Sha256::digest(data))
        .map_err(|e| tracing::error!(error = %e, "cannot derive a web token"))
        .ok()?;
    Some(hex::encode(Sha256::digest(&sealed)))
}

/// The anti-forgery token of a session (its credential as the cookie
/// carries it).
pub fn csrf_token(web: &Web, credential: &str) -> String {
    mac(web, "csrf", credential.as_bytes()).unwrap_or_default()
}

/// Compares without telling, by its timing, how much matched; an empty
/// value (a missing cookie or field) matches nothing.
pub fn same(a: &str, b: &str) -> bool {
    !a.is_empty() && slipway_service::sign_in::same(a, b)
}

/// `scheme://authority` of a URL (`None` for anything else).
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    if !matches!(scheme, "http" | "https") {
        return None;
    }
    let authority = rest.split(['/', '?', '#']).next()?;
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    Some(format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// Why a POST is refused for where it came from, if it is: its `Origin`
/// (else the origin of its `Referer`) must be this server's public origin,
/// or the origin the request itself was addressed to (`Host`, with the
/// public URL's scheme). A request with neither header (some privacy
/// tools strip both) relies on the anti-forgery token alone.
pub fn foreign_origin(web: &Web, headers: &HeaderMap) -> Option<String> {
    let text = |name| {
        headers
            .get(name)
            .and_then(|v: &HeaderValue| v.to_str().ok())
    };
    let claimed = match (text(header::ORIGIN), text(header::REFERER)) {
        (Some(origin), _) => origin.to_owned(),
        (None, Some(referer)) => {
            origin_of(referer).unwrap_or_else(|| "an unreadable Referer".to_owned())
        }
        (None, None) => return None,
    };
    let claimed_lower = claimed.to_ascii_lowercase();
    let addressed =
        text(header::HOST).map(|host| format!("{}://{}", web.scheme(), host.to_ascii_lowercase()));
    let ok = claimed_lower == web.origin || addressed.as_deref() == Some(claimed_lower.as_str());
    (!ok).then_some(claimed)
}

/// A cookie's value ([`slipway_auth::credential::cookie`]'s reading).
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    slipway_auth::credential::cookie(
        headers.get_all(header::COOKIE).iter().map(|v| v.as_bytes()),
        name,
    )
    .map(str::to_owned)
}

/// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, path `/`, `Secure`
/// behind HTTPS; `max_age` `None` lasts the browser session.
pub fn set_cookie(web: &Web, name: &str, value: &str, max_age: Option<i64>) -> HeaderValue {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={}", age.max(0)));
    }
    if web.secure {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie)
        .unwrap_or_else(|_| HeaderValue::from_static("invalid=; Max-Age=0"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_are_scheme_and_authority() {
        assert_eq!(
            origin_of("http://127.0.0.1:7878/x?y").as_deref(),
            Some("http://127.0.0.1:7878")
        );
        assert_eq!(
            origin_of("https://Slipway.Example").as_deref(),
            Some("https://slipway.example")
        );
        assert_eq!(origin_of("javascript:alert(1)"), None);
        assert_eq!(origin_of("http://user@evil/"), None);
    }

    #[test]
    fn comparison_needs_equal_non_empty_values() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("", ""));
        assert!(!same("abc", "abcd"));
    }
}
