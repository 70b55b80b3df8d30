//! Prometheus metrics of one service: requests and latency per route, pool usage,
//! outbox backlog and age, inbox outcomes, rate limiting.

use std::time::Duration;

use prometheus::{Encoder, Gauge, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

use crate::db::PoolStatus;

/// The metrics registry of one service process.
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    latency: HistogramVec,
    pool: IntGaugeVec,
    outbox_backlog: IntGauge,
    outbox_oldest_age: Gauge,
    pub outbox_deliveries: IntCounterVec,
    pub inbox_messages: IntCounterVec,
    pub rate_limited: IntCounterVec,
}

impl Metrics {
    pub fn new(service: &str) -> Result<Metrics, prometheus::Error> {
        let registry = Registry::new_custom(
            Some("healthcard".into()),
            Some([("service".to_string(), service.to_string())].into()),
        )?;
        let requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route pattern, method and status"),
            &["route", "method", "status"],
        )?;
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency by route pattern")
                .buckets(vec![0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0]),
            &["route", "method"],
        )?;
        let pool =
            IntGaugeVec::new(Opts::new("db_pool_connections", "Database pool connections by state"), &["state"])?;
        let outbox_backlog = IntGauge::new("outbox_backlog", "Outbox messages not yet delivered")?;
        let outbox_oldest_age =
            Gauge::new("outbox_oldest_age_seconds", "Age of the oldest undelivered outbox message")?;
        let outbox_deliveries = IntCounterVec::new(
            Opts::new("outbox_deliveries_total", "Outbox delivery attempts by destination and result"),
            &["destination", "result"],
        )?;
        let inbox_messages = IntCounterVec::new(
            Opts::new("inbox_messages_total", "Messages received by kind and result (applied or duplicate)"),
            &["kind", "result"],
        )?;
        let rate_limited =
            IntCounterVec::new(Opts::new("rate_limited_total", "Requests refused by the rate limit"), &["kind"])?;
        registry.register(Box::new(requests.clone()))?;
        registry.register(Box::new(latency.clone()))?;
        registry.register(Box::new(pool.clone()))?;
        registry.register(Box::new(outbox_backlog.clone()))?;
        registry.register(Box::new(outbox_oldest_age.clone()))?;
        registry.register(Box::new(outbox_deliveries.clone()))?;
        registry.register(Box::new(inbox_messages.clone()))?;
        registry.register(Box::new(rate_limited.clone()))?;
        Ok(Metrics {
            registry,
            requests,
            latency,
            pool,
            outbox_backlog,
            outbox_oldest_age,
            outbox_deliveries,
            inbox_messages,
            rate_limited,
        })
    }

    pub fn observe_request(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        self.requests.with_label_values(&[route, method, &status.to_string()]).inc();
        self.latency.with_label_values(&[route, method]).observe(elapsed.as_secs_f64());
    }

    pub fn set_pool(&self, status: PoolStatus) {
        let idle = i64::from(status.idle);
        self.pool.with_label_values(&["idle"]).set(idle);
        self.pool.with_label_values(&["in_use"]).set(i64::from(status.connections) - idle);
        self.pool.with_label_values(&["max"]).set(i64::from(status.max));
    }

    pub fn set_outbox(&self, backlog: i64, oldest_age_secs: f64) {
        self.outbox_backlog.set(backlog);
        self.outbox_oldest_age.set(oldest_age_secs);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Result<String, prometheus::Error> {
        let mut buffer = Vec::new();
        prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut buffer)?;
        Ok(String::from_utf8_lossy(&buffer).into_owned())
    }
}
