//! healthcard: the resident health card lifecycle backend of a rural health insurance
//! scheme (NCMS). One binary, five services (gateway, collection, verification,
//! cardmaking, settlement), each with its own database; see `ARCHITECTURE.md` in the
//! shared design folder and the README.

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod contracts;
pub mod datagen;
pub mod db;
pub mod domain;
pub mod http;
pub mod keyfile;
pub mod outbox;
pub mod pii;
pub mod telemetry;

pub mod cardmaking;
pub mod collection;
pub mod gateway;
pub mod settlement;
pub mod verification;
