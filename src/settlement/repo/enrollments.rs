//! Enrollment per person and year, and the reimbursement each person has used of the
//! year's caps.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::holders::{CardRow, PersonRow, cards, persons};
use crate::db::bulk::ROWS_PER_UPDATE;
use crate::db::{DbConnection, PageRequest, insert_many, placeholder, values_list};
use crate::domain::{CardNo, ClientId, Fen, InstructionId, PersonNo};

diesel::table! {
    enrollments (person_no, year) {
        person_no -> Text,
        year -> Integer,
        county_code -> Text,
        village -> Text,
        enrolled_by -> Text,
        enrolled_at -> Timestamp,
        paid_at -> Nullable<Timestamp>,
        paid_amount -> Nullable<BigInt>,
        paid_by -> Nullable<Text>,
    }
}

diesel::table! {
    cap_usage (person_no, year, care) {
        person_no -> Text,
        year -> Integer,
        care -> Text,
        used -> BigInt,
    }
}

diesel::joinable!(enrollments -> persons (person_no));
diesel::allow_tables_to_appear_in_same_query!(enrollments, persons);
diesel::allow_tables_to_appear_in_same_query!(enrollments, cards);

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = enrollments)]
pub struct EnrollmentRow {
    pub person_no: PersonNo,
    pub year: i32,
    pub county_code: String,
    pub village: String,
    pub enrolled_by: ClientId,
    pub enrolled_at: NaiveDateTime,
    pub paid_at: Option<NaiveDateTime>,
    pub paid_amount: Option<i64>,
    pub paid_by: Option<InstructionId>,
}

