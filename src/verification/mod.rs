//! Verification: the household register (imported snapshots and deltas), match results and reasons.
//!
//! The platform part so far: its own database, token verification, operational
//! endpoints, and the message endpoint (revocations from the gateway).

pub mod routes;
