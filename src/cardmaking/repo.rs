//! Card making's tables.

use std::sync::LazyLock;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::binary_copy::BinaryCopy;
use crate::db::bulk::Copy;
use crate::db::{DbConnection, PageRequest, copy_many, insert_many, keyset};
use crate::domain::{BatchId, CardNo, CardState, ClientId, LeaseId, OrderId, OrderState, RecordId, Transition};

diesel::table! {
    card_assignments (county_code) {
        county_code -> Text,
        card_maker -> Text,
        assigned_by -> Text,
        assigned_at -> Timestamp,
    }
}

diesel::table! {
    residents (id_hash) {
        id_hash -> Text,
        county_code -> Text,
        village -> Text,
        batch_id -> Text,
        record_id -> Text,
        record_version -> Integer,
        fields_enc -> Text,
        registered_at -> Timestamp,
        updated_at -> Timestamp,
    }
}

diesel::table! {
    card_orders (id) {
        id -> Text,
        id_hash -> Text,
        record_id -> Text,
        record_version -> Integer,
        county_code -> Text,
        village -> Text,
        replaces_card -> Nullable<Text>,
        state -> Text,
        card_maker -> Nullable<Text>,
        lease_id -> Nullable<Text>,
        leased_until -> Nullable<Timestamp>,
        lease_count -> Integer,
        failure_code -> Nullable<Text>,
        failure_message -> Nullable<Text>,
        created_at -> Timestamp,
        state_changed_at -> Timestamp,
    }
}

diesel::table! {
    card_order_fields (order_id) {
        order_id -> Text,
        fields_enc -> Text,
    }
}

diesel::table! {
    /// Orders waiting for a lease, oldest first. The order row stays the truth: a
    /// lease takes an order only while it is still `ordered`.
    card_queue (order_id) {
        order_id -> Text,
        county_code -> Text,
    }
}

diesel::table! {
    card_leases (id) {
        id -> Text,
        client_id -> Text,
        order_count -> Integer,
        leased_at -> Timestamp,
        expires_at -> Timestamp,
        /// The orders handed out, comma-separated.
        order_ids -> Text,
        /// When the lease expired and its unanswered orders went back to the queue.
        closed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    cards (card_no) {
        card_no -> Text,
        chip_serial -> Text,
        order_id -> Text,
        id_hash -> Text,
        record_id -> Text,
        record_version -> Integer,
        county_code -> Text,
        card_maker -> Text,
        state -> Text,
        produced_by -> Text,
        produced_at -> Timestamp,
        state_changed_at -> Timestamp,
    }
}

diesel::table! {
    card_events (id) {
        id -> Text,
        card_no -> Text,
        from_state -> Nullable<Text>,
        to_state -> Text,
        reason -> Nullable<Text>,
        actor -> Text,
        actor_role -> Text,
        at -> Timestamp,
    }
}

diesel::table! {
    access_log (id) {
        id -> Text,
        at -> Timestamp,
        client_id -> Text,
        role -> Text,
        action -> Text,
        subject -> Text,
        detail -> Text,
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = card_assignments)]
pub struct AssignmentRow {
    pub county_code: String,
    pub card_maker: String,
    pub assigned_by: ClientId,
    pub assigned_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = residents)]
pub struct ResidentRow {
    pub id_hash: String,
    pub county_code: String,
    pub village: String,
    pub batch_id: BatchId,
    pub record_id: RecordId,
    pub record_version: i32,
    pub fields_enc: String,
    pub registered_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = card_orders)]
pub struct OrderRow {
    pub id: OrderId,
    pub id_hash: String,
    pub record_id: RecordId,
    pub record_version: i32,
    pub county_code: String,
    pub village: String,
    pub replaces_card: Option<CardNo>,
    pub state: OrderState,
    pub card_maker: Option<String>,
    pub lease_id: Option<LeaseId>,
    pub leased_until: Option<NaiveDateTime>,
    pub lease_count: i32,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub created_at: NaiveDateTime,
    pub state_changed_at: NaiveDateTime,
}

