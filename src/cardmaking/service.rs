//! Card making as the process starts it: its routes, the common app data, the term
//! of a card maker's lease, and the one-off upgrade of status messages that waited in
//! the outbox in an earlier form.

use actix_web::web;

use super::leases::LeaseTerm;
use super::messages;
use crate::app::{ServiceParts, Setup, StartError, upstream_data, upstream_parts_with};
use crate::http::ApiError;

pub fn parts(setup: &Setup<'_>) -> Result<ServiceParts, StartError> {
    let lease_term = web::Data::new(LeaseTerm(setup.config.card_lease));
    let data = upstream_data(setup)?;
    let (pool, pii, waker) = (setup.pool.clone(), data.pii.clone(), setup.outbox.clone());
    let mut parts = upstream_parts_with(setup, data, move |cfg| {
        cfg.app_data(lease_term.clone());
        super::routes::configure(cfg);
    });
    parts.workers.push(Box::pin(async move {
        match pool.write(move |conn| messages::upgrade_waiting_status(conn, &pii)).await {
            Ok(0) => {}
            Ok(upgraded) => {
                tracing::info!(upgraded, "card status messages rewritten for settlement");
                waker.wake();
            }
            Err::<_, ApiError>(e) => tracing::error!(error = %e, "could not upgrade waiting card status messages"),
        }
    }));
    Ok(parts)
}
