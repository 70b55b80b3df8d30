//! Cards and their holders in settlement, from card making's status messages.
//!
//! A person is keyed by the keyed hash of the citizen ID, as in card making, so a
//! replacement card finds the person its predecessor had, and with it the person's
//! enrollment, paid premium and caps. A card's messages count from 1 and are applied
//! in that order: one that arrives early is refused, and its sender delivers it again
//! later (the outbox retries every failure), by when its predecessor has arrived.

use super::debits;
use super::repo::holders::{self as repo, CardEventRow, CardRow, PersonRow};
use crate::contracts::messages::CardStatusChanged;
use crate::db::DbConnection;
use crate::domain::{CardNo, CardState, PersonNo};
use crate::http::ApiError;

/// Applies one status change, in the inbox transaction.
#[tracing::instrument(skip_all, fields(seq = status.seq))]
pub fn apply_status(conn: &mut DbConnection, status: CardStatusChanged) -> Result<(), ApiError> {
    let at = status.at.naive_utc();
    let card = repo::lock_card(conn, &status.card_no)?;
    let applied = card.as_ref().map_or(0, |c| c.seq);
    if status.seq <= applied {
        // The same change under another message id: applied before.
        return Ok(());
    }
    if status.seq != applied + 1 {
        return Err(ApiError::conflict(
            "card_status_out_of_order",
            format!("card status change {} waits for change {} of the same card", status.seq, applied + 1),
        ));
    }
    let person_no = holder(conn, &status, at)?;
    let lost_at = match status.state {
        CardState::ReportedLost => Some(at),
        CardState::Activated => None,
        _ => card.as_ref().and_then(|c| c.lost_at),
    };
    let first_activated_at =
        card.as_ref().and_then(|c| c.first_activated_at).or((status.state == CardState::Activated).then_some(at));
    let row = CardRow {
        card_no: status.card_no.clone(),
        person_no,
        county_code: status.county_code.clone(),
        state: status.state,
        seq: status.seq,
        replaces_card: status.replaces.clone(),
        first_activated_at,
        lost_at,
        state_changed_at: at,
    };
    if card.is_some() {
        repo::update_card(conn, &row)?;
    } else {
        repo::insert_card(conn, &row)?;
    }
    repo::insert_event(
        conn,
        &CardEventRow {
            card_no: status.card_no.clone(),
            seq: status.seq,
            state: status.state,
            reason: status.reason.clone(),
            at,
        },
    )?;
    if status.state != CardState::Activated {
        // A card that cannot pay is taken out of envelopes the bank has not pulled yet.
        debits::withdraw_card(conn, &status.card_no)?;
    }
    Ok(())
}

/// The person the card belongs to, made on the first card of a citizen and brought up
/// to date by every message; returns the person number.
fn holder(
    conn: &mut DbConnection,
    status: &CardStatusChanged,
    at: chrono::NaiveDateTime,
) -> Result<PersonNo, ApiError> {
    let h = &status.holder;
    let mut row = PersonRow {
        person_no: PersonNo::new(),
        id_hash: status.id_hash.clone(),
        county_code: status.county_code.clone(),
        village: h.village.clone(),
        name_masked: h.name_masked.clone(),
        name_enc: h.name_enc.clone(),
        sex: h.sex.clone(),
        birth_date: h.birth_date,
        card_no: status.card_no.clone(),
        created_at: at,
        updated_at: at,
    };
    match repo::lock_person(conn, &status.id_hash)? {
        None => {
            repo::insert_person(conn, &row)?;
        }
        Some(person) => {
            row.person_no = person.person_no;
            row.created_at = person.created_at;
            if !takes_over(conn, status, &person.card_no)? {
                row.card_no = person.card_no;
            }
            repo::update_holder(conn, &row)?;
        }
    }
    Ok(row.person_no)
}

/// Whether the card of `status` becomes its holder's current card, in place of
/// `current`: a live card does, unless the current one is another live card that it
/// does not replace (a late message of an older card).
fn takes_over(conn: &mut DbConnection, status: &CardStatusChanged, current: &CardNo) -> Result<bool, ApiError> {
    if !status.state.is_live() {
        return Ok(false);
    }
    if current == &status.card_no || status.replaces.as_ref() == Some(current) {
        return Ok(true);
    }
    let current_live = repo::lock_card(conn, current)?.is_some_and(|c| c.state.is_live());
    Ok(!current_live)
}