/// What an order's card carries (encrypted `CardFields`).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = card_order_fields)]
pub struct OrderFieldsRow {
    pub order_id: OrderId,
    pub fields_enc: String,
}

/// A new order and its card's fields.
pub struct NewOrder {
    pub order: OrderRow,
    pub fields: OrderFieldsRow,
}

impl NewOrder {
    /// A new order for `resident`'s current record, waiting in the queue.
    pub fn new(resident: &ResidentRow, replaces_card: Option<CardNo>, at: NaiveDateTime) -> NewOrder {
        let id = OrderId::new();
        let fields = OrderFieldsRow { order_id: id.clone(), fields_enc: resident.fields_enc.clone() };
        let order = OrderRow {
            id,
            id_hash: resident.id_hash.clone(),
            record_id: resident.record_id.clone(),
            record_version: resident.record_version,
            county_code: resident.county_code.clone(),
            village: resident.village.clone(),
            replaces_card,
            state: OrderState::Ordered,
            card_maker: None,
            lease_id: None,
            leased_until: None,
            lease_count: 0,
            failure_code: None,
            failure_message: None,
            created_at: at,
            state_changed_at: at,
        };
        NewOrder { order, fields }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = cards)]
// Written with COPY on PostgreSQL, which needs every value spelled out.
#[diesel(treat_none_as_default_value = false)]
pub struct CardRow {
    pub card_no: CardNo,
    pub chip_serial: String,
    pub order_id: OrderId,
    pub id_hash: String,
    pub record_id: RecordId,
    pub record_version: i32,
    pub county_code: String,
    pub card_maker: String,
    pub state: CardState,
    pub produced_by: ClientId,
    pub produced_at: NaiveDateTime,
    pub state_changed_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = card_events)]
pub struct CardEventRow {
    pub id: String,
    pub card_no: CardNo,
    pub from_state: Option<CardState>,
    pub to_state: CardState,
    pub reason: Option<String>,
    pub actor: ClientId,
    pub actor_role: String,
    pub at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = access_log)]
pub struct AccessRow {
    pub id: String,
    pub at: NaiveDateTime,
    pub client_id: ClientId,
    pub role: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
}

/// Keeps PostgreSQL's statistics of `tables` in step while orders and cards arrive by
/// the hundred thousand (see [`crate::db::statistics`]).
#[tracing::instrument(level = "debug", skip_all)]
pub fn refresh_statistics_if_grown(conn: &mut DbConnection, tables: &[&str]) -> QueryResult<()> {
    for table in tables {
        crate::db::statistics::analyze_if_grown(conn, table, None, 100_000)?;
    }
    Ok(())
}

// --- Assignments ---

#[tracing::instrument(level = "debug", skip_all)]
pub fn assign(conn: &mut DbConnection, row: &AssignmentRow) -> QueryResult<()> {
    let updated = diesel::update(card_assignments::table.find(&row.county_code)).set(row).execute(conn)?;
    if updated == 0 {
        diesel::insert_into(card_assignments::table).values(row).execute(conn)?;
    }
    Ok(())
}

/// A page of assignments in county order; with `makers`, only theirs (filtered in the
/// query, so a page is full whenever more follow).
#[tracing::instrument(level = "debug", skip_all)]
pub fn assignments(
    conn: &mut DbConnection,
    makers: Option<&[String]>,
    page: &PageRequest,
) -> QueryResult<Vec<AssignmentRow>> {
    let mut query = card_assignments::table.select(AssignmentRow::as_select()).into_boxed();
    if let Some(makers) = makers {
        query = query.filter(card_assignments::card_maker.eq_any(makers.to_vec()));
    }
    keyset(query, card_assignments::county_code, page).load(conn)
}

