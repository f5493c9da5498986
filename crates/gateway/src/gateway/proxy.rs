//! One request, from arrival to response: the gateway's own `/metrics`,
//! then the token, the access rule, the rate limit, and forwarding to a
//! node with the caller's identity.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::{self, HeaderName};
use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use http_body_util::{Either, Empty, Full};
use hyper::body::{Body, Incoming};
use slipway_core::Level;
use slipway_core::net::client_address;

use super::auth::{Identity, Refused, token};
use super::limits::{Decision, retry_after_secs};
use super::metrics::{CONTENT_TYPE, Reason};
use super::shared::Shared;
use super::upstream::{Node, SendError, UpBody};

/// The body of the gateway's responses: a node's, streamed, or its own.
pub(crate) type GatewayBody = Either<Incoming, Full<Bytes>>;

/// Identity headers the gateway sets; any `x-slipway-*` header a client
/// sends is removed first.
pub const USER_HEADER: &str = "x-slipway-user";
pub const LEVEL_HEADER: &str = "x-slipway-level";
pub const ORGS_HEADER: &str = "x-slipway-orgs";
const SLIPWAY_PREFIX: &str = "x-slipway-";

static USER: HeaderName = HeaderName::from_static(USER_HEADER);
static LEVEL: HeaderName = HeaderName::from_static(LEVEL_HEADER);
static ORGS: HeaderName = HeaderName::from_static(ORGS_HEADER);
static FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Headers that concern one connection, never forwarded either way.
fn hop_by_hop() -> [&'static HeaderName; 8] {
    [
        &header::CONNECTION,
        &KEEP_ALIVE,
        &PROXY_CONNECTION,
        &header::PROXY_AUTHENTICATE,
        &header::PROXY_AUTHORIZATION,
        &header::TE,
        &header::TRAILER,
        &header::UPGRADE,
    ]
}

/// Removes hop-by-hop headers, including those `Connection` names.
/// `Transfer-Encoding` is left to hyper, which re-frames bodies itself.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in hop_by_hop() {
        if headers.contains_key(name) {
            headers.remove(name);
        }
    }
    for name in named {
        headers.remove(&name);
    }
    headers.remove(header::TRANSFER_ENCODING);
}

/// Removes every `x-slipway-*` header.
fn strip_identity(headers: &mut HeaderMap) {
    if !headers
        .keys()
        .any(|k| k.as_str().starts_with(SLIPWAY_PREFIX))
    {
        return;
    }
    let spoofed: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with(SLIPWAY_PREFIX))
        .cloned()
        .collect();
    for name in spoofed {
        headers.remove(&name);
    }
}

/// The client end of a connection, worked out once per connection.
pub(crate) struct Peer {
    pub addr: SocketAddr,
    /// The peer's address, IPv4-mapped addresses as IPv4.
    pub ip: IpAddr,
    /// Whether its `X-Forwarded-For` is believed.
    pub trusted: bool,
    /// `X-Forwarded-For` for a request from an untrusted peer.
    pub forwarded_for: HeaderValue,
}

impl Peer {
    pub fn new(addr: SocketAddr, trusted_proxies: &[ipnet::IpNet]) -> Self {
        let ip = addr.ip().to_canonical();
        Self {
            addr,
            ip,
            trusted: trusted_proxies.iter().any(|net| net.contains(&ip)),
            forwarded_for: HeaderValue::from_str(&ip.to_string())
                .expect("an address is a header value"),
        }
    }
}

/// The service function: every request ends here with a response.
pub(crate) async fn handle(
    shared: Arc<Shared>,
    peer: Arc<Peer>,
    request: Request<Incoming>,
) -> Result<Response<GatewayBody>, Infallible> {
    let started = Instant::now();
    let log = tracing::enabled!(target: ACCESS_LOG, tracing::Level::DEBUG);
    let line = log.then(|| (request.method().clone(), request.uri().path().to_owned()));
    let mut who = Who::default();
    let response = route(&shared, &peer, request, &mut who).await;
    let elapsed = started.elapsed();
    let metrics = &shared.metrics;
    metrics.latency.observe(elapsed.as_secs_f64());
    metrics.response(response.status().as_u16());
    if let Some((method, path)) = line {
        tracing::debug!(
            target: ACCESS_LOG,
            %method,
            %path,
            status = response.status().as_u16(),
            level = who.level.map(Level::as_str),
            user = who.user.as_deref(),
            peer = %peer.addr,
            client = %who.client.unwrap_or(peer.ip),
            node = who.node.as_ref().map(|n| n.url.as_str()),
            micros = elapsed.as_micros() as u64,
            "request"
        );
    }
    Ok(response)
}

