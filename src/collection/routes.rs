//! Collection's routes.

use actix_web::http::Method;
use actix_web::web;

use super::{batches, messages, parts, records};
use crate::http::ops;
use crate::http::routes::RouteTable;
use crate::outbox::inbox;

pub fn table() -> RouteTable {
    let table = RouteTable::new()
        .public(Method::POST, "/api/v1/batches", batches::open)
        .public(Method::GET, "/api/v1/batches", batches::list)
        .public(Method::GET, "/api/v1/batches/{id}", batches::get)
        .public(Method::PUT, "/api/v1/batches/{id}/parts/{n}", parts::upload)
        .public(Method::POST, "/api/v1/batches/{id}/submit", batches::submit)
        .public(Method::GET, "/api/v1/batches/{id}/records", records::list)
        .public(Method::GET, "/api/v1/records/{id}", records::get)
        .public(Method::PUT, "/api/v1/records/{id}", records::correct);
    inbox::route(ops::routes(table), messages::apply)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    table().register(cfg);
}
