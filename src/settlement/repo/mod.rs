//! Settlement's storage: one module per aggregate, each with its tables.

pub mod access_log;
pub mod banks;
pub mod claims;
pub mod debits;
pub mod disclosures;
pub mod enrollments;
pub mod fraud;
pub mod fund_summary;
pub mod holders;
pub mod ledger;
pub mod payments;
pub mod policies;
pub mod reconciliations;
pub mod reviews;
