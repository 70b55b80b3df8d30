//! Collection: batches of enrollee records submitted by county offices, and the
//! county-facing status of every record.

pub mod batches;
pub mod repo;
pub mod routes;
