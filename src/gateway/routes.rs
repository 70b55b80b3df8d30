//! The gateway's own routes; everything else under `/api/v1/` is proxied.

use actix_web::http::Method;
use actix_web::web;

use super::{clients, proxy, token};
use crate::http::ops;
use crate::http::routes::RouteTable;

pub fn table() -> RouteTable {
    let table = RouteTable::new()
        .public(Method::POST, "/api/v1/auth/token", token::issue)
        .public(Method::GET, "/.well-known/jwks.json", token::jwks)
        .public(Method::GET, "/api/v1/.well-known/jwks.json", token::jwks)
        .public(Method::POST, "/api/v1/clients", clients::create_handler)
        .public(Method::GET, "/api/v1/clients", clients::list)
        .public(Method::DELETE, "/api/v1/clients/{id}", clients::revoke);
    ops::routes(table)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    table().register(cfg);
    cfg.service(web::resource("/api/v1/{tail:.*}").to(proxy::forward));
}
