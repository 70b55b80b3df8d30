//! Settlement: enrollment, premium debit runs, policies, claims, payment instructions, the fund ledger, disclosure.
//!
//! The platform part so far: its own database, token verification, operational
//! endpoints, and the message endpoint (revocations from the gateway).
//!
//! The fund ledger: [`ledger`] posts and reads it, [`funds`] serves it and takes
//! government subsidies, [`ledger_check`] verifies it (`healthcard ledger check`).

pub mod funds;
pub mod ledger;
pub mod ledger_check;
pub mod repo;
pub mod routes;
pub mod service;
