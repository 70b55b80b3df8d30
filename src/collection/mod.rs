//! Collection: batches of enrollee records submitted by county offices, and the
//! county-facing status of every record: parts are streamed in and checked row by row,
//! submitted batches are fed to verification in chunks, outcomes come back by message,
//! and rejected records are corrected as new versions.

pub mod batches;
pub mod feeder;
pub mod intake;
pub mod messages;
pub mod parse;
pub mod parts;
pub mod records;
pub mod registration;
pub mod repo;
pub mod routes;
pub mod service;
pub mod tallies;
