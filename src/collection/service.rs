//! Collection as the process starts it: its routes and app data, and its workers (the
//! verification feeder, the registration sender, the tally compactor).

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;

use super::{feeder, registration, routes, tallies};
use crate::app::{ServiceParts, Setup, StartError, upstream_data, upstream_parts_with};

pub fn parts(setup: &Setup<'_>) -> Result<ServiceParts, StartError> {
    let feeder_waker = Arc::new(feeder::FeederWaker::default());
    let feeder_data = web::Data::from(feeder_waker.clone());
    let data = upstream_data(setup)?;
    let keys = data.pii.get_ref().clone();
    let mut parts = upstream_parts_with(setup, data, move |cfg| {
        cfg.app_data(feeder_data.clone());
        routes::configure(cfg);
    });
    let (pool, poll) = (setup.pool.clone(), setup.config.outbox_poll);
    parts.workers.push(Box::pin(feeder::run(pool.clone(), feeder_waker, setup.outbox.clone(), poll)));
    parts.workers.push(Box::pin(registration::run(pool.clone(), keys, setup.outbox.clone(), poll)));
    parts.workers.push(Box::pin(tallies::run_compactor(pool, Duration::from_secs(10))));
    Ok(parts)
}