/// The access log's target: `SLIPWAY_LOG=slipway_gateway::access=debug`.
const ACCESS_LOG: &str = "slipway_gateway::access";

/// What the access log says about a request.
#[derive(Default)]
struct Who {
    level: Option<Level>,
    user: Option<Arc<str>>,
    client: Option<IpAddr>,
    node: Option<Arc<Node>>,
}

async fn route(
    shared: &Shared,
    peer: &Peer,
    request: Request<Incoming>,
    who: &mut Who,
) -> Response<GatewayBody> {
    let metrics = &shared.metrics;
    if shared.metrics_on_main
        && request.uri().path() == "/metrics"
        && matches!(*request.method(), Method::GET | Method::HEAD)
    {
        return metrics_response(shared);
    }

    // Who is calling.
    let identity = match token(request.headers()) {
        None => None,
        Some(token) => match shared.auth.authenticate(token, unix_now()).await {
            Ok(identity) => Some(identity),
            Err(Refused::Invalid(why)) => {
                metrics.request(None);
                return shared.refuse(Reason::InvalidToken, &why);
            }
            Err(Refused::Expired) => {
                metrics.request(None);
                return shared.refuse(Reason::TokenExpired, "the token has expired");
            }
            Err(Refused::Revoked) => {
                metrics.request(None);
                return shared.refuse(Reason::TokenRevoked, "the token was revoked");
            }
            Err(Refused::IssuerUnavailable) => {
                metrics.request(None);
                return shared.refuse(
                    Reason::IssuerUnavailable,
                    "the token cannot be checked now: the issuer's keys are unavailable",
                );
            }
        },
    };
    if let Some(identity) = &identity {
        who.user = Some(identity.sub.clone());
    }

    // May they come in.
    let level = match &identity {
        None if !shared.config.public => {
            metrics.request(None);
            return shared.refuse(
                Reason::Unauthenticated,
                &format!(
                    "cluster {} is private: send a cluster token (Authorization: Bearer, or a token cookie)",
                    shared.config.cluster
                ),
            );
        }
        None => Level::Anonymous,
        Some(identity) if identity.level == Level::Anonymous && !shared.config.public => {
            metrics.request(None);
            return shared.refuse(
                Reason::Forbidden,
                "an anonymous-level token does not admit to a private cluster",
            );
        }
        Some(identity) => identity.level,
    };
    who.level = Some(level);
    metrics.request(Some(level));

    // How often.
    let client = if peer.trusted {
        client_address(
            peer.ip,
            request
                .headers()
                .get_all(&FORWARDED_FOR)
                .iter()
                .map(|v| v.to_str().ok()),
            &shared.config.trusted_proxies,
        )
    } else {
        peer.ip
    };
    who.client = Some(client);
    let sub = identity.as_ref().map(|i| &i.sub);
    match shared.limits.check(level, sub, client) {
        Decision::Allow => {}
        Decision::RateLimited(wait) => {
            return shared.refuse_after(
                Reason::RateLimited,
                "too many requests: slow down",
                retry_after_secs(wait),
            );
        }
        Decision::QuotaExceeded(wait) => {
            let secs = retry_after_secs(wait);
            return shared.refuse_after(
                Reason::QuotaExceeded,
                &format!("request quota exceeded: blocked for {secs} more seconds"),
                secs,
            );
        }
    }

    forward(shared, peer, identity.as_deref(), request, who).await
}

