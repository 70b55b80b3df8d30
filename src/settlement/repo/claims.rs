//! Claims, reversed message ids, and payment instructions onto cards.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::domain::claim_state::{ClaimState, PaymentState};
use crate::domain::{CardNo, ClientId, EnvelopeId, PaymentId, PersonNo, SetlId, Transition};

diesel::table! {
    claims (setl_id) {
        setl_id -> Text,
        mdtrt_id -> Text,
        kind -> Text,
        cancels -> Nullable<Text>,
        clinic -> Text,
        msgid -> Text,
        ipt_otp_no -> Text,
        request_hash -> Text,
        person_no -> Text,
        card_no -> Text,
        county_code -> Text,
        village -> Text,
        year -> Integer,
        med_type -> Text,
        care -> Text,
        level -> Text,
        admitted_at -> Timestamp,
        discharged_at -> Timestamp,
        confidential -> Bool,
        medfee_sumamt -> BigInt,
        fulamt_ownpay_amt -> BigInt,
        overlmt_selfpay -> BigInt,
        preselfpay_amt -> BigInt,
        inscp_scp_amt -> BigInt,
        policy_version -> Integer,
        terms -> Text,
        hifp_pay -> BigInt,
        state -> Text,
        reason -> Nullable<Text>,
        payment_instruction_id -> Nullable<Text>,
        created_by -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    dead_msgids (clinic, msgid) {
        clinic -> Text,
        msgid -> Text,
        reversed_by -> Text,
        reversed_at -> Timestamp,
    }
}

diesel::table! {
    payment_instructions (id) {
        id -> Text,
        setl_id -> Text,
        county_code -> Text,
        year -> Integer,
        person_no -> Text,
        card_no -> Text,
        amount -> BigInt,
        state -> Text,
        envelope_id -> Nullable<Text>,
        attempts -> Integer,
        failure_code -> Nullable<Text>,
        bank_reference -> Nullable<Text>,
        answered_at -> Nullable<Timestamp>,
        created_at -> Timestamp,
    }
}

diesel::table! {
    claim_msgids (clinic, msgid) {
        clinic -> Text,
        msgid -> Text,
        setl_id -> Text,
        received_at -> Timestamp,
    }
}

diesel::allow_tables_to_appear_in_same_query!(claims, payment_instructions);
diesel::allow_tables_to_appear_in_same_query!(claims, claim_msgids);

/// Whether a claim row is a settlement or the negated record that cancels one.
pub const SETTLEMENT: &str = "settlement";
pub const CANCEL: &str = "cancel";

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = claims)]
pub struct ClaimRow {
    pub setl_id: SetlId,
    pub mdtrt_id: String,
    pub kind: String,
    pub cancels: Option<SetlId>,
    pub clinic: String,
    pub msgid: String,
    pub ipt_otp_no: String,
    pub request_hash: String,
    pub person_no: PersonNo,
    pub card_no: CardNo,
    pub county_code: String,
    pub village: String,
    pub year: i32,
    pub med_type: String,
    pub care: String,
    pub level: String,
    pub admitted_at: NaiveDateTime,
    pub discharged_at: NaiveDateTime,
    pub confidential: bool,
    pub medfee_sumamt: i64,
    pub fulamt_ownpay_amt: i64,
    pub overlmt_selfpay: i64,
    pub preselfpay_amt: i64,
    pub inscp_scp_amt: i64,
    pub policy_version: i32,
    pub terms: String,
    pub hifp_pay: i64,
    pub state: ClaimState,
    pub reason: Option<String>,
    pub payment_instruction_id: Option<PaymentId>,
    pub created_by: ClientId,
    pub created_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = payment_instructions)]
pub struct PaymentRow {
    pub id: PaymentId,
    pub setl_id: SetlId,
    pub county_code: String,
    pub year: i32,
    pub person_no: PersonNo,
    pub card_no: CardNo,
    pub amount: i64,
    pub state: PaymentState,
    pub envelope_id: Option<EnvelopeId>,
    pub attempts: i32,
    pub failure_code: Option<String>,
    pub bank_reference: Option<String>,
    pub answered_at: Option<NaiveDateTime>,
    pub created_at: NaiveDateTime,
}

// The lookups below name in SQL only the column their index leads with (`ipt_otp_no`,
// `msgid`) and test the clinic in Rust. A pooled connection keeps the generic plan it
// made of each statement, and a plan made while `claims` was empty chooses among the
// indexes that match any condition as if they cost the same: with `clinic` in the
// query, an index leading with the clinic (there are several, for reconciliation and
// the fraud rules) could win and read every claim of the clinic on every new claim
// (2,472 buffers, 3.1 ms a call, at 10,000 claims, in a benchmark that started with
// no claims).

/// The live settlement of (clinic, `ipt_otp_no`), if any.
#[tracing::instrument(level = "debug", skip_all)]
pub fn by_key(conn: &mut DbConnection, clinic: &str, ipt_otp_no: &str) -> QueryResult<Option<ClaimRow>> {
    let rows: Vec<ClaimRow> =
        claims::table.filter(claims::ipt_otp_no.eq(ipt_otp_no)).select(ClaimRow::as_select()).load(conn)?;
    Ok(rows.into_iter().find(|c| c.clinic == clinic && c.kind == SETTLEMENT && c.state != ClaimState::Cancelled))
}

