//! Verification as the process starts it: its routes and app data.

use std::sync::Arc;

use actix_web::web;

use super::routes;
use crate::app::{ServiceParts, Setup, StartError, revocation_refresher, upstream_data};

pub fn parts(setup: &Setup<'_>) -> Result<ServiceParts, StartError> {
    let data = upstream_data(setup)?;
    let routes = Arc::new(move |cfg: &mut web::ServiceConfig| {
        data.register(cfg);
        routes::configure(cfg);
    });
    Ok(ServiceParts { routes, workers: vec![revocation_refresher(setup)] })
}