/// Sends the request to a healthy node. One that never reached a node
/// goes to the next healthy node (any method, up to [`MAX_ATTEMPTS`] nodes);
/// one that may have reached it is retried once elsewhere only if it is
/// idempotent and has no body.
async fn forward(
    shared: &Shared,
    peer: &Peer,
    identity: Option<&Identity>,
    request: Request<Incoming>,
    who: &mut Who,
) -> Response<GatewayBody> {
    let (mut parts, body) = request.into_parts();
    let headers = &mut parts.headers;
    strip_hop_by_hop(headers);
    strip_identity(headers);
    match identity {
        Some(identity) => {
            headers.insert(USER.clone(), identity.user_header.clone());
            headers.insert(LEVEL.clone(), identity.level_header.clone());
            headers.insert(ORGS.clone(), identity.orgs_header.clone());
        }
        None => {
            headers.insert(LEVEL.clone(), HeaderValue::from_static("anonymous"));
        }
    }
    if peer.trusted && headers.contains_key(&FORWARDED_FOR) {
        // Extend a trusted proxy's chain.
        let chain = headers
            .get_all(&FORWARDED_FOR)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect::<Vec<_>>()
            .join(", ");
        if let Ok(value) = HeaderValue::from_str(&format!("{chain}, {}", peer.ip)) {
            headers.insert(FORWARDED_FOR.clone(), value);
        }
    } else {
        // Anyone else's claims are dropped.
        headers.insert(FORWARDED_FOR.clone(), peer.forwarded_for.clone());
    }
    if !headers.contains_key(header::HOST)
        && let Some(authority) = parts.uri.authority()
        && let Ok(host) = HeaderValue::from_str(authority.as_str())
    {
        headers.insert(header::HOST, host);
    }
    let uri = parts
        .uri
        .path_and_query()
        .map_or_else(|| Uri::from_static("/"), |pq| Uri::from(pq.clone()));
    let bodiless = body.is_end_stream();
    let body: UpBody = if bodiless {
        Either::Right(Empty::new())
    } else {
        Either::Left(body)
    };
    let mut replay = (bodiless && is_idempotent(&parts.method))
        .then(|| (parts.method.clone(), uri.clone(), parts.headers.clone()));
    let mut upstream = Request::new(body);
    *upstream.method_mut() = parts.method;
    *upstream.uri_mut() = uri;
    *upstream.version_mut() = Version::HTTP_11;
    *upstream.headers_mut() = parts.headers;

    let ups = &shared.upstreams;
    let mut request = upstream;
    let mut tried: Vec<Arc<Node>> = Vec::new();
    loop {
        let Some(node) = ups.pick(&tried) else {
            // Every healthy node was tried, or there is none.
            return match tried.last() {
                Some(last) if tried.iter().any(|n| n.is_healthy()) => {
                    who.node = Some(last.clone());
                    shared.refuse(Reason::BadGateway, "no node could answer the request")
                }
                _ => shared.refuse(
                    Reason::NoHealthyNode,
                    "no healthy node can take the request",
                ),
            };
        };
        if !tried.is_empty() {
            shared.metrics.retries.inc();
        }
        tried.push(node.clone());
        match node
            .send(
                with_host(request, &node),
                ups.connect_timeout,
                &shared.metrics,
            )
            .await
        {
            Ok(response) => return relay(response, node, who),
            // Nothing reached the node: any other node may take it.
            Err(SendError::NotSent {
                request: back,
                connect,
                error,
            }) => {
                if connect {
                    ups.mark_down(&node, &error);
                }
                tracing::debug!(node = %node.url, %error, "request not sent; trying another node");
                if tried.len() >= MAX_ATTEMPTS {
                    who.node = Some(node);
                    return shared.refuse(Reason::BadGateway, "no node could answer the request");
                }
                request = *back;
            }
            // It may have reached the node: once more elsewhere, if that is
            // safe.
            Err(SendError::Failed(error)) => match replay.take() {
                Some((method, uri, headers)) if tried.len() < MAX_ATTEMPTS => {
                    tracing::debug!(node = %node.url, %error, "idempotent request failed; retrying on another node");
                    let mut again = Request::new(Either::Right(Empty::new()));
                    *again.method_mut() = method;
                    *again.uri_mut() = uri;
                    *again.version_mut() = Version::HTTP_11;
                    *again.headers_mut() = headers;
                    request = again;
                }
                _ => {
                    tracing::warn!(node = %node.url, %error, "request to node failed");
                    who.node = Some(node);
                    return shared.refuse(Reason::BadGateway, "the node failed to answer");
                }
            },
        }
    }
}

/// How many nodes one request is offered to at most.
const MAX_ATTEMPTS: usize = 4;

