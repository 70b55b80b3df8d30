//! HTTP pieces every service shares, each in one place: problem+json errors, request
//! ids, idempotency keys, entity tags, cursor pagination, extractor error handling,
//! operational endpoints and metrics, the server builder, and streamed uploads (body
//! stream, charset decoding, CSV guard and header mapping, coded input errors).

pub mod charset;
pub mod csv_input;
pub mod csv_output;
pub mod etag;
pub mod extract;
pub mod idempotency;
pub mod input;
pub mod lines;
pub mod metrics;
pub mod ops;
pub mod pagination;
pub mod problem;
pub mod request_id;
pub mod routes;
pub mod server;
pub mod stream;

pub use problem::{ApiError, FieldError};
