//! Settlement's routes.

use actix_web::http::Method;
use actix_web::web;

use super::policies;
use crate::http::ops;
use crate::http::routes::RouteTable;
use crate::outbox::inbox;

pub fn table() -> RouteTable {
    let table = RouteTable::new()
        .public(Method::PUT, "/api/v1/policies/{county}/{year}", policies::put)
        .public(Method::GET, "/api/v1/policies/{county}/{year}", policies::get)
        .public(Method::GET, "/api/v1/policies/{county}/{year}/versions", policies::versions);
    inbox::route(ops::routes(table), inbox::no_service_messages)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    table().register(cfg);
}
