//! Card making: the provincial resident master index, card orders, card makers'
//! leases, cards and their states (DOMAIN.md sections 4 and 6).
//!
//! - [`registration`]: verified records from collection enter the master index (one
//!   entry per citizen) and become card orders, or are answered `already_registered`.
//! - [`assignments`]: which card maker makes which county's cards.
//! - [`leases`] and [`results`]: card makers pull orders for a fixed time and report
//!   each one produced (PAN, chip serial) or failed (code); failures go back to the
//!   county for correction.
//! - [`cards`]: issue, activate, loss, found, replace, cancel, and reading a card by
//!   its PAN or its holder's citizen ID.
//! - [`access_log`]: every read of personal data by card makers, clinics, auditors.
//! - [`messages`]: what comes in (registrations) and goes out (progress to
//!   collection, card status to settlement).

pub mod access_log;
pub mod assignments;
pub mod cards;
pub mod leases;
pub mod messages;
pub mod registration;
pub mod repo;
pub mod results;
pub mod routes;
pub mod service;
