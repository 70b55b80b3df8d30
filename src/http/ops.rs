//! The operations endpoints, the same on every service and the gateway. `/readyz`
//! (database and migrations) and `/metrics` are served on the service's operations
//! listener only (`HEALTHCARD_<SERVICE>_OPS_LISTEN`, loopback unless configured), so
//! that the public gateway port tells nobody about databases, backlog or traffic.
//! `/healthz` (liveness, which says nothing) is on both, for load balancers.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};

use super::ApiError;
use super::metrics::Metrics;
use super::routes::RouteTable;
use crate::config::Service;
use crate::db::{DbPool, migrations};
use crate::outbox;

/// Adds the liveness route to a service's API table.
pub fn routes(table: RouteTable) -> RouteTable {
    table.public(Method::GET, "/healthz", healthz)
}

/// The routes of the operations listener.
pub fn table() -> RouteTable {
    RouteTable::new().internal(Method::GET, "/healthz", healthz).internal(Method::GET, "/readyz", readyz).internal(
        Method::GET,
        "/metrics",
        metrics,
    )
}

/// Registers the operations listener's routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    table().register(cfg);
}

async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "ok"}))
}

async fn readyz(pool: web::Data<DbPool>, service: web::Data<Service>) -> Result<HttpResponse, ApiError> {
    let service = **service;
    let current = pool
        .read(move |conn| migrations::is_current(conn, service).map_err(ApiError::from))
        .await
        .map_err(|e| ApiError::unavailable("not_ready", format!("database: {e}")))?;
    if !current {
        return Err(ApiError::unavailable("not_ready", "migrations pending"));
    }
    Ok(HttpResponse::Ok().json(serde_json::json!({"status": "ready", "database": pool.backend().name()})))
}

async fn metrics(pool: web::Data<DbPool>, metrics: web::Data<Metrics>) -> Result<HttpResponse, ApiError> {
    metrics.set_pool(pool.status());
    // A database outage must not hide the other metrics.
    if let Ok(backlog) = pool.read(|conn| outbox::backlog(conn).map_err(ApiError::from)).await {
        metrics.set_outbox(backlog.count, backlog.oldest_age_secs);
    }
    let text = metrics.render().map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(text))
}