/// A request without a `Host` (HTTP/1.0) names the node.
fn with_host(mut request: Request<UpBody>, node: &Node) -> Request<UpBody> {
    if !request.headers().contains_key(header::HOST) {
        request
            .headers_mut()
            .insert(header::HOST, node.host.clone());
    }
    request
}

fn relay(
    mut response: Response<Incoming>,
    node: Arc<Node>,
    who: &mut Who,
) -> Response<GatewayBody> {
    strip_hop_by_hop(response.headers_mut());
    who.node = Some(node);
    response.map(Either::Left)
}

fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn metrics_response(shared: &Shared) -> Response<GatewayBody> {
    let mut response = Response::new(Either::Right(Full::new(Bytes::from(
        shared.metrics.encode(),
    ))));
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    response
}

impl Shared {
    /// The gateway's own error answer: `{"error": {"code", "message"}}`.
    pub(crate) fn refuse(&self, reason: Reason, message: &str) -> Response<GatewayBody> {
        self.metrics.refusal(reason);
        let status = match reason {
            Reason::Unauthenticated
            | Reason::InvalidToken
            | Reason::TokenExpired
            | Reason::TokenRevoked => StatusCode::UNAUTHORIZED,
            Reason::Forbidden => StatusCode::FORBIDDEN,
            Reason::RateLimited | Reason::QuotaExceeded => StatusCode::TOO_MANY_REQUESTS,
            Reason::NoHealthyNode | Reason::IssuerUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Reason::BadGateway => StatusCode::BAD_GATEWAY,
        };
        let body = serde_json::json!({"error": {"code": reason.code(), "message": message}});
        let mut response = Response::new(Either::Right(Full::new(Bytes::from(
            serde_json::to_vec(&body).expect("JSON"),
        ))));
        *response.status_mut() = status;
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        match reason {
            Reason::Unauthenticated => {
                headers.insert(header::WWW_AUTHENTICATE, self.realm.clone());
            }
            Reason::InvalidToken | Reason::TokenExpired | Reason::TokenRevoked => {
                let value = format!(
                    "{}, error=\"invalid_token\", error_description=\"{}\"",
                    self.realm.to_str().unwrap_or("Bearer"),
                    quoted_safe(message)
                );
                headers.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_str(&value).unwrap_or_else(|_| self.realm.clone()),
                );
            }
            Reason::NoHealthyNode | Reason::IssuerUnavailable => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            Reason::Forbidden
            | Reason::RateLimited
            | Reason::QuotaExceeded
            | Reason::BadGateway => {}
        }
        tracing::debug!(code = reason.code(), message, "refused");
        response
    }

    fn refuse_after(&self, reason: Reason, message: &str, secs: u64) -> Response<GatewayBody> {
        let mut response = self.refuse(reason, message);
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        response
    }
}

/// Text safe inside a quoted header parameter: printable ASCII without `"`
/// or `\`.
fn quoted_safe(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_and_identity_headers_are_stripped() {
        let mut headers = HeaderMap::new();
        for (name, value) in [
            ("connection", "keep-alive, x-custom"),
            ("keep-alive", "timeout=5"),
            ("x-custom", "1"),
            ("upgrade", "websocket"),
            ("transfer-encoding", "chunked"),
            ("proxy-authorization", "Basic x"),
            ("x-slipway-user", "mallory"),
            ("x-slipway-level", "admin"),
            ("x-slipway-anything", "x"),
            ("x-slipwayish", "kept"),
            ("authorization", "Bearer kept"),
            ("accept", "*/*"),
        ] {
            headers.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        strip_hop_by_hop(&mut headers);
        strip_identity(&mut headers);
        let mut left: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        left.sort();
        assert_eq!(left, ["accept", "authorization", "x-slipwayish"]);
    }

    #[test]
    fn only_safe_methods_are_replayed() {
        for m in [
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::DELETE,
            Method::OPTIONS,
        ] {
            assert!(is_idempotent(&m), "{m}");
        }
        for m in [Method::POST, Method::PATCH, Method::CONNECT] {
            assert!(!is_idempotent(&m), "{m}");
        }
    }

    #[test]
    fn header_parameters_are_quoted_safely() {
        assert_eq!(
            quoted_safe("the token has expired"),
            "the token has expired"
        );
        assert_eq!(quoted_safe("a \"b\" \\ é\n"), "a ?b? ? ??");
    }
}
