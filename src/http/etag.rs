//! Conditional GET for answers built whole: a strong entity tag from the SHA-256 of
//! the body, and `304 Not Modified` (no body, the same validators) when the client's
//! `If-None-Match` already names it (RFC 9110 13.1.2, weak comparison).

use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

/// An answer and how it may be cached.
#[derive(Debug, Clone)]
pub struct Cacheable {
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// E.g. `public, max-age=300`.
    pub cache_control: &'static str,
    /// The request headers the representation was chosen by (e.g. `Accept`).
    pub vary: Option<&'static str>,
    /// Sent with a `200` only (e.g. `Content-Disposition`).
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

/// The strong entity tag of `body`: its SHA-256 in hex, quoted.
pub fn strong_tag(body: &[u8]) -> String {
    let digest = Sha256::digest(body);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// Whether `If-None-Match` (absent: no) names `tag` or is `*`. Weak tags compare by
/// their opaque part, as RFC 9110 asks for `If-None-Match`.
pub fn none_match(req: &HttpRequest, tag: &str) -> bool {
    req.headers().get_all(header::IF_NONE_MATCH).filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).any(
        |candidate| {
            let candidate = candidate.trim();
            candidate == "*" || candidate.strip_prefix("W/").unwrap_or(candidate) == tag
        },
    )
}

/// `200` with the body, or `304` when the client has it; both with `ETag`,
/// `Cache-Control` and `Vary`.
pub fn respond(req: &HttpRequest, answer: Cacheable) -> HttpResponse {
    let tag = strong_tag(&answer.body);
    let unchanged = none_match(req, &tag);
    let mut response = if unchanged { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response.insert_header((header::ETAG, tag)).insert_header((header::CACHE_CONTROL, answer.cache_control));
    if let Some(vary) = answer.vary {
        response.insert_header((header::VARY, vary));
    }
    if unchanged {
        return response.finish();
    }
    response.content_type(answer.content_type);
    for header in answer.headers {
        response.insert_header(header);
    }
    response.body(answer.body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn answer() -> Cacheable {
        Cacheable {
            content_type: "text/plain",
            body: b"hello".to_vec(),
            cache_control: "public, max-age=300",
            vary: Some("Accept"),
            headers: vec![(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment"))],
        }
    }

    #[test]
    fn the_tag_is_the_quoted_sha256_of_the_body() {
        assert_eq!(strong_tag(b"hello"), "\"2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824\"");
        assert_ne!(strong_tag(b"hello"), strong_tag(b"hello!"));
    }

    #[test]
    fn a_matching_if_none_match_answers_304_with_the_validators() {
        let tag = strong_tag(b"hello");
        for sent in [tag.clone(), format!("W/{tag}"), format!("\"other\", {tag}"), "*".to_string()] {
            let req = TestRequest::default().insert_header((header::IF_NONE_MATCH, sent.as_str())).to_http_request();
            let r = respond(&req, answer());
            assert_eq!(r.status(), 304, "{sent}");
            assert_eq!(r.headers().get(header::ETAG).unwrap(), tag.as_str());
            assert_eq!(r.headers().get(header::CACHE_CONTROL).unwrap(), "public, max-age=300");
            assert_eq!(r.headers().get(header::VARY).unwrap(), "Accept");
            assert!(r.headers().get(header::CONTENT_DISPOSITION).is_none());
        }
        for sent in ["\"other\"", tag.trim_matches('"')] {
            let req = TestRequest::default().insert_header((header::IF_NONE_MATCH, sent)).to_http_request();
            let r = respond(&req, answer());
            assert_eq!(r.status(), 200, "{sent}");
            assert_eq!(r.headers().get(header::CONTENT_DISPOSITION).unwrap(), "attachment");
        }
        let r = respond(&TestRequest::default().to_http_request(), answer());
        assert_eq!(
            (r.status().as_u16(), r.headers().get(header::ETAG).unwrap().to_str().unwrap()),
            (200, tag.as_str())
        );
    }
}