/// `(county, card maker)` of the counties whose cards one of `makers` makes.
#[tracing::instrument(level = "debug", skip_all)]
pub fn counties_of(conn: &mut DbConnection, makers: &[String]) -> QueryResult<Vec<(String, String)>> {
    card_assignments::table
        .filter(card_assignments::card_maker.eq_any(makers))
        .select((card_assignments::county_code, card_assignments::card_maker))
        .load(conn)
}

// --- The master index ---

/// The residents of `hashes`, locked until the transaction ends: whoever opens an
/// order for a resident holds this lock first, which is what keeps a resident to one
/// open order (SQLite has a single writer anyway). A resident not yet in the index is
/// guarded by its primary key instead: a second insert waits, then fails.
#[tracing::instrument(level = "debug", skip_all)]
pub fn lock_residents(conn: &mut DbConnection, hashes: &[String]) -> QueryResult<Vec<ResidentRow>> {
    crate::db::lock(conn, residents::table.filter(residents::id_hash.eq_any(hashes)).select(residents::all_columns))
}

/// One resident, locked as [`lock_residents`] does.
#[tracing::instrument(level = "debug", skip_all)]
pub fn lock_resident(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<ResidentRow>> {
    Ok(lock_residents(conn, &[hash.to_string()])?.pop())
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_residents(conn: &mut DbConnection, rows: &[ResidentRow]) -> QueryResult<usize> {
    insert_many(conn, rows, |chunk| diesel::insert_into(residents::table).values(chunk))
}

/// Points a resident at a newer verified record.
#[tracing::instrument(level = "debug", skip_all)]
pub fn update_resident(conn: &mut DbConnection, row: &ResidentRow) -> QueryResult<usize> {
    diesel::update(residents::table.find(&row.id_hash)).set(row).execute(conn)
}

/// Of `hashes`, those with an open order (`ordered` or `leased`) or a live card.
#[tracing::instrument(level = "debug", skip_all)]
pub fn holding(conn: &mut DbConnection, hashes: &[String]) -> QueryResult<std::collections::HashSet<String>> {
    let mut held = live_card_holders(conn, hashes)?;
    held.extend(
        card_orders::table
            .filter(card_orders::id_hash.eq_any(hashes))
            .filter(card_orders::state.eq_any(OPEN_ORDER_STATES))
            .select(card_orders::id_hash)
            .load::<String>(conn)?,
    );
    Ok(held)
}

/// Orders not answered yet (see [`OrderState::OPEN`]).
pub const OPEN_ORDER_STATES: [OrderState; 2] = OrderState::OPEN;

/// Of `hashes`, the residents holding a live card.
#[tracing::instrument(level = "debug", skip_all)]
pub fn live_card_holders(conn: &mut DbConnection, hashes: &[String]) -> QueryResult<std::collections::HashSet<String>> {
    let mut out = std::collections::HashSet::new();
    for chunk in hashes.chunks(5000) {
        out.extend(
            cards::table
                .filter(cards::id_hash.eq_any(chunk))
                .filter(card_is_live())
                .select(cards::id_hash)
                .load::<String>(conn)?,
        );
    }
    Ok(out)
}

/// The live states written out, so that PostgreSQL's generic plans can use the
/// partial index `cards_live` (a bound list would keep them from it).
fn card_is_live() -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    static LIVE: LazyLock<String> = LazyLock::new(|| {
        format!("cards.state IN ({})", crate::db::state_column::sql_list(&CardState::LIVE, CardState::as_str))
    });
    diesel::dsl::sql::<diesel::sql_types::Bool>(&LIVE)
}

// --- Orders and leases ---

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_orders(conn: &mut DbConnection, new: &[NewOrder]) -> QueryResult<usize> {
    let orders: Vec<OrderRow> = new.iter().map(|n| n.order.clone()).collect();
    let fields: Vec<OrderFieldsRow> = new.iter().map(|n| n.fields.clone()).collect();
    let queued: Vec<_> = new
        .iter()
        .map(|n| (card_queue::order_id.eq(&n.order.id), card_queue::county_code.eq(&n.order.county_code)))
        .collect();
    insert_fields(conn, &fields)?;
    insert_many(conn, &queued, |chunk| diesel::insert_into(card_queue::table).values(chunk))?;
    insert_many(conn, &orders, |chunk| diesel::insert_into(card_orders::table).values(chunk))
}

fn insert_fields(conn: &mut DbConnection, rows: &[OrderFieldsRow]) -> QueryResult<usize> {
    insert_many(conn, rows, |chunk| diesel::insert_into(card_order_fields::table).values(chunk))
}

/// The encrypted card fields of `order_ids`.
#[tracing::instrument(level = "debug", skip_all)]
pub fn order_fields(conn: &mut DbConnection, order_ids: &[OrderId]) -> QueryResult<Vec<OrderFieldsRow>> {
    let mut out = Vec::with_capacity(order_ids.len());
    for chunk in order_ids.chunks(5000) {
        out.extend(
            card_order_fields::table
                .filter(card_order_fields::order_id.eq_any(chunk))
                .select(OrderFieldsRow::as_select())
                .load(conn)?,
        );
    }
    Ok(out)
}

/// A lease being taken.
pub struct NewLease<'a> {
    pub id: &'a LeaseId,
    /// The counties of the lessee, each with its card maker.
    pub makers: &'a std::collections::HashMap<String, String>,
    pub limit: i64,
    pub at: NaiveDateTime,
    pub until: NaiveDateTime,
}

