//! Settlement: enrollment, premium debit runs, policies, claims, payment instructions, the fund ledger, disclosure.
//!
//! The platform part so far: its own database, token verification, operational
//! endpoints, and the message endpoint (revocations from the gateway).

pub mod policies;
pub mod repo;
pub mod routes;
pub mod service;
