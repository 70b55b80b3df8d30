//! Settlement's routes.

use actix_web::http::Method;
use actix_web::web;

use super::{
    access_log, banks, claims, debits, eligibility, enrollments, messages, payments, policies, reconciliations, reviews,
};
use crate::http::ops;
use crate::http::routes::RouteTable;
use crate::outbox::inbox;

pub fn table() -> RouteTable {
    let table = super::funds::routes(RouteTable::new())
        .public(Method::GET, "/api/v1/funds/{county}/summary", super::fund_summary::get)
        .public(Method::GET, "/api/v1/disclosures", super::disclosure::get)
        .public(Method::GET, "/api/v1/eligibility", eligibility::get)
        .public(Method::GET, "/api/v1/eligibility/access-log", access_log::list)
        .public(Method::POST, "/api/v1/enrollments", enrollments::post)
        .public(Method::GET, "/api/v1/enrollments", enrollments::get)
        .public(Method::PUT, "/api/v1/bank-assignments/{county_code}", banks::put)
        .public(Method::GET, "/api/v1/bank-assignments", banks::list)
        .public(Method::POST, "/api/v1/debit-runs", debits::create)
        .public(Method::GET, "/api/v1/debit-runs/{id}", debits::get_run)
        .public(Method::GET, "/api/v1/debit-runs/{id}/failures", debits::failures)
        .public(Method::GET, "/api/v1/debit-envelopes", debits::list_envelopes)
        .public(Method::GET, "/api/v1/debit-envelopes/{id}", debits::get_envelope)
        .public(Method::POST, "/api/v1/debit-instructions/results", debits::results)
        .public(Method::POST, "/api/v1/claims", claims::settle)
        .public(Method::GET, "/api/v1/claims", claims::by_msgid)
        .public(Method::POST, "/api/v1/claims/quote", claims::quote)
        .public(Method::POST, "/api/v1/claims/reversals", claims::reverse)
        .public(Method::GET, "/api/v1/claims/{setl_id}", claims::get)
        .public(Method::POST, "/api/v1/claims/{setl_id}/cancel", claims::cancel)
        .public(Method::POST, "/api/v1/claims/{setl_id}/review", reviews::decide)
        .public(Method::GET, "/api/v1/reviews", reviews::list)
        .public(Method::GET, "/api/v1/payment-envelopes", payments::list_envelopes)
        .public(Method::GET, "/api/v1/payment-envelopes/{id}", payments::get_envelope)
        .public(Method::POST, "/api/v1/payment-instructions/results", payments::results)
        .public(Method::GET, "/api/v1/payment-instructions", payments::needing_action)
        .public(Method::POST, "/api/v1/payment-instructions/{id}/reissue", payments::reissue)
        .public(Method::POST, "/api/v1/payment-instructions/{id}/recovery", payments::recovery)
        .public(Method::PUT, "/api/v1/policies/{county}/{year}", policies::put)
        .public(Method::GET, "/api/v1/policies/{county}/{year}", policies::get)
        .public(Method::GET, "/api/v1/policies/{county}/{year}/versions", policies::versions)
        .public(Method::POST, "/api/v1/reconciliations", reconciliations::totals)
        .public(Method::POST, "/api/v1/reconciliations/detail", reconciliations::detail)
        .public(Method::GET, "/api/v1/reconciliations/{id}", reconciliations::get)
        .public(Method::GET, "/api/v1/reconciliations/{id}/differences", reconciliations::differences);
    inbox::route(ops::routes(table), messages::apply)
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    table().register(cfg);
}
