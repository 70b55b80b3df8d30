//! Settlement as the process starts it: its routes and the common app data, the size
//! of a bank envelope, the attempts a payment gets, the largest detail reconciliation,
//! the writer of the eligibility access log and the ledger's chainer (both stopped
//! last, so that every lookup answered is written and every posting chained).

use actix_web::web;

use super::{access_log, chainer, debits, fraud, payments, policies, reconciliations};
use crate::app::{ServiceParts, Setup, StartError, upstream_parts};

pub fn parts(setup: &Setup<'_>) -> Result<ServiceParts, StartError> {
    let size = web::Data::new(debits::EnvelopeSize(setup.config.debit_envelope_size));
    let (log, writer, finish) = access_log::writer(setup.pool.clone());
    let attempts = web::Data::new(payments::MaxAttempts(setup.config.payment_max_attempts));
    let log = web::Data::new(log);
    let policies = web::Data::new(policies::PolicyCache::default());
    let detail_limit = web::Data::new(reconciliations::DetailLimit(setup.config.reconciliation_max_body_bytes));
    let notice = web::Data::new(super::disclosure::NoticeSettings::from_config(setup.config));
    let medians = web::Data::new(fraud::AmountMedians::default());
    let mut parts = upstream_parts(setup, move |cfg| {
        cfg.app_data(size.clone()).app_data(attempts.clone()).app_data(log.clone()).app_data(policies.clone());
        cfg.app_data(detail_limit.clone()).app_data(notice.clone()).app_data(medians.clone());
        super::routes::configure(cfg);
    })?;
    parts.workers.push(writer);
    parts.finish.push(finish);
    let (chain, chain_finish) = chainer::worker(setup.pool.clone());
    parts.workers.push(chain);
    parts.finish.push(chain_finish);
    Ok(parts)
}
