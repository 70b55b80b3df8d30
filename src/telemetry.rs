//! Logging: JSON lines on stderr by default (`HEALTHCARD_LOG_FORMAT=pretty` for people),
//! filtered by `HEALTHCARD_LOG` (e.g. `info`, `healthcard=debug`). Standard output is
//! kept for machine-readable events such as the listening addresses.
//!
//! Every line names its span (`span`; for a span's closing line, the span that closed)
//! and carries the whole span list above it (`spans`): the request span (request id, route, the
//! caller's client id), the handler's, and below it the repository function's
//! (`debug` level). With `HEALTHCARD_LOG_SPANS=close` each span also logs a line when it
//! closes, with the time it was busy, so a slow request can be followed down to the
//! repository call, and so to the SQL, that took the time.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

pub fn init() {
    let filter = EnvFilter::try_from_env("HEALTHCARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let pretty = std::env::var("HEALTHCARD_LOG_FORMAT").is_ok_and(|v| v == "pretty");
    let spans = match std::env::var("HEALTHCARD_LOG_SPANS").as_deref() {
        Ok("close") => FmtSpan::CLOSE,
        _ => FmtSpan::NONE,
    };
    let builder =
        tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_span_events(spans);
    let result = if pretty {
        builder.try_init()
    } else {
        builder.json().flatten_event(true).with_current_span(true).with_span_list(true).try_init()
    };
    // A second init (tests) keeps the first subscriber.
    drop(result);
}
