//! `/healthz`, `/readyz` and `/metrics`, the same on every service and the gateway.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};

use super::ApiError;
use super::metrics::Metrics;
use super::routes::RouteTable;
use crate::config::Service;
use crate::db::{DbPool, migrations};
use crate::outbox;

/// Adds the operational routes to a service's table.
pub fn routes(table: RouteTable) -> RouteTable {
    table.public(Method::GET, "/healthz", healthz).public(Method::GET, "/readyz", readyz).public(
        Method::GET,
        "/metrics",
        metrics,
    )
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