/// One card with its holder and the holder's enrollment for `year`, if any: what an
/// eligibility lookup reads first, in one query.
#[tracing::instrument(level = "debug", skip_all)]
pub fn card_holder_enrollment(
    conn: &mut DbConnection,
    card_no: &CardNo,
    year: i32,
) -> QueryResult<Option<(CardRow, PersonRow, Option<EnrollmentRow>)>> {
    cards::table
        .inner_join(persons::table)
        .left_join(enrollments::table.on(enrollments::person_no.eq(persons::person_no).and(enrollments::year.eq(year))))
        .filter(cards::card_no.eq(card_no))
        .select((CardRow::as_select(), PersonRow::as_select(), Option::<EnrollmentRow>::as_select()))
        .first(conn)
        .optional()
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn enrollment(conn: &mut DbConnection, person: &PersonNo, year: i32) -> QueryResult<Option<EnrollmentRow>> {
    enrollments::table.find((person, year)).select(EnrollmentRow::as_select()).first(conn).optional()
}

/// Which of `persons` are enrolled for `year`.
#[tracing::instrument(level = "debug", skip_all)]
pub fn enrolled(conn: &mut DbConnection, persons: &[PersonNo], year: i32) -> QueryResult<Vec<PersonNo>> {
    let mut out = Vec::new();
    for chunk in persons.chunks(5000) {
        out.extend(
            enrollments::table
                .filter(enrollments::year.eq(year))
                .filter(enrollments::person_no.eq_any(chunk))
                .select(enrollments::person_no)
                .load::<PersonNo>(conn)?,
        );
    }
    Ok(out)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert(conn: &mut DbConnection, rows: &[EnrollmentRow]) -> QueryResult<usize> {
    insert_many(conn, rows, |chunk| diesel::insert_into(enrollments::table).values(chunk))
}

/// What a county's enrollment list is filtered by.
#[derive(Debug, Clone)]
pub struct EnrollmentFilter {
    pub county_code: String,
    pub year: i32,
    pub village: Option<String>,
    pub paid: Option<bool>,
}

/// One page of a county's enrollments with their holders, in person order.
#[tracing::instrument(level = "debug", skip_all)]
pub fn page(
    conn: &mut DbConnection,
    filter: &EnrollmentFilter,
    page: &PageRequest,
) -> QueryResult<Vec<(EnrollmentRow, super::holders::PersonRow)>> {
    let mut query = enrollments::table
        .inner_join(persons::table)
        .filter(enrollments::county_code.eq(filter.county_code.clone()))
        .filter(enrollments::year.eq(filter.year))
        .select((EnrollmentRow::as_select(), super::holders::PersonRow::as_select()))
        .into_boxed();
    if let Some(village) = &filter.village {
        query = query.filter(enrollments::village.eq(village.clone()));
    }
    match filter.paid {
        Some(true) => query = query.filter(enrollments::paid_at.is_not_null()),
        Some(false) => query = query.filter(enrollments::paid_at.is_null()),
        None => {}
    }
    if let Some(after) = &page.after {
        query = query.filter(enrollments::person_no.gt(after.clone()));
    }
    query.order(enrollments::person_no.asc()).limit(page.limit.saturating_add(1)).load(conn)
}

/// The unpaid enrollments of a county and year: the people a debit run asks for.
#[tracing::instrument(level = "debug", skip_all)]
pub fn unpaid(conn: &mut DbConnection, county: &str, year: i32) -> QueryResult<Vec<PersonNo>> {
    enrollments::table
        .filter(enrollments::county_code.eq(county))
        .filter(enrollments::year.eq(year))
        .filter(enrollments::paid_at.is_null())
        .select(enrollments::person_no)
        .order(enrollments::person_no.asc())
        .load(conn)
}

/// Marks enrollments paid by the instructions that collected them; only unpaid ones
/// change, so a person is never marked paid twice. Set-based: one `UPDATE ... FROM
/// (VALUES ...)` per [`ROWS_PER_UPDATE`] enrollments.
#[tracing::instrument(level = "debug", skip_all)]
pub fn mark_paid(
    conn: &mut DbConnection,
    year: i32,
    paid: &[(PersonNo, Fen, InstructionId)],
    at: NaiveDateTime,
) -> QueryResult<usize> {
    use diesel::sql_types::{BigInt, Integer, Text, Timestamp};
    let mut changed = 0;
    for chunk in paid.chunks(ROWS_PER_UPDATE) {
        let sql = format!(
            "UPDATE enrollments SET paid_at = {at}, paid_amount = v.column2, paid_by = v.column3 \
             FROM (VALUES {values}) AS v \
             WHERE enrollments.person_no = v.column1 AND enrollments.year = {year} \
             AND enrollments.paid_at IS NULL",
            at = placeholder(conn, 1),
            year = placeholder(conn, 2),
            values = values_list(conn, chunk.len(), 3, 3),
        );
        macro_rules! run {
            ($conn:expr, $backend:ty) => {{
                let mut query =
                    diesel::sql_query(sql).into_boxed::<$backend>().bind::<Timestamp, _>(at).bind::<Integer, _>(year);
                for (person, amount, instruction) in chunk {
                    query = query
                        .bind::<Text, _>(person.as_str())
                        .bind::<BigInt, _>(amount.get())
                        .bind::<Text, _>(instruction.as_str());
                }
                query.execute($conn)?
            }};
        }
        changed += match conn {
            DbConnection::Pg(pg) => run!(pg, diesel::pg::Pg),
            DbConnection::Sqlite(lite) => run!(lite, diesel::sqlite::Sqlite),
        };
    }
    Ok(changed)
}

/// What `person` has used of each kind of care's cap in `year`.
#[tracing::instrument(level = "debug", skip_all)]
pub fn cap_used(conn: &mut DbConnection, person: &PersonNo, year: i32) -> QueryResult<Vec<(String, i64)>> {
    cap_usage::table
        .filter(cap_usage::person_no.eq(person))
        .filter(cap_usage::year.eq(year))
        .select((cap_usage::care, cap_usage::used))
        .load(conn)
}

/// The person's enrollment for the year, locked until the transaction ends: claims of
/// one person and year take turns here, so that no two of them spend the same cap.
#[tracing::instrument(level = "debug", skip_all)]
pub fn lock_enrollment(conn: &mut DbConnection, person: &PersonNo, year: i32) -> QueryResult<Option<EnrollmentRow>> {
    Ok(crate::db::lock(
        conn,
        enrollments::table
            .filter(enrollments::person_no.eq(person))
            .filter(enrollments::year.eq(year))
            .select(enrollments::all_columns),
    )?
    .pop())
}

/// Adds `delta` (negative to give back) to what `person` used of `care`'s cap.
#[tracing::instrument(level = "debug", skip_all)]
pub fn add_cap_use(conn: &mut DbConnection, person: &PersonNo, year: i32, care: &str, delta: Fen) -> QueryResult<()> {
    let updated = diesel::update(cap_usage::table.find((person, year, care)))
        .set(cap_usage::used.eq(cap_usage::used + delta.get()))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(cap_usage::table)
            .values((
                cap_usage::person_no.eq(person),
                cap_usage::year.eq(year),
                cap_usage::care.eq(care),
                cap_usage::used.eq(delta.get()),
            ))
            .execute(conn)?;
    }
    Ok(())
}
