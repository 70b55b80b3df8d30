//! Cardmaking's routes.

use actix_web::http::Method;
use actix_web::web;

use super::{access_log, assignments, cards, leases, messages, results};
use crate::http::ops;
use crate::http::routes::RouteTable;
use crate::outbox::inbox;

pub fn table() -> RouteTable {
    let table = RouteTable::new()
        .public(Method::PUT, "/api/v1/card-assignments/{county_code}", assignments::put)
        .public(Method::GET, "/api/v1/card-assignments", assignments::list)
        .public(Method::POST, "/api/v1/card-orders/lease", leases::lease)
        .public(Method::POST, "/api/v1/card-orders/results", results::record)
        .public(Method::POST, "/api/v1/cards/issue", cards::issue)
        .public(Method::GET, "/api/v1/cards/{card_no}", cards::get)
        .public(Method::POST, "/api/v1/cards/{card_no}/activate", cards::activate)
        .public(Method::POST, "/api/v1/cards/{card_no}/report-loss", cards::report_loss)
        .public(Method::POST, "/api/v1/cards/{card_no}/found", cards::found)
        .public(Method::POST, "/api/v1/cards/{card_no}/replace", cards::replace)
        .public(Method::POST, "/api/v1/cards/{card_no}/cancel", cards::cancel)
        .public(Method::GET, "/api/v1/card-access-log", access_log::list);
    inbox::route(ops::routes(table), messages::apply)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    table().register(cfg);
}
