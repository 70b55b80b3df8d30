//! Card making: the provincial resident master index, card orders, card-maker leases, cards and their states.
//!
//! The platform part so far: its own database, token verification, operational
//! endpoints, and the message endpoint (revocations from the gateway).

pub mod routes;
