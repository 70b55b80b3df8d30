//! Verification's routes.

use actix_web::http::Method;
use actix_web::web;

use super::{imports, matches, messages};
use crate::http::ops;
use crate::http::routes::RouteTable;
use crate::outbox::inbox;

pub fn table() -> RouteTable {
    let table = RouteTable::new()
        .public(Method::POST, "/api/v1/registry/imports", imports::create)
        .public(Method::GET, "/api/v1/registry/imports", imports::list)
        .public(Method::GET, "/api/v1/registry/imports/{id}", imports::get)
        .public(Method::GET, "/api/v1/registry/matches", matches::list);
    inbox::route(ops::routes(table), messages::apply)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    table().register(cfg);
}
