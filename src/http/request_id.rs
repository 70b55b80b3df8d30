//! Request ids, the request span, the access log line and the HTTP metrics, in one
//! middleware so every response (errors included) carries `X-Request-Id`.
//!
//! The access log names the route pattern (`/api/v1/cards/{card_no}`), never the
//! concrete path or the query string: both can carry citizen ID numbers.

use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, ResponseError, web};
use tracing::Instrument;

use super::metrics::Metrics;

pub const HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served.
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Accepts a caller's id if it is short and plain, so it can be logged safely.
fn accept(value: &HeaderValue) -> Option<String> {
    let s = value.to_str().ok()?;
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
    ok.then(|| s.to_string())
}

pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let id = req.headers().get(HEADER).and_then(accept).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_string());
    let method = req.method().to_string();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    // `client_id` is filled in by the `Caller` extractor once the token is checked.
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        client_id = tracing::field::Empty
    );
    let started = Instant::now();
    let result = next.call(req).instrument(span.clone()).await;
    let mut response = match result {
        // Errors raised by actix itself (an extractor's limit, say) come back as plain
        // text: answer them as problem+json like our own.
        Ok(res) if res.response().error().is_some() && !is_problem(&res) => {
            let problem =
                res.response().error().map(as_problem).unwrap_or_else(|| super::ApiError::internal("lost error"));
            let (req, _) = res.into_parts();
            ServiceResponse::new(req, problem.error_response())
        }
        Ok(res) => res.map_into_boxed_body(),
        // The app service answers errors as responses; an `Err` here would come from
        // actix internals. Cloning the request up front to answer it ourselves would
        // break routing (it needs the request unshared), so hand it back as a problem.
        Err(err) => {
            tracing::error!(error = %err, "request failed before a response");
            return Err(match err.as_error::<super::ApiError>() {
                Some(_) => err,
                None => as_problem(&err).into(),
            });
        }
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER, value);
    }
    if let Some(metrics) = metrics {
        metrics.observe_request(&route, &method, status, elapsed);
    }
    span.in_scope(|| {
        tracing::info!(status, latency_ms = elapsed.as_secs_f64() * 1000.0, "access");
    });
    Ok(response)
}

fn is_problem<B>(res: &ServiceResponse<B>) -> bool {
    res.headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/problem+json"))
}

/// Converts an actix error produced before our handlers ran into problem+json.
pub fn as_problem(err: &actix_web::Error) -> super::ApiError {
    let status = err.as_response_error().status_code();
    match status.as_u16() {
        404 => super::ApiError::NotFound { code: "route_not_found", detail: "no such route".into() },
        405 => super::ApiError::MethodNotAllowed,
        413 => super::ApiError::too_large(None),
        s if s < 500 => super::ApiError::bad_request("bad_request", err.to_string()),
        _ => super::ApiError::internal(err.to_string()),
    }
}
