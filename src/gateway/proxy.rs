//! The reverse proxy: `/api/v1/<resource>/...` goes to the service that owns the
//! resource. Bodies stream through in both directions (a 50 MB upload is never held
//! whole); the caller is authenticated and rate-limited here first, and the service
//! verifies the token again itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use actix_web::http::header::{self, HeaderName};
use actix_web::http::{Method, StatusCode};
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use bytes::Bytes;
use futures_util::StreamExt;

use super::GatewayState;
use super::token::peer_key;
use crate::auth::Authenticator;
use crate::config::Service;
use crate::http::ApiError;
use crate::http::request_id::{self, RequestId};

/// The service that owns the first path segment after `/api/v1/`.
pub fn owner(segment: &str) -> Option<Service> {
    Some(match segment {
        "batches" | "records" => Service::Collection,
        "registry" => Service::Verification,
        "card-assignments" | "card-orders" | "cards" | "card-access-log" => Service::Cardmaking,
        "eligibility"
        | "claims"
        | "reconciliations"
        | "policies"
        | "enrollments"
        | "debit-runs"
        | "debit-instructions"
        | "debit-envelopes"
        | "bank-assignments"
        | "payment-instructions"
        | "payment-envelopes"
        | "funds"
        | "reviews"
        | "disclosures" => Service::Settlement,
        _ => return None,
    })
}

/// Resources anyone may read without a token (public disclosure).
fn is_anonymous(segment: &str, method: &Method) -> bool {
    segment == "disclosures" && method == Method::GET
}

/// Headers that belong to one connection, not to the message (RFC 9110 7.6.1).
fn hop_by_hop(name: &HeaderName) -> bool {
    matches!(
        name.as_str(),
        "connection"
            | "keep-alive"
            | "proxy-authenticate"
            | "proxy-authorization"
            | "te"
            | "trailer"
            | "transfer-encoding"
            | "upgrade"
            | "host"
            | "content-length"
    )
}

#[tracing::instrument(skip_all)]
pub async fn forward(
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<GatewayState>,
    auth: web::Data<Authenticator>,
) -> Result<HttpResponse, ApiError> {
    let path = req.path().to_string();
    let segment = path.strip_prefix("/api/v1/").and_then(|rest| rest.split('/').next()).unwrap_or_default();
    let service =
        owner(segment).ok_or_else(|| ApiError::NotFound { code: "route_not_found", detail: "no such route".into() })?;
    let limit_key = match req.headers().get(header::AUTHORIZATION) {
        Some(_) => {
            let token = bearer(&req)?;
            auth.authenticate(&token).await?.client_id.into_string()
        }
        None if is_anonymous(segment, req.method()) => peer_key(&req, "anonymous"),
        None => return Err(crate::auth::AuthError::Missing.into()),
    };
    state.limits.check(&limit_key)?;

    let declared =
        req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    let max = state.body_limit(req.method(), &path);
    if declared.is_some_and(|n| n > max as u64) {
        return Err(ApiError::too_large(Some(max)));
    }
    let base = state
        .upstreams
        .iter()
        .find(|(s, _)| *s == service)
        .map(|(_, url)| url.clone())
        .ok_or_else(|| ApiError::internal("no upstream configured"))?;
    let path_and_query = req.uri().path_and_query().map(|p| p.as_str()).unwrap_or(path.as_str());
    let url = format!("{base}{path_and_query}");
    let method = reqwest::Method::from_bytes(req.method().as_str().as_bytes()).map_err(ApiError::internal)?;
    let mut upstream = state.http.request(method, url);
    for (name, value) in req.headers() {
        if !hop_by_hop(name) && name != request_id::HEADER {
            upstream = upstream.header(name.as_str(), value.as_bytes());
        }
    }
    if let Some(id) = req.extensions().get::<RequestId>() {
        upstream = upstream.header(request_id::HEADER.as_str(), id.0.as_str());
    }
    if let Some(peer) = req.peer_addr() {
        upstream = upstream.header("x-forwarded-for", peer.ip().to_string());
    }
    let has_body = declared.is_some_and(|n| n > 0) || req.headers().contains_key(header::TRANSFER_ENCODING);
    let over_limit = Arc::new(AtomicBool::new(false));
    if has_body {
        upstream = upstream.body(reqwest::Body::wrap_stream(stream_body(payload, max, over_limit.clone())));
        if let Some(n) = declared {
            upstream = upstream.header("content-length", n.to_string());
        }
    }
    let response = match upstream.send().await {
        Ok(r) => r,
        Err(_) if over_limit.load(Ordering::SeqCst) => return Err(ApiError::too_large(Some(max))),
        Err(e) => {
            return Err(ApiError::unavailable(
                "upstream_unavailable",
                format!("{} service: {}", service.name(), e.without_url()),
            ));
        }
    };
    let status = StatusCode::from_u16(response.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let mut answer = HttpResponse::build(status);
    for (name, value) in response.headers() {
        let Ok(name) = HeaderName::from_bytes(name.as_str().as_bytes()) else {
            continue;
        };
        if !hop_by_hop(&name) && name != request_id::HEADER {
            answer.insert_header((name, value.as_bytes()));
        }
    }
    let length = response.content_length();
    let body =
        response.bytes_stream().map(|chunk| chunk.map_err(|e| actix_web::error::ErrorBadGateway(e.without_url())));
    Ok(match length {
        Some(n) => answer.no_chunking(n).streaming(body),
        None => answer.streaming(body),
    })
}

fn bearer(req: &HttpRequest) -> Result<String, ApiError> {
    let value = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match value.and_then(|v| v.split_once(' ')) {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() && token.len() <= 8192 =>
        {
            Ok(token.trim().to_string())
        }
        _ => Err(crate::auth::AuthError::MalformedHeader.into()),
    }
}

/// Moves the request body from actix (not `Send`) to reqwest through a small channel,
/// counting bytes: past `max` the stream fails and the request is answered 413.
fn stream_body(
    mut payload: web::Payload,
    max: usize,
    over_limit: Arc<AtomicBool>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(4);
    actix_web::rt::spawn(async move {
        let mut total = 0usize;
        while let Some(chunk) = payload.next().await {
            let item = match chunk {
                Ok(bytes) => {
                    total += bytes.len();
                    if total > max {
                        over_limit.store(true, Ordering::SeqCst);
                        Err(std::io::Error::other("request body too large"))
                    } else {
                        Ok(bytes)
                    }
                }
                Err(e) => Err(std::io::Error::other(e.to_string())),
            };
            let stop = item.is_err();
            if tx.send(item).await.is_err() || stop {
                break;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}
