//! The gateway as the process starts it: its shared state and routes, and its workers
//! (revocations made by other gateway replicas, the rate limiter's clean-up).

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;

use super::{GatewayState, clients, rate_limit, routes};
use crate::app::{ServiceParts, Setup, StartError};
use crate::config::Service;

pub fn parts(setup: &Setup<'_>) -> Result<ServiceParts, StartError> {
    let config = setup.config;
    let keys = setup.keys.clone().ok_or_else(|| setup.error("the gateway needs its signing key"))?;
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| setup.error(e))?;
    let state = web::Data::new(GatewayState {
        keys,
        upstreams: Service::UPSTREAMS.iter().map(|&s| (s, config.url(s).to_string())).collect(),
        http,
        limits: rate_limit::RateLimits::new(config.rate_limit_per_second, config.rate_limit_burst),
        waker: setup.outbox.clone(),
        max_body_bytes: config.max_body_bytes,
        // A detail reconciliation is a clinic's whole list: up to a million rows.
        route_body_limits: vec![(
            actix_web::http::Method::POST,
            "/api/v1/reconciliations/detail",
            config.reconciliation_max_body_bytes,
        )],
        hashing: tokio::sync::Semaphore::new(config.workers.max(1)),
    });
    // Revocations by other gateway replicas reach this one within a few seconds.
    let (pool, auth) = (setup.pool.clone(), setup.auth.clone().into_inner());
    let revocations = Box::pin(async move {
        loop {
            if let Err(e) = clients::refresh_revocations(pool.clone(), auth.clone()).await {
                tracing::warn!(error = %e, "could not refresh revocations");
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    let limits = state.clone();
    let shrink = Box::pin(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            limits.limits.shrink();
        }
    });
    // Seals what idempotent replays keep (a new client's secret is shown once).
    let seal = web::Data::new(crate::pii::PiiKeys::load_or_create(&config.pii_key_file).map_err(|e| setup.error(e))?);
    let routes = Arc::new(move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(state.clone()).app_data(seal.clone());
        routes::configure(cfg);
    });
    Ok(ServiceParts { routes, workers: vec![revocations, shrink], finish: Vec::new() })
}
