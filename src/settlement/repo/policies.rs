//! The `policy_versions` table: every version of every county's policy for a year.

use chrono::{NaiveDate, NaiveDateTime};
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::domain::ClientId;

diesel::table! {
    policy_versions (county_code, year, version) {
        county_code -> Text,
        year -> Integer,
        version -> Integer,
        effective_from -> Date,
        /// The terms as JSON (`domain::policy::Policy`).
        terms -> Text,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

/// One stored version, terms still as text.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = policy_versions)]
pub struct PolicyVersionRow {
    pub county_code: String,
    pub year: i32,
    pub version: i32,
    pub effective_from: NaiveDate,
    pub terms: String,
    pub created_by: ClientId,
    pub created_at: NaiveDateTime,
}

/// What the list of versions shows of each one.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = policy_versions)]
pub struct VersionSummaryRow {
    pub version: i32,
    pub effective_from: NaiveDate,
    pub created_by: ClientId,
    pub created_at: NaiveDateTime,
}

/// The versions of one county's policy for one year.
type OfYear<'a> = diesel::dsl::And<
    diesel::dsl::Eq<policy_versions::county_code, &'a str>,
    diesel::dsl::Eq<policy_versions::year, i32>,
>;

fn of_year(county: &str, year: i32) -> OfYear<'_> {
    policy_versions::county_code.eq(county).and(policy_versions::year.eq(year))
}

/// The version with the highest number.
pub fn latest(conn: &mut DbConnection, county: &str, year: i32) -> QueryResult<Option<PolicyVersionRow>> {
    policy_versions::table
        .filter(of_year(county, year))
        .order(policy_versions::version.desc())
        .select(PolicyVersionRow::as_select())
        .first(conn)
        .optional()
}

/// Version `version`.
pub fn find(conn: &mut DbConnection, county: &str, year: i32, version: i32) -> QueryResult<Option<PolicyVersionRow>> {
    policy_versions::table
        .filter(of_year(county, year))
        .filter(policy_versions::version.eq(version))
        .select(PolicyVersionRow::as_select())
        .first(conn)
        .optional()
}

/// The version in force on `on`: the latest effective date on or before it, the
/// highest number among versions of that date.
pub fn effective_on(
    conn: &mut DbConnection,
    county: &str,
    year: i32,
    on: NaiveDate,
) -> QueryResult<Option<PolicyVersionRow>> {
    policy_versions::table
        .filter(of_year(county, year))
        .filter(policy_versions::effective_from.le(on))
        .order((policy_versions::effective_from.desc(), policy_versions::version.desc()))
        .select(PolicyVersionRow::as_select())
        .first(conn)
        .optional()
}

/// The version of the earliest effective date (the highest number among versions of
/// that date).
pub fn earliest(conn: &mut DbConnection, county: &str, year: i32) -> QueryResult<Option<PolicyVersionRow>> {
    policy_versions::table
        .filter(of_year(county, year))
        .order((policy_versions::effective_from.asc(), policy_versions::version.desc()))
        .select(PolicyVersionRow::as_select())
        .first(conn)
        .optional()
}

/// Every version of the year, in number order.
pub fn all_of_year(conn: &mut DbConnection, county: &str, year: i32) -> QueryResult<Vec<PolicyVersionRow>> {
    policy_versions::table
        .filter(of_year(county, year))
        .order(policy_versions::version.asc())
        .select(PolicyVersionRow::as_select())
        .load(conn)
}

/// The highest version number of the year; none when the year has no policy.
pub fn latest_number(conn: &mut DbConnection, county: &str, year: i32) -> QueryResult<Option<i32>> {
    policy_versions::table.filter(of_year(county, year)).select(diesel::dsl::max(policy_versions::version)).first(conn)
}

/// Whether the county has any version for the year.
pub fn exists(conn: &mut DbConnection, county: &str, year: i32) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(policy_versions::table.filter(of_year(county, year)))).get_result(conn)
}

/// One page of the versions after number `after`, in number order (`limit + 1` rows,
/// see `db::page`).
pub fn versions(
    conn: &mut DbConnection,
    county: &str,
    year: i32,
    after: Option<i32>,
    limit: i64,
) -> QueryResult<Vec<VersionSummaryRow>> {
    let mut query = policy_versions::table
        .filter(of_year(county, year))
        .select(VersionSummaryRow::as_select())
        .order(policy_versions::version.asc())
        .limit(limit.saturating_add(1))
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(policy_versions::version.gt(after));
    }
    query.load(conn)
}

/// Stores a new version; a unique violation means the number was taken meanwhile.
pub fn insert(conn: &mut DbConnection, row: &PolicyVersionRow) -> QueryResult<usize> {
    diesel::insert_into(policy_versions::table).values(row).execute(conn)
}
