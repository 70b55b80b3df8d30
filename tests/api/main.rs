//! Black-box tests: they start the real binary (`healthcard all`, or single services)
//! on random ports with fresh databases, and talk HTTP to it.
//!
//! Tests that touch a database run once on SQLite and once on PostgreSQL: their paths
//! are `<module>::sqlite::<name>` and `<module>::postgres::<name>`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod helpers;

mod cardmaking;
mod collection;
mod deploy;
mod keys;
mod lifecycle;
mod openapi;
mod outbox;
mod platform;
mod platform_schema;
mod province;
mod reliability;
mod settlement;
mod settlement_claims;
mod settlement_disclosure;
mod settlement_funds;
mod settlement_payments;
mod settlement_policies;
mod settlement_reconciliation;
mod settlement_review;
mod settlement_soak;
mod verification;