/// Sets orders `ids` that are still `ordered` as leased by `lease` for `maker`, and
/// returns them as they are now.
fn lease_orders(
    conn: &mut DbConnection,
    lease: &NewLease<'_>,
    maker: &str,
    ids: &[&OrderId],
) -> QueryResult<Vec<OrderRow>> {
    let ordered =
        card_orders::table.filter(card_orders::id.eq_any(ids)).filter(card_orders::state.eq(OrderState::Ordered));
    diesel::update(ordered)
        .set((
            card_orders::state.eq(OrderState::Leased),
            card_orders::lease_id.eq(lease.id),
            card_orders::card_maker.eq(maker),
            card_orders::leased_until.eq(lease.until),
            card_orders::lease_count.eq(card_orders::lease_count + 1),
            card_orders::state_changed_at.eq(lease.at),
        ))
        .returning(card_orders::all_columns)
        .get_results(conn)
}

/// Takes up to `limit` queued orders of the lease's counties, oldest first, and
/// returns them. On PostgreSQL the queue entries are picked `FOR UPDATE SKIP LOCKED`,
/// so concurrent leases (other card makers, other replicas) pass each other by; SQLite
/// has one writer at a time. An entry whose order is no longer `ordered` (answered
/// late, after its lease had expired) is dropped without being handed out.
#[tracing::instrument(level = "debug", skip_all)]
pub fn take_orders(conn: &mut DbConnection, lease: &NewLease<'_>) -> QueryResult<Vec<OrderRow>> {
    let counties: Vec<&String> = lease.makers.keys().collect();
    let pick = card_queue::table
        .filter(card_queue::county_code.eq_any(&counties))
        .order(card_queue::order_id.asc())
        .limit(lease.limit)
        .select((card_queue::order_id, card_queue::county_code));
    let picked: Vec<(OrderId, String)> = crate::db::claim(conn, pick)?;
    let ids: Vec<&OrderId> = picked.iter().map(|(id, _)| id).collect();
    diesel::delete(card_queue::table.filter(card_queue::order_id.eq_any(&ids))).execute(conn)?;
    // One statement per card maker (usually one): the lease and its maker in one write.
    let mut by_maker: std::collections::HashMap<&str, Vec<&OrderId>> = std::collections::HashMap::new();
    for (id, county) in &picked {
        if let Some(maker) = lease.makers.get(county) {
            by_maker.entry(maker.as_str()).or_default().push(id);
        }
    }
    let mut taken = Vec::with_capacity(picked.len());
    for (maker, ids) in by_maker {
        taken.extend(lease_orders(conn, lease, maker, &ids)?);
    }
    taken.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(taken)
}

