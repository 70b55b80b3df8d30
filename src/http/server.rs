//! Builds the HTTP server of one service: shared middleware, extractor settings, app
//! data and a problem+json answer for unknown routes.

use std::net::{SocketAddr, TcpListener};

use actix_web::dev::Server;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};

use super::metrics::Metrics;
use super::{ApiError, extract, request_id};
use crate::auth::Authenticator;
use crate::config::Service;
use crate::db::DbPool;

/// What every service's handlers can ask for.
#[derive(Clone)]
pub struct ServiceContext {
    pub service: Service,
    pub pool: DbPool,
    pub metrics: web::Data<Metrics>,
    pub auth: web::Data<Authenticator>,
}

/// Binds a listener (port 0 picks a free port) and says where it is.
pub fn bind(addr: SocketAddr) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(addr)?;
    let local = listener.local_addr()?;
    Ok((listener, local))
}

async fn route_not_found() -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::NotFound { code: "route_not_found", detail: "no such route".into() })
}

/// Starts serving `configure`'s routes on `listener` with `workers` worker threads.
pub fn serve<F>(ctx: &ServiceContext, listener: TcpListener, workers: usize, configure: F) -> std::io::Result<Server>
where
    F: Fn(&mut web::ServiceConfig) + Send + Clone + 'static,
{
    let pool = web::Data::new(ctx.pool.clone());
    let service = web::Data::new(ctx.service);
    let metrics = ctx.metrics.clone();
    let auth = ctx.auth.clone();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(request_id::middleware))
            .app_data(pool.clone())
            .app_data(service.clone())
            .app_data(metrics.clone())
            .app_data(auth.clone())
            .app_data(extract::json_config())
            .app_data(extract::query_config())
            .app_data(extract::path_config())
            .app_data(web::PayloadConfig::new(extract::JSON_LIMIT))
            .configure(configure.clone())
            .default_service(web::to(route_not_found))
    })
    .workers(workers)
    .shutdown_timeout(10)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok(server)
}
