//! Settlement's routes.

use actix_web::web;

use crate::http::ops;
use crate::http::routes::RouteTable;
use crate::outbox::inbox;

pub fn table() -> RouteTable {
    let table = super::funds::routes(RouteTable::new());
    inbox::route(ops::routes(table), inbox::no_service_messages)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    table().register(cfg);
}