/// Leases past their time go back: their orders still `leased` by them return to the
/// queue (keeping the lease id, so a late result of that lease is still taken until
/// another lease holds the order), and the lease is closed. Returns how many orders
/// went back.
#[tracing::instrument(level = "debug", skip_all)]
pub fn requeue_expired(conn: &mut DbConnection, at: NaiveDateTime) -> QueryResult<usize> {
    let due = card_leases::table
        .filter(card_leases::closed_at.is_null())
        .filter(card_leases::expires_at.lt(at))
        .order(card_leases::expires_at.asc())
        .limit(50)
        .select((card_leases::id, card_leases::order_ids));
    // Another replica closing the same lease is passed by.
    let expired: Vec<(LeaseId, String)> = crate::db::claim(conn, due)?;
    let mut returned = 0;
    for (lease_id, order_ids) in expired {
        let ids: Vec<&str> = order_ids.split(',').filter(|id| !id.is_empty()).collect();
        let back = card_orders::table
            .filter(card_orders::id.eq_any(&ids))
            .filter(card_orders::state.eq(OrderState::Leased))
            .filter(card_orders::lease_id.eq(&lease_id));
        let queued: Vec<(OrderId, String)> =
            back.clone().select((card_orders::id, card_orders::county_code)).load(conn)?;
        diesel::update(back)
            .set((card_orders::state.eq(OrderState::Ordered), card_orders::state_changed_at.eq(at)))
            .execute(conn)?;
        let rows: Vec<_> = queued
            .iter()
            .map(|(id, county)| (card_queue::order_id.eq(id), card_queue::county_code.eq(county)))
            .collect();
        returned += insert_many(conn, &rows, |chunk| diesel::insert_into(card_queue::table).values(chunk))?;
        diesel::update(card_leases::table.find(&lease_id)).set(card_leases::closed_at.eq(at)).execute(conn)?;
    }
    Ok(returned)
}

/// Writes lease `lease` of `client_id` with the orders it handed out; a lease of no
/// orders has nothing to return and is closed at once.
#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_lease(
    conn: &mut DbConnection,
    lease: &NewLease<'_>,
    client_id: &ClientId,
    orders: &[OrderRow],
) -> QueryResult<usize> {
    let order_ids = orders.iter().map(|o| o.id.as_str()).collect::<Vec<_>>().join(",");
    diesel::insert_into(card_leases::table)
        .values((
            card_leases::id.eq(lease.id),
            card_leases::client_id.eq(client_id),
            card_leases::order_count.eq(orders.len() as i32),
            card_leases::leased_at.eq(lease.at),
            card_leases::expires_at.eq(lease.until),
            card_leases::order_ids.eq(order_ids),
            card_leases::closed_at.eq(orders.is_empty().then_some(lease.at)),
        ))
        .execute(conn)
}

/// The client that took lease `id`.
#[tracing::instrument(level = "debug", skip_all)]
pub fn lessee(conn: &mut DbConnection, id: &LeaseId) -> QueryResult<Option<ClientId>> {
    card_leases::table.find(id).select(card_leases::client_id).first(conn).optional()
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn orders_by_id(conn: &mut DbConnection, ids: &[OrderId]) -> QueryResult<Vec<OrderRow>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(5000) {
        out.extend(card_orders::table.filter(card_orders::id.eq_any(chunk)).select(OrderRow::as_select()).load(conn)?);
    }
    Ok(out)
}

/// What a card maker answered for an order.
pub enum Answer<'a> {
    Produced,
    Failed { code: &'a str, message: &'a str },
}

