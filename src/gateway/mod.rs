//! The gateway: API clients and their credentials, token issuing, the JWKS, rate
//! limits, and the reverse proxy that routes `/api/v1/...` to the owning service.

pub mod clients;
pub mod credentials;
pub mod proxy;
pub mod rate_limit;
pub mod repo;
pub mod routes;
pub mod service;
pub mod token;

use std::sync::Arc;

use crate::auth::SigningKeys;
use crate::config::Service;
use crate::outbox::OutboxWaker;

/// What the gateway's handlers share.
pub struct GatewayState {
    pub keys: Arc<SigningKeys>,
    /// Base URL of each service behind the gateway.
    pub upstreams: Vec<(Service, String)>,
    pub http: reqwest::Client,
    pub limits: rate_limit::RateLimits,
    pub waker: Arc<OutboxWaker>,
    pub max_body_bytes: usize,
    /// Routes whose bodies may be larger (or must be smaller) than `max_body_bytes`:
    /// `(method, path, limit)`, the path exactly as requested.
    pub route_body_limits: Vec<(actix_web::http::Method, &'static str, usize)>,
    /// Bounds concurrent argon2 work (CPU and memory) so a token flood cannot starve
    /// the machine.
    pub hashing: tokio::sync::Semaphore,
}

impl GatewayState {
    /// The largest body a request of `method` to `path` may have.
    pub fn body_limit(&self, method: &actix_web::http::Method, path: &str) -> usize {
        self.route_body_limits
            .iter()
            .find(|(m, p, _)| m == method && *p == path)
            .map_or(self.max_body_bytes, |(_, _, limit)| *limit)
    }
}
