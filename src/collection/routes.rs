//! Collection's routes.

use actix_web::http::Method;
use actix_web::web;

use super::batches;
use crate::http::ops;
use crate::http::routes::RouteTable;
use crate::outbox::inbox;

pub fn table() -> RouteTable {
    let table = RouteTable::new()
        .public(Method::POST, "/api/v1/batches", batches::open)
        .public(Method::GET, "/api/v1/batches", batches::list)
        .public(Method::GET, "/api/v1/batches/{id}", batches::get);
    inbox::route(ops::routes(table), inbox::no_service_messages)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    table().register(cfg);
}
