//! Settlement's tables, one module per part of the service.

pub mod ledger;
