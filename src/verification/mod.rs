//! Verification: the household register (imported snapshots and deltas), and matching
//! of submitted records against it, with every reason a record fails.
//!
//! - [`imports`]: `POST /api/v1/registry/imports` streams a snapshot or delta in
//!   (CSV or NDJSON, [`parse`]) and applies it atomically; reading imports back.
//! - [`messages`]: `verification_requested` from collection, matched ([`matching`])
//!   against the active snapshot; the outcome goes back by the outbox.
//! - [`matches`]: the audit trail of matches.
//! - [`repo`]: the tables.

pub mod imports;
pub mod matches;
pub mod matching;
pub mod messages;
pub mod parse;
pub mod repo;
pub mod routes;
pub mod service;