/// Sets those of orders `ids` that lease `lease_id` still holds (leased, or back in
/// the queue unanswered) as `answer` says, and returns their ids: an order another
/// lease took meanwhile is left alone.
#[tracing::instrument(level = "debug", skip_all)]
pub fn answer_orders(
    conn: &mut DbConnection,
    ids: &[OrderId],
    lease_id: &LeaseId,
    answer: &Answer<'_>,
    at: NaiveDateTime,
) -> QueryResult<Vec<OrderId>> {
    let (state, code, message) = match answer {
        Answer::Produced => (OrderState::Produced, None, None),
        Answer::Failed { code, message } => (OrderState::Failed, Some(*code), Some(*message)),
    };
    let mut answered = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(5000) {
        let held = card_orders::table
            .filter(card_orders::id.eq_any(chunk))
            .filter(card_orders::lease_id.eq(lease_id))
            .filter(card_orders::state.eq_any(OPEN_ORDER_STATES));
        answered.extend(
            diesel::update(held)
                .set((
                    card_orders::state.eq(state),
                    card_orders::failure_code.eq(code),
                    card_orders::failure_message.eq(message),
                    card_orders::state_changed_at.eq(at),
                ))
                .returning(card_orders::id)
                .get_results::<OrderId>(conn)?,
        );
    }
    Ok(answered)
}

// --- Cards ---

/// Writes cards (COPY on PostgreSQL). A unique index refusing one (its number is
/// taken, or its resident still holds a live card) fails the whole statement.
#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_cards(conn: &mut DbConnection, rows: &[CardRow]) -> QueryResult<usize> {
    use cards::dsl as c;
    let columns = (
        c::card_no,
        c::chip_serial,
        c::order_id,
        c::id_hash,
        c::record_id,
        c::record_version,
        c::county_code,
        c::card_maker,
        c::state,
        c::produced_by,
        c::produced_at,
        c::state_changed_at,
    );
    copy_many(conn, rows, Copy { table: cards::table, columns, write_row: write_card }, |chunk| {
        diesel::insert_into(cards::table).values(chunk)
    })
}

