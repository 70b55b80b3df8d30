//! Card making as the process starts it: its routes and app data (with the term of a
//! card maker's lease).

use std::sync::Arc;

use actix_web::web;

use super::leases::LeaseTerm;
use super::routes;
use crate::app::{ServiceParts, Setup, StartError, revocation_refresher, upstream_data};

pub fn parts(setup: &Setup<'_>) -> Result<ServiceParts, StartError> {
    let data = upstream_data(setup)?;
    let lease_term = web::Data::new(LeaseTerm(setup.config.card_lease));
    let routes = Arc::new(move |cfg: &mut web::ServiceConfig| {
        data.register(cfg);
        cfg.app_data(lease_term.clone());
        routes::configure(cfg);
    });
    Ok(ServiceParts { routes, workers: vec![revocation_refresher(setup)] })
}
