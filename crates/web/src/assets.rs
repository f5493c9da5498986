//! The stylesheet and the script, compiled into the binary and served with
//! their content's digest in their URL (so a new binary's are fetched anew).

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

const CSS: &str = include_str!("../assets/app.css");
const JS: &str = include_str!("../assets/app.js");

static VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut digest = Sha256::new();
    digest.update(CSS);
    digest.update(JS);
    hex::encode(&digest.finalize()[..6])
});

/// `/static/app.css?v=…`
pub fn css_url() -> String {
    format!("/static/app.css?v={}", *VERSION)
}

/// `/static/app.js?v=…`
pub fn js_url() -> String {
    format!("/static/app.js?v={}", *VERSION)
}

pub async fn serve(Path(file): Path<String>) -> Response {
    let (body, kind) = match file.as_str() {
        "app.css" => (CSS, "text/css; charset=utf-8"),
        "app.js" => (JS, "text/javascript; charset=utf-8"),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}
