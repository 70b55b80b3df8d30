//! Registration in the provincial resident master index: one entry per citizen. A
//! verified record becomes a card order unless the citizen already holds a live card or
//! an open order from another record, which is answered `already_registered` with
//! where. The record a failed order came from, corrected and verified again, yields a
//! new order.

use std::collections::HashMap;

use super::repo::{self, NewOrder, ResidentRow};
use crate::config::Service;
use crate::contracts::messages::{
    Holding, RegistrationCompleted, RegistrationOutcome, RegistrationRequested, RegistrationResult,
};
use crate::db::{DbConnection, now};
use crate::http::ApiError;
use crate::outbox;

#[tracing::instrument(skip_all)]
pub fn apply(conn: &mut DbConnection, message: RegistrationRequested) -> Result<(), ApiError> {
    let at = now();
    let hashes: Vec<String> = message.registrations.iter().map(|r| r.id_hash.clone()).collect();
    // Locked first: the check below then stays true until this transaction ends.
    let mut residents: HashMap<String, ResidentRow> =
        repo::lock_residents(conn, &hashes)?.into_iter().map(|r| (r.id_hash.clone(), r)).collect();
    let mut held = repo::holding(conn, &hashes)?;
    let mut new_residents = Vec::new();
    let mut orders = Vec::new();
    let mut results = Vec::with_capacity(message.registrations.len());
    for reg in message.registrations {
        let entry = ResidentRow {
            id_hash: reg.id_hash.clone(),
            county_code: reg.county_code.clone(),
            village: reg.village.clone(),
            batch_id: reg.batch_id.clone(),
            record_id: reg.record_id.clone(),
            record_version: reg.version,
            fields_enc: reg.fields_enc.clone(),
            registered_at: at,
            updated_at: at,
        };
        let result = |outcome, order_id, held_by| RegistrationResult {
            record_id: reg.record_id.clone(),
            version: reg.version,
            outcome,
            order_id,
            held_by,
        };
        match residents.get(&reg.id_hash) {
            Some(existing) if held.contains(&reg.id_hash) => {
                if existing.record_id == reg.record_id {
                    // The record's citizen already has an order or card from this
                    // record (a registration sent again): nothing new to order.
                    results.push(result(RegistrationOutcome::Registered, None, None));
                } else {
                    results.push(result(
                        RegistrationOutcome::AlreadyRegistered,
                        None,
                        Some(Holding {
                            county_code: existing.county_code.clone(),
                            batch_id: existing.batch_id.clone(),
                            record_id: existing.record_id.clone(),
                        }),
                    ));
                }
            }
            Some(existing) => {
                // Known, but holding nothing: its last order failed (the county
                // corrected the record) or its card is dead. The newer record takes over.
                let updated = ResidentRow { registered_at: existing.registered_at, ..entry };
                repo::update_resident(conn, &updated)?;
                let order = NewOrder::new(&updated, None, at);
                results.push(result(RegistrationOutcome::Registered, Some(order.order.id.clone()), None));
                orders.push(order);
                held.insert(updated.id_hash.clone());
                residents.insert(updated.id_hash.clone(), updated);
            }
            None => {
                let order = NewOrder::new(&entry, None, at);
                results.push(result(RegistrationOutcome::Registered, Some(order.order.id.clone()), None));
                orders.push(order);
                held.insert(entry.id_hash.clone());
                residents.insert(entry.id_hash.clone(), entry.clone());
                new_residents.push(entry);
            }
        }
    }
    repo::insert_residents(conn, &new_residents)?;
    repo::insert_orders(conn, &orders)?;
    repo::refresh_statistics_if_grown(conn, &["residents", "card_orders", "card_order_fields", "card_queue"])?;
    tracing::info!(registered = orders.len(), answered = results.len(), "registrations applied");
    outbox::enqueue(conn, Service::Collection, &RegistrationCompleted { results })?;
    Ok(())
}
