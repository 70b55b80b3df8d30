//! What the fraud rules read about a new claim: the person's live settlements around
//! it, and an institution's recent totals.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::claims::{SETTLEMENT, claims};
use crate::db::DbConnection;
use crate::domain::claim_state::ClaimState;
use crate::domain::{PersonNo, SetlId};

/// Settlements that still count: paid or owed, or waiting for review.
const LIVE: [ClaimState; 2] = [ClaimState::Approved, ClaimState::Flagged];

/// Most of a person's settlements read around one claim.
pub const MAX_NEIGHBOURS: i64 = 500;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = claims)]
pub struct NeighbourRow {
    pub setl_id: SetlId,
    pub clinic: String,
    pub ipt_otp_no: String,
    pub med_type: String,
    pub admitted_at: NaiveDateTime,
    pub discharged_at: NaiveDateTime,
}

/// The person's live settlements discharged at or after `from` and admitted at or
/// before `to`, at most [`MAX_NEIGHBOURS`] (in no order: the rules sort what they
/// cite): one range of the index on (person, discharge), which holds only the
/// person's recent claims. No `ORDER BY`, so that no plan is tempted to walk another
/// index in that order instead.
#[tracing::instrument(level = "debug", skip_all)]
pub fn neighbours(
    conn: &mut DbConnection,
    person: &PersonNo,
    from: NaiveDateTime,
    to: NaiveDateTime,
) -> QueryResult<Vec<NeighbourRow>> {
    claims::table
        .filter(claims::person_no.eq(person))
        .filter(claims::discharged_at.ge(from))
        .filter(claims::admitted_at.le(to))
        .filter(claims::kind.eq(SETTLEMENT))
        .filter(claims::state.eq_any(LIVE))
        .limit(MAX_NEIGHBOURS)
        .select(NeighbourRow::as_select())
        .load(conn)
}

/// The totals of the institution's live settlements of `med_type` and `level` made
/// since `since`, the newest `limit` of them: one range of the index on (clinic,
/// med_type, level, created_at).
#[tracing::instrument(level = "debug", skip_all)]
pub fn recent_totals(
    conn: &mut DbConnection,
    clinic: &str,
    med_type: &str,
    level: &str,
    since: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<i64>> {
    claims::table
        .filter(claims::clinic.eq(clinic))
        .filter(claims::med_type.eq(med_type))
        .filter(claims::level.eq(level))
        .filter(claims::created_at.ge(since))
        .filter(claims::kind.eq(SETTLEMENT))
        .filter(claims::state.eq_any(LIVE))
        .order(claims::created_at.desc())
        .limit(limit)
        .select(claims::medfee_sumamt)
        .load(conn)
}
