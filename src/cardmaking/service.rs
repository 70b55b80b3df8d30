//! Card making as the process starts it: its routes, the common app data and the term
//! of a card maker's lease.

use actix_web::web;

use super::leases::LeaseTerm;
use crate::app::{ServiceParts, Setup, StartError, upstream_parts};

pub fn parts(setup: &Setup<'_>) -> Result<ServiceParts, StartError> {
    let lease_term = web::Data::new(LeaseTerm(setup.config.card_lease));
    upstream_parts(setup, move |cfg| {
        cfg.app_data(lease_term.clone());
        super::routes::configure(cfg);
    })
}
