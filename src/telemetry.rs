//! Logging: JSON lines on stderr by default (`HEALTHCARD_LOG_FORMAT=pretty` for people),
//! filtered by `HEALTHCARD_LOG` (e.g. `info`, `healthcard=debug`). Standard output is
//! kept for machine-readable events such as the listening addresses.

use tracing_subscriber::EnvFilter;

pub fn init() {
    let filter = EnvFilter::try_from_env("HEALTHCARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let pretty = std::env::var("HEALTHCARD_LOG_FORMAT").is_ok_and(|v| v == "pretty");
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let result = if pretty {
        builder.try_init()
    } else {
        builder.json().flatten_event(true).with_current_span(true).with_span_list(false).try_init()
    };
    // A second init (tests) keeps the first subscriber.
    drop(result);
}