/// The claim of a msgid: the one it settled, or the one it was sent again for. A
/// msgid is unique on its own (its first 12 characters are the institution).
#[tracing::instrument(level = "debug", skip_all)]
pub fn by_msgid(conn: &mut DbConnection, clinic: &str, msgid: &str) -> QueryResult<Option<ClaimRow>> {
    let own = claims::table.filter(claims::msgid.eq(msgid)).select(ClaimRow::as_select()).first(conn).optional()?;
    if let Some(own) = own {
        return Ok((own.clinic == clinic).then_some(own));
    }
    claim_msgids::table
        .inner_join(claims::table.on(claims::setl_id.eq(claim_msgids::setl_id)))
        .filter(claim_msgids::clinic.eq(clinic))
        .filter(claim_msgids::msgid.eq(msgid))
        .select(ClaimRow::as_select())
        .first(conn)
        .optional()
}

/// Records that `msgid` carried the claim `setl_id` again.
#[tracing::instrument(level = "debug", skip_all)]
pub fn add_msgid(
    conn: &mut DbConnection,
    clinic: &str,
    msgid: &str,
    setl_id: &SetlId,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::insert_into(claim_msgids::table)
        .values((
            claim_msgids::clinic.eq(clinic),
            claim_msgids::msgid.eq(msgid),
            claim_msgids::setl_id.eq(setl_id),
            claim_msgids::received_at.eq(at),
        ))
        .execute(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn find(conn: &mut DbConnection, setl_id: &SetlId) -> QueryResult<Option<ClaimRow>> {
    claims::table.find(setl_id).select(ClaimRow::as_select()).first(conn).optional()
}

/// The negated record that cancels `setl_id`, if any.
#[tracing::instrument(level = "debug", skip_all)]
pub fn cancel_of(conn: &mut DbConnection, setl_id: &SetlId) -> QueryResult<Option<ClaimRow>> {
    claims::table.filter(claims::cancels.eq(setl_id)).select(ClaimRow::as_select()).first(conn).optional()
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert(conn: &mut DbConnection, row: &ClaimRow) -> QueryResult<usize> {
    diesel::insert_into(claims::table).values(row).execute(conn)
}

/// Moves a claim from `from` to `to`; 0 when it was no longer in `from`.
#[tracing::instrument(level = "debug", skip_all)]
pub fn set_state(conn: &mut DbConnection, setl_id: &SetlId, from: ClaimState, to: ClaimState) -> QueryResult<usize> {
    diesel::update(claims::table.find(setl_id).filter(claims::state.eq(from))).set(claims::state.eq(to)).execute(conn)
}

/// Moves a flagged claim to the outcome of its review, with the payment instruction of
/// an approved one and the reason of a rejected one; 0 when it was no longer in the
/// move's first state.
#[tracing::instrument(level = "debug", skip_all)]
pub fn set_reviewed(
    conn: &mut DbConnection,
    setl_id: &SetlId,
    step: Transition<ClaimState>,
    payment: Option<&PaymentId>,
    reason: Option<&str>,
) -> QueryResult<usize> {
    diesel::update(claims::table.find(setl_id).filter(claims::state.eq(step.from())))
        .set((claims::state.eq(step.to()), claims::payment_instruction_id.eq(payment), claims::reason.eq(reason)))
        .execute(conn)
}

/// Whether `msgid` or (clinic, `ipt_otp_no`) may have been seen before: a claim or its
/// cancel, a msgid it was sent again in, a reversed msgid; never false when it was. One statement,
/// so that a new claim (the usual case) learns it is new in one round trip instead of
/// four; when it was seen, the caller asks what it was.
#[tracing::instrument(level = "debug", skip_all)]
pub fn seen_before(conn: &mut DbConnection, clinic: &str, msgid: &str, ipt_otp_no: &str) -> QueryResult<bool> {
    use diesel::dsl::exists;
    // Another clinic's claim of the same admission number answers true as well: the
    // caller then asks precisely, at the cost of a few more statements.
    let by_msgid = claims::table.filter(claims::msgid.eq(msgid));
    let by_key = claims::table.filter(claims::ipt_otp_no.eq(ipt_otp_no));
    let again = claim_msgids::table.find((clinic, msgid));
    let dead = dead_msgids::table.find((clinic, msgid));
    diesel::select(exists(by_msgid).or(exists(by_key)).or(exists(again)).or(exists(dead))).get_result(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn is_dead(conn: &mut DbConnection, clinic: &str, msgid: &str) -> QueryResult<bool> {
    Ok(dead_msgids::table.find((clinic, msgid)).count().get_result::<i64>(conn)? > 0)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn mark_dead(
    conn: &mut DbConnection,
    clinic: &str,
    msgid: &str,
    by: &ClientId,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    if is_dead(conn, clinic, msgid)? {
        return Ok(0);
    }
    diesel::insert_into(dead_msgids::table)
        .values((
            dead_msgids::clinic.eq(clinic),
            dead_msgids::msgid.eq(msgid),
            dead_msgids::reversed_by.eq(by),
            dead_msgids::reversed_at.eq(at),
        ))
        .execute(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_payment(conn: &mut DbConnection, row: &PaymentRow) -> QueryResult<usize> {
    diesel::insert_into(payment_instructions::table).values(row).execute(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn payment(conn: &mut DbConnection, id: &PaymentId) -> QueryResult<Option<PaymentRow>> {
    payment_instructions::table.find(id).select(PaymentRow::as_select()).first(conn).optional()
}