/// One card as a row of the `COPY` in [`insert_cards`].
fn write_card(copy: &mut BinaryCopy<'_>, r: &CardRow) -> std::io::Result<()> {
    copy.row(12)?;
    copy.text(r.card_no.as_str())?;
    copy.text(&r.chip_serial)?;
    copy.text(r.order_id.as_str())?;
    copy.text(&r.id_hash)?;
    copy.text(r.record_id.as_str())?;
    copy.int4(r.record_version)?;
    copy.text(&r.county_code)?;
    copy.text(&r.card_maker)?;
    copy.text(r.state.as_str())?;
    copy.text(r.produced_by.as_str())?;
    copy.timestamp(r.produced_at)?;
    copy.timestamp(r.state_changed_at)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn insert_events(conn: &mut DbConnection, rows: &[CardEventRow]) -> QueryResult<usize> {
    insert_many(conn, rows, |chunk| diesel::insert_into(card_events::table).values(chunk))
}

/// Of `numbers`, those already used by a card.
#[tracing::instrument(level = "debug", skip_all)]
pub fn used_card_numbers(conn: &mut DbConnection, numbers: &[CardNo]) -> QueryResult<Vec<CardNo>> {
    let mut out = Vec::new();
    for chunk in numbers.chunks(5000) {
        out.extend(cards::table.filter(cards::card_no.eq_any(chunk)).select(cards::card_no).load::<CardNo>(conn)?);
    }
    Ok(out)
}

/// The cards made for `order_ids`.
#[tracing::instrument(level = "debug", skip_all)]
pub fn cards_of_orders(conn: &mut DbConnection, order_ids: &[OrderId]) -> QueryResult<Vec<CardRow>> {
    let mut out = Vec::new();
    for chunk in order_ids.chunks(5000) {
        out.extend(cards::table.filter(cards::order_id.eq_any(chunk)).select(CardRow::as_select()).load(conn)?);
    }
    Ok(out)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn cards_by_number(conn: &mut DbConnection, numbers: &[CardNo]) -> QueryResult<Vec<CardRow>> {
    cards::table.filter(cards::card_no.eq_any(numbers)).select(CardRow::as_select()).load(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn find_card(conn: &mut DbConnection, card_no: &CardNo) -> QueryResult<Option<CardRow>> {
    cards::table.find(card_no).select(CardRow::as_select()).first(conn).optional()
}

/// The resident's live card, or else the latest card made for them (found through
/// the resident's orders).
#[tracing::instrument(level = "debug", skip_all)]
pub fn card_of_resident(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<CardRow>> {
    let live = cards::table
        .filter(cards::id_hash.eq(hash))
        .filter(card_is_live())
        .select(CardRow::as_select())
        .first(conn)
        .optional()?;
    if live.is_some() {
        return Ok(live);
    }
    let orders: Vec<OrderId> =
        card_orders::table.filter(card_orders::id_hash.eq(hash)).select(card_orders::id).load(conn)?;
    cards::table
        .filter(cards::order_id.eq_any(&orders))
        .order(cards::produced_at.desc())
        .select(CardRow::as_select())
        .first(conn)
        .optional()
}

/// Moves cards by `step`; those not in its `from` stay as they are.
#[tracing::instrument(level = "debug", skip_all)]
pub fn move_cards(
    conn: &mut DbConnection,
    numbers: &[CardNo],
    step: Transition<CardState>,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(cards::table.filter(cards::card_no.eq_any(numbers)).filter(cards::state.eq(step.from())))
        .set((cards::state.eq(step.to()), cards::state_changed_at.eq(at)))
        .execute(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn events_of(conn: &mut DbConnection, card_no: &CardNo) -> QueryResult<Vec<CardEventRow>> {
    card_events::table
        .filter(card_events::card_no.eq(card_no))
        .order((card_events::at.asc(), card_events::id.asc()))
        .select(CardEventRow::as_select())
        .load(conn)
}

// --- Access log ---

#[tracing::instrument(level = "debug", skip_all)]
pub fn log_access(conn: &mut DbConnection, row: &AccessRow) -> QueryResult<usize> {
    diesel::insert_into(access_log::table).values(row).execute(conn)
}

#[tracing::instrument(level = "debug", skip_all)]
pub fn access_entries(conn: &mut DbConnection, page: &PageRequest) -> QueryResult<Vec<AccessRow>> {
    keyset(access_log::table.select(AccessRow::as_select()).into_boxed(), access_log::id, page).load(conn)
}

// --- Card status for settlement ---

/// How many status changes settlement has been told of for `card_no` up to and
/// including `at`: every event but issuance. The number of the change made at `at`,
/// since a card changes at most once per instant (each change locks its row).
#[tracing::instrument(level = "debug", skip_all)]
pub fn status_changes_until(conn: &mut DbConnection, card_no: &CardNo, at: NaiveDateTime) -> QueryResult<i64> {
    card_events::table
        .filter(card_events::card_no.eq(card_no))
        .filter(card_events::to_state.ne(CardState::Issued))
        .filter(card_events::at.le(at))
        .count()
        .get_result(conn)
}

/// Undelivered outbox messages of `kind`: id and payload, oldest first.
#[tracing::instrument(level = "debug", skip_all)]
pub fn waiting_messages(conn: &mut DbConnection, kind: &str) -> QueryResult<Vec<(String, String)>> {
    use crate::outbox::outbox_messages::dsl as o;
    o::outbox_messages
        .filter(o::delivered_at.is_null())
        .filter(o::kind.eq(kind))
        .order((o::created_at.asc(), o::id.asc()))
        .select((o::id, o::payload))
        .load(conn)
}

/// Rewrites the payload of a message not yet delivered.
#[tracing::instrument(level = "debug", skip_all)]
pub fn rewrite_waiting_message(conn: &mut DbConnection, id: &str, payload: &str) -> QueryResult<usize> {
    use crate::outbox::outbox_messages::dsl as o;
    diesel::update(o::outbox_messages.filter(o::id.eq(id)).filter(o::delivered_at.is_null()))
        .set(o::payload.eq(payload))
        .execute(conn)
}
