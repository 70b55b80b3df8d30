//! The county's reviews of claims the fraud rules stopped.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::claims::{ClaimRow, claims};
use crate::db::{DbConnection, PageRequest};
use crate::domain::claim_state::ReviewState;
use crate::domain::{ClientId, SetlId, Transition};

diesel::table! {
    claim_reviews (setl_id) {
        setl_id -> Text,
        county_code -> Text,
        state -> Text,
        flags -> Text,
        flagged_at -> Timestamp,
        reason -> Nullable<Text>,
        decided_by -> Nullable<Text>,
        decided_at -> Nullable<Timestamp>,
    }
}

diesel::allow_tables_to_appear_in_same_query!(claim_reviews, claims);

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = claim_reviews)]
pub struct ReviewRow {
    pub setl_id: SetlId,
    pub county_code: String,
    pub state: ReviewState,
    /// The rules that fired with their evidence: a JSON array, as the claim shows it.
    pub flags: String,
    pub flagged_at: NaiveDateTime,
    pub reason: Option<String>,
    pub decided_by: Option<ClientId>,
    pub decided_at: Option<NaiveDateTime>,
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert(conn: &mut DbConnection, row: &ReviewRow) -> QueryResult<usize> {
    diesel::insert_into(claim_reviews::table).values(row).execute(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn find(conn: &mut DbConnection, setl_id: &SetlId) -> QueryResult<Option<ReviewRow>> {
    claim_reviews::table.find(setl_id).select(ReviewRow::as_select()).first(conn).optional()
}

/// The reviews of `setl_ids` (those that have one).
#[tracing::instrument(level = "debug", skip_all)]
pub fn of_claims(conn: &mut DbConnection, setl_ids: &[SetlId]) -> QueryResult<Vec<ReviewRow>> {
    let mut out = Vec::new();
    for chunk in setl_ids.chunks(5000) {
        out.extend(
            claim_reviews::table
                .filter(claim_reviews::setl_id.eq_any(chunk))
                .select(ReviewRow::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

/// Records the move of the review of `setl_id`, with who made it, when and why; 0
/// when the review was no longer in the move's first state.
#[tracing::instrument(level = "debug", skip_all)]
pub fn decide(
    conn: &mut DbConnection,
    setl_id: &SetlId,
    step: Transition<ReviewState>,
    reason: Option<&str>,
    by: &ClientId,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(claim_reviews::table.find(setl_id).filter(claim_reviews::state.eq(step.from())))
        .set((
            claim_reviews::state.eq(step.to()),
            claim_reviews::reason.eq(reason),
            claim_reviews::decided_by.eq(by),
            claim_reviews::decided_at.eq(at),
        ))
        .execute(conn)
}

/// One page of the reviews in `state` of `counties` (every county when none), with
/// their claims, oldest first.
#[tracing::instrument(level = "debug", skip_all)]
pub fn page(
    conn: &mut DbConnection,
    counties: Option<&[String]>,
    state: ReviewState,
    page: &PageRequest,
) -> QueryResult<Vec<(ReviewRow, ClaimRow)>> {
    let mut query = claim_reviews::table
        .inner_join(claims::table.on(claims::setl_id.eq(claim_reviews::setl_id)))
        .filter(claim_reviews::state.eq(state))
        .select((ReviewRow::as_select(), ClaimRow::as_select()))
        .into_boxed();
    if let Some(counties) = counties {
        query = query.filter(claim_reviews::county_code.eq_any(counties.to_vec()));
    }
    if let Some(after) = &page.after {
        query = query.filter(claim_reviews::setl_id.gt(after.clone()));
    }
    query.order(claim_reviews::setl_id.asc()).limit(page.limit.saturating_add(1)).load(conn)
}
