//! Settlement's tables and the queries on them, one module per aggregate.

pub mod policies;
