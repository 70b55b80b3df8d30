//! Settlement as the process starts it: its routes and the common app data, the size
//! of a bank envelope, the attempts a payment gets, and the writer of the eligibility access log (stopped last, so
//! that every lookup answered is written).

use actix_web::web;

use super::{access_log, debits, fraud, payments, policies};
use crate::app::{ServiceParts, Setup, StartError, upstream_parts};

pub fn parts(setup: &Setup<'_>) -> Result<ServiceParts, StartError> {
    let size = web::Data::new(debits::EnvelopeSize(setup.config.debit_envelope_size));
    let (log, writer, finish) = access_log::writer(setup.pool.clone());
    let attempts = web::Data::new(payments::MaxAttempts(setup.config.payment_max_attempts));
    let log = web::Data::new(log);
    let policies = web::Data::new(policies::PolicyCache::default());
    let medians = web::Data::new(fraud::AmountMedians::default());
    let mut parts = upstream_parts(setup, move |cfg| {
        cfg.app_data(size.clone()).app_data(attempts.clone()).app_data(log.clone()).app_data(policies.clone());
        cfg.app_data(medians.clone());
        super::routes::configure(cfg);
    })?;
    parts.workers.push(writer);
    parts.finish.push(finish);
    Ok(parts)
}
