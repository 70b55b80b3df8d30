//! What public disclosure reads: a village's approved settlements admitted in a
//! month, their holders' masked names and sex, and whether a village is one of a
//! county's. Nothing here selects a card number or a citizen ID hash.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::claims::{SETTLEMENT, claims};
use super::holders::persons;
use crate::db::DbConnection;
use crate::domain::PersonNo;
use crate::domain::claim_state::ClaimState;

/// One approved settlement as a disclosure shows it.
#[derive(Debug, Clone, Queryable)]
pub struct DisclosedClaim {
    pub person_no: PersonNo,
    pub clinic: String,
    pub level: String,
    pub confidential: bool,
    pub admitted_at: NaiveDateTime,
    pub discharged_at: NaiveDateTime,
    pub medfee_sumamt: i64,
    pub hifp_pay: i64,
}

/// Up to `limit` approved settlements of `village` in `county` admitted in
/// `[from, to)` (stored UTC), by admission and settlement id. A claim names the
/// village its holder lived in when it was settled.
#[tracing::instrument(level = "debug", skip_all)]
pub fn approved_in(
    conn: &mut DbConnection,
    county: &str,
    village: &str,
    from: NaiveDateTime,
    to: NaiveDateTime,
    limit: i64,
) -> QueryResult<Vec<DisclosedClaim>> {
    claims::table
        .filter(claims::county_code.eq(county))
        .filter(claims::village.eq(village))
        .filter(claims::admitted_at.ge(from))
        .filter(claims::admitted_at.lt(to))
        .filter(claims::kind.eq(SETTLEMENT))
        .filter(claims::state.eq(ClaimState::Approved))
        .order((claims::admitted_at, claims::setl_id))
        .limit(limit)
        .select((
            claims::person_no,
            claims::clinic,
            claims::level,
            claims::confidential,
            claims::admitted_at,
            claims::discharged_at,
            claims::medfee_sumamt,
            claims::hifp_pay,
        ))
        .load(conn)
}

/// The masked name and sex code of each of `numbers` that is a person.
#[tracing::instrument(level = "debug", skip_all)]
pub fn masked_holders(conn: &mut DbConnection, numbers: &[PersonNo]) -> QueryResult<Vec<(PersonNo, String, String)>> {
    let mut out = Vec::with_capacity(numbers.len());
    for chunk in numbers.chunks(5000) {
        out.extend(
            persons::table
                .filter(persons::person_no.eq_any(chunk))
                .select((persons::person_no, persons::name_masked, persons::sex))
                .load::<(PersonNo, String, String)>(conn)?,
        );
    }
    Ok(out)
}

/// Whether `village` is one of `county`'s: a person of the county lives there, or a
/// claim of the county was settled for someone who did.
#[tracing::instrument(level = "debug", skip_all)]
pub fn village_known(conn: &mut DbConnection, county: &str, village: &str) -> QueryResult<bool> {
    use diesel::dsl::exists;
    let lives = persons::table.filter(persons::county_code.eq(county)).filter(persons::village.eq(village));
    if diesel::select(exists(lives)).get_result(conn)? {
        return Ok(true);
    }
    let claimed = claims::table.filter(claims::county_code.eq(county)).filter(claims::village.eq(village));
    diesel::select(exists(claimed)).get_result(conn)
}
