//! Settlement: NCMS enrollment per year, premium debit runs, reimbursement policies,
//! the fund ledger, and eligibility (DOMAIN.md sections 5 and 6).
//!
//! - [`holders`]: cards and their holders, from card making's status messages.
//! - [`enrollments`]: enrollment per person and year.
//! - [`policies`]: versioned policies per county and year.
//! - [`banks`] and [`debits`]: which bank serves a county; premium collection by
//!   batch debit, in envelopes the bank pulls and answers; [`payments`] pays
//!   reimbursements onto cards the same way; [`bank_answers`] is what the two share.
//! - [`ledger`] posts to and reads the double-entry fund ledger, [`funds`] serves it
//!   and takes government subsidies, [`ledger_check`] verifies it (`healthcard
//!   ledger check`), [`chainer`] links postings into each county's chain;
//!   [`fund_summary`] sums a fund year up, by month.
//! - [`claims`]: clinics' settlements in the national platform's terms, their quote,
//!   cancel and reversal; [`payments`]: the reimbursement paid onto the card;
//!   [`fraud`]: the rules that stop a claim for review, and [`reviews`]: the
//!   county's decision.
//! - [`eligibility`] and [`access_log`]: the clinics' lookup, and the record of every
//!   lookup.
//! - [`disclosure`]: the public list of reimbursements per village and month.
//! - [`messages`]: what comes in (card status).

pub mod access_log;
pub mod bank_answers;
pub mod banks;
pub mod chainer;
pub mod claims;
pub mod debits;
pub mod disclosure;
pub mod eligibility;
pub mod enrollments;
pub mod fraud;
pub mod fund_summary;
pub mod funds;
pub mod holders;
pub mod ledger;
pub mod ledger_check;
pub mod messages;
pub mod payments;
pub mod policies;
pub mod reconciliation_upload;
pub mod reconciliations;
pub mod repo;
pub mod reviews;
pub mod routes;
pub mod service;
