//! Collection as the process starts it: its routes and app data, and its workers (the
//! verification feeder, the registration sender, the tally compactor).

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;

use super::{feeder, registration, routes, tallies};
use crate::app::{ServiceParts, Setup, StartError, revocation_refresher, upstream_data};

pub fn parts(setup: &Setup<'_>) -> Result<ServiceParts, StartError> {
    let data = upstream_data(setup)?;
    let feeder_waker = Arc::new(feeder::FeederWaker::default());
    let feeder_data = web::Data::from(feeder_waker.clone());
    let (pool, poll) = (setup.pool.clone(), setup.config.outbox_poll);
    let workers = vec![
        revocation_refresher(setup),
        Box::pin(feeder::run(pool.clone(), feeder_waker, setup.outbox.clone(), poll)) as _,
        Box::pin(registration::run(pool.clone(), data.pii.get_ref().clone(), setup.outbox.clone(), poll)) as _,
        Box::pin(tallies::run_compactor(pool, Duration::from_secs(10))) as _,
    ];
    let routes = Arc::new(move |cfg: &mut web::ServiceConfig| {
        data.register(cfg);
        cfg.app_data(feeder_data.clone());
        routes::configure(cfg);
    });
    Ok(ServiceParts { routes, workers })
}
