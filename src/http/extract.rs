//! Extractor settings: every malformed body, query or path answers problem+json with a
//! precise code instead of actix's plain-text defaults.

use actix_web::error::{JsonPayloadError, PathError, PayloadError, QueryPayloadError};
use actix_web::{HttpRequest, web};

use super::ApiError;

/// Largest JSON body a plain JSON endpoint takes (uploads of parts have their own).
pub const JSON_LIMIT: usize = 1024 * 1024;

pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default().limit(JSON_LIMIT).error_handler(|err, _req: &HttpRequest| json_error(err).into())
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err: QueryPayloadError, _req| {
        ApiError::bad_request("invalid_query", format!("query string: {err}")).into()
    })
}

pub fn path_config() -> web::PathConfig {
    // A path segment of the wrong shape (not a UUID, say) names nothing that exists.
    web::PathConfig::default().error_handler(|_err: PathError, _req| ApiError::not_found("resource").into())
}

pub fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { limit, .. } | JsonPayloadError::Overflow { limit } => {
            ApiError::too_large(Some(limit))
        }
        JsonPayloadError::ContentType => {
            ApiError::UnsupportedMediaType { detail: "expected Content-Type: application/json".into() }
        }
        JsonPayloadError::Deserialize(e) => serde_error(&e),
        JsonPayloadError::Payload(PayloadError::Overflow) => ApiError::too_large(Some(JSON_LIMIT)),
        other => ApiError::bad_request("unreadable_body", other.to_string()),
    }
}

fn serde_error(e: &serde_json::Error) -> ApiError {
    if e.is_data() {
        ApiError::bad_request("invalid_body", format!("request body: {e}"))
    } else {
        ApiError::bad_request("malformed_json", format!("request body: {e}"))
    }
}

/// Parses a JSON body taken as raw bytes (handlers that also hash the body for
/// idempotency), with the same answers as the `Json` extractor.
pub fn parse_json<T: serde::de::DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<T, ApiError> {
    parse_json_up_to(req, body, JSON_LIMIT)
}

/// Reads a body of up to `limit` bytes, for the JSON endpoints whose bodies may be
/// larger than [`JSON_LIMIT`].
pub async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::Bytes, ApiError> {
    use futures_util::StreamExt;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::bad_request("unreadable_body", e.to_string()))?;
        if body.len() + chunk.len() > limit {
            return Err(ApiError::too_large(Some(limit)));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// [`parse_json`] with a limit of its own.
pub fn parse_json_up_to<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    body: &[u8],
    limit: usize,
) -> Result<T, ApiError> {
    let is_json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<mime::Mime>().ok())
        .is_some_and(|m| m.subtype() == mime::JSON || m.suffix() == Some(mime::JSON));
    if !is_json {
        return Err(ApiError::UnsupportedMediaType { detail: "expected Content-Type: application/json".into() });
    }
    if body.len() > limit {
        return Err(ApiError::too_large(Some(limit)));
    }
    serde_json::from_slice(body).map_err(|e| serde_error(&e))
}

/// Largest streamed upload a service takes (register imports, batch parts); the
/// gateway enforces the same `HEALTHCARD_MAX_BODY_BYTES` in front of it.
#[derive(Debug, Clone, Copy)]
pub struct UploadLimit(pub usize);

impl UploadLimit {
    pub const DEFAULT: usize = 64 * 1024 * 1024;
}
