//! What a verified record sends to card making: the card's fields, normalised by the
//! same domain rules that accepted the record, encrypted with the shared key; and the
//! feeder that sends them. Applying a verification outcome queues the verified
//! records (one `registration_queue` entry per outcome, in the outcome's transaction);
//! the feeder takes an entry off the queue a round at a time and writes the
//! registration messages to the outbox in the same transaction, so none is lost or
//! sent twice.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::repo::{self, RecordRow};
use crate::config::Service;
use crate::contracts::Message;
use crate::contracts::messages::{CardFields, Registration, RegistrationRequested};
use crate::db::{DbConnection, DbPool};
use crate::domain::record::{self, RawRecord};
use crate::domain::{CountyCode, RecordId, RecordState};
use crate::http::ApiError;
use crate::outbox::{self, OutboxWaker};
use crate::pii::PiiKeys;

/// Registrations per message.
pub const PER_MESSAGE: usize = 250;

/// The registration of one verified record.
pub fn of(row: &RecordRow, pii: &PiiKeys) -> Result<Registration, ApiError> {
    let id_hash = row.id_hash.clone().ok_or_else(|| ApiError::internal("verified record without citizen ID"))?;
    let raw: RawRecord = serde_json::from_str(&pii.decrypt(&row.submitted_enc).map_err(ApiError::internal)?)
        .map_err(ApiError::internal)?;
    let county = CountyCode::parse(&row.county_code).map_err(ApiError::internal)?;
    // The record passed these checks when it came in or was corrected.
    let valid = record::check(&raw, &county, crate::db::now().date())
        .map_err(|issues| ApiError::internal(format!("verified record fails its checks: {} issues", issues.len())))?;
    let fields = CardFields {
        name: valid.name.as_str().to_string(),
        sex: valid.sex.code().to_string(),
        ethnicity: valid.ethnicity.code().to_string(),
        birth_date: valid.birth_date,
        citizen_id: valid.id.as_str().to_string(),
        address: valid.address,
        ncms_number: valid.ncms_number.as_str().to_string(),
        phone: valid.phone.map(|p| p.as_str().to_string()),
        county_code: valid.county_code.as_str().to_string(),
        village: valid.village,
    };
    let fields_json = serde_json::to_string(&fields).map_err(ApiError::internal)?;
    Ok(Registration {
        record_id: row.id.clone(),
        version: row.version,
        batch_id: row.batch_id.clone(),
        county_code: row.county_code.clone(),
        village: row.village.clone(),
        id_hash,
        fields_enc: pii.encrypt(&fields_json).map_err(ApiError::internal)?,
    })
}

/// Registration messages waiting in the outbox at most. Past that the feeder waits for
/// card making to catch up: the outbox delivers in the order messages were written,
/// and verification requests written meanwhile would otherwise wait behind all of them
/// (measured: a median of 7 s behind a backlog of registrations).
const MAX_WAITING_MESSAGES: i64 = 8;

/// Records waiting for verification past which registration waits (verification
/// first: a county waits for its outcomes, and a registration is several times the
/// work of a verification)...
const VERIFICATION_FIRST_ABOVE: i64 = 2000;
/// ...but never longer than this between two rounds, so that a steady stream of
/// batches does not starve card making.
const MAX_DEFERRAL: Duration = Duration::from_secs(30);

/// What one round did.
enum Round {
    /// Took an entry off the queue.
    Sent,
    /// Nothing queued after the cursor.
    Empty,
    /// Card making has enough to do.
    HeldBack,
}

/// Sends one round of queued registrations to card making (the records of one queue
/// entry), with the entry taken off the queue in the same transaction. `after` is the
/// feeder's cursor (an entry id); it moves past the round's entry even when the round
/// fails, so that a record that cannot be registered does not hold up the others (its
/// entry stays queued and is tried again on the next pass).
fn send_round(conn: &mut DbConnection, pii: &PiiKeys, after: &mut i64, may_defer: bool) -> Result<Round, ApiError> {
    if outbox::waiting(conn, Service::Cardmaking, RegistrationRequested::KIND)? >= MAX_WAITING_MESSAGES {
        return Ok(Round::HeldBack);
    }
    if may_defer && super::tallies::in_state(conn, RecordState::PendingVerification)? > VERIFICATION_FIRST_ABOVE {
        return Ok(Round::HeldBack);
    }
    let Some(entry) = repo::next_queued_registrations(conn, *after)? else {
        return Ok(Round::Empty);
    };
    *after = entry.id;
    let versions: HashMap<&str, i32> = entry.records.iter().map(|(id, version)| (id.as_str(), *version)).collect();
    let ids: Vec<RecordId> = entry.records.iter().map(|(id, _)| id.clone()).collect();
    let mut rows = repo::in_state(conn, &ids, RecordState::Verified)?;
    // A record that moved on meanwhile (or was corrected) is not due any more.
    rows.retain(|row| versions.get(row.id.as_str()) == Some(&row.version));
    rows.sort_unstable_by(|a, b| a.id.cmp(&b.id));
    // The card fields make a registration several times the size of a verification
    // request: smaller messages keep far from the receiver's body limit.
    for chunk in rows.chunks(PER_MESSAGE) {
        let registrations = chunk.iter().map(|row| of(row, pii)).collect::<Result<Vec<_>, _>>()?;
        outbox::enqueue(conn, Service::Cardmaking, &RegistrationRequested { registrations })?;
    }
    repo::unqueue_registrations(conn, entry.id)?;
    Ok(Round::Sent)
}

/// The registration feeder: sends verified records to card making, a round at a time,
/// until the process ends. Registration (decrypting, checking and encrypting each
/// record's card fields) runs here rather than where verification outcomes are
/// applied, so that outcomes reach the county at verification's pace.
pub async fn run(pool: DbPool, pii: PiiKeys, outbox: Arc<OutboxWaker>, poll: Duration) {
    let cursor = Arc::new(Mutex::new(0_i64));
    let mut last_round = Instant::now();
    loop {
        let (round_cursor, keys) = (cursor.clone(), pii.clone());
        let may_defer = last_round.elapsed() < MAX_DEFERRAL;
        let sent = pool
            .write(move |conn| {
                let mut after = round_cursor.lock().unwrap_or_else(|p| p.into_inner());
                send_round(conn, &keys, &mut after, may_defer)
            })
            .await;
        if !matches!(sent, Ok(Round::HeldBack)) {
            last_round = Instant::now();
        }
        // The guard lives only in this block: it must not be held across the sleep.
        let again = {
            let mut after = cursor.lock().unwrap_or_else(|p| p.into_inner());
            match sent {
                Ok(Round::Sent) => {
                    outbox.wake();
                    true
                }
                // Nothing after the cursor: look once more from the start, where entries
                // of failed rounds stay.
                Ok(Round::Empty) if *after != 0 => {
                    *after = 0;
                    true
                }
                Ok(Round::Empty | Round::HeldBack) => false,
                Err(e) => {
                    tracing::warn!(error = %e, "registration round failed");
                    false
                }
            }
        };
        if again {
            continue;
        }
        tokio::time::sleep(poll).await;
    }
}
