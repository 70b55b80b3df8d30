//! Card making's tables.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;

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
    card_leases (id) {
        id -> Text,
        client_id -> Text,
        order_count -> Integer,
        leased_at -> Timestamp,
        expires_at -> Timestamp,
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
    pub assigned_by: String,
    pub assigned_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable, AsChangeset)]
#[diesel(table_name = residents)]
pub struct ResidentRow {
    pub id_hash: String,
    pub county_code: String,
    pub village: String,
    pub batch_id: String,
    pub record_id: String,
    pub record_version: i32,
    pub fields_enc: String,
    pub registered_at: NaiveDateTime,
    pub updated_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = card_orders)]
pub struct OrderRow {
    pub id: String,
    pub id_hash: String,
    pub record_id: String,
    pub record_version: i32,
    pub county_code: String,
    pub village: String,
    pub replaces_card: Option<String>,
    pub state: String,
    pub card_maker: Option<String>,
    pub lease_id: Option<String>,
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
    pub order_id: String,
    pub fields_enc: String,
}

/// A new order and its card's fields.
pub struct NewOrder {
    pub order: OrderRow,
    pub fields: OrderFieldsRow,
}

impl NewOrder {
    /// A new order for `resident`'s current record, waiting in the queue.
    pub fn new(resident: &ResidentRow, replaces_card: Option<String>, at: NaiveDateTime) -> NewOrder {
        let id = uuid::Uuid::now_v7().to_string();
        let fields = OrderFieldsRow { order_id: id.clone(), fields_enc: resident.fields_enc.clone() };
        let order = OrderRow {
            id,
            id_hash: resident.id_hash.clone(),
            record_id: resident.record_id.clone(),
            record_version: resident.record_version,
            county_code: resident.county_code.clone(),
            village: resident.village.clone(),
            replaces_card,
            state: "ordered".into(),
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
pub struct CardRow {
    pub card_no: String,
    pub chip_serial: String,
    pub order_id: String,
    pub id_hash: String,
    pub record_id: String,
    pub record_version: i32,
    pub county_code: String,
    pub card_maker: String,
    pub state: String,
    pub produced_by: String,
    pub produced_at: NaiveDateTime,
    pub state_changed_at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = card_events)]
pub struct CardEventRow {
    pub id: String,
    pub card_no: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub reason: Option<String>,
    pub actor: String,
    pub actor_role: String,
    pub at: NaiveDateTime,
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = access_log)]
pub struct AccessRow {
    pub id: String,
    pub at: NaiveDateTime,
    pub client_id: String,
    pub role: String,
    pub action: String,
    pub subject: String,
    pub detail: String,
}

/// Multi-row inserts do not compile through the connection enum: run them on the inner
/// connection, in chunks that stay under PostgreSQL's limit of bind parameters.
macro_rules! insert_many {
    ($conn:expr, $table:expr, $rows:expr) => {{
        let mut n = 0;
        for chunk in $rows.chunks(1000) {
            n += match $conn {
                DbConnection::Pg(c) => diesel::insert_into($table).values(chunk).execute(c)?,
                DbConnection::Sqlite(c) => diesel::insert_into($table).values(chunk).execute(c)?,
            };
        }
        Ok(n)
    }};
}

/// Keeps PostgreSQL's statistics of `tables` in step while orders and cards arrive by
/// the hundred thousand (see [`crate::db::statistics`]).
pub fn refresh_statistics_if_grown(conn: &mut DbConnection, tables: &[&str]) -> QueryResult<()> {
    for table in tables {
        crate::db::statistics::analyze_if_grown(conn, table, None, 100_000)?;
    }
    Ok(())
}

// --- Assignments ---

pub fn assign(conn: &mut DbConnection, row: &AssignmentRow) -> QueryResult<()> {
    let updated = diesel::update(card_assignments::table.find(&row.county_code)).set(row).execute(conn)?;
    if updated == 0 {
        diesel::insert_into(card_assignments::table).values(row).execute(conn)?;
    }
    Ok(())
}

pub fn assignments(conn: &mut DbConnection, after: Option<&str>, limit: i64) -> QueryResult<Vec<AssignmentRow>> {
    let mut query = card_assignments::table
        .select(AssignmentRow::as_select())
        .order(card_assignments::county_code.asc())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(card_assignments::county_code.gt(after.to_string()));
    }
    query.limit(limit).load(conn)
}

/// `(county, card maker)` of the counties whose cards one of `makers` makes.
pub fn counties_of(conn: &mut DbConnection, makers: &[String]) -> QueryResult<Vec<(String, String)>> {
    card_assignments::table
        .filter(card_assignments::card_maker.eq_any(makers))
        .select((card_assignments::county_code, card_assignments::card_maker))
        .load(conn)
}

// --- The master index ---

pub fn residents_by_hash(conn: &mut DbConnection, hashes: &[String]) -> QueryResult<Vec<ResidentRow>> {
    residents::table.filter(residents::id_hash.eq_any(hashes)).select(ResidentRow::as_select()).load(conn)
}

pub fn find_resident(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<ResidentRow>> {
    residents::table.find(hash).select(ResidentRow::as_select()).first(conn).optional()
}

pub fn insert_residents(conn: &mut DbConnection, rows: &[ResidentRow]) -> QueryResult<usize> {
    insert_many!(conn, residents::table, rows)
}

/// Points a resident at a newer verified record.
pub fn update_resident(conn: &mut DbConnection, row: &ResidentRow) -> QueryResult<usize> {
    diesel::update(residents::table.find(&row.id_hash)).set(row).execute(conn)
}

/// Of `hashes`, those with an open order (`ordered` or `leased`) or a live card.
pub fn holding(conn: &mut DbConnection, hashes: &[String]) -> QueryResult<std::collections::HashSet<String>> {
    let mut held = live_card_holders(conn, hashes)?;
    held.extend(
        card_orders::table
            .filter(card_orders::id_hash.eq_any(hashes))
            .filter(state_is("ordered").or(state_is("leased")))
            .select(card_orders::id_hash)
            .load::<String>(conn)?,
    );
    Ok(held)
}

/// Of `hashes`, the residents holding a live card.
pub fn live_card_holders(conn: &mut DbConnection, hashes: &[String]) -> QueryResult<std::collections::HashSet<String>> {
    let mut out = std::collections::HashSet::new();
    for chunk in hashes.chunks(5000) {
        out.extend(
            cards::table
                .filter(cards::id_hash.eq_any(chunk))
                .filter(cards::state.eq_any(LIVE_CARD_STATES))
                .select(cards::id_hash)
                .load::<String>(conn)?,
        );
    }
    Ok(out)
}

pub const LIVE_CARD_STATES: [&str; 4] = ["produced", "issued", "activated", "reported_lost"];

// --- Orders and leases ---

pub fn insert_orders(conn: &mut DbConnection, new: &[NewOrder]) -> QueryResult<usize> {
    let orders: Vec<OrderRow> = new.iter().map(|n| n.order.clone()).collect();
    let fields: Vec<OrderFieldsRow> = new.iter().map(|n| n.fields.clone()).collect();
    insert_fields(conn, &fields)?;
    insert_many!(conn, card_orders::table, orders)
}

fn insert_fields(conn: &mut DbConnection, rows: &[OrderFieldsRow]) -> QueryResult<usize> {
    insert_many!(conn, card_order_fields::table, rows)
}

/// The encrypted card fields of `order_ids`.
pub fn order_fields(conn: &mut DbConnection, order_ids: &[String]) -> QueryResult<Vec<OrderFieldsRow>> {
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

/// The partial indexes on `card_orders` are for literal states: a bound parameter
/// would keep PostgreSQL's generic plans from using them.
fn state_is(state: &'static str) -> diesel::expression::SqlLiteral<diesel::sql_types::Bool> {
    diesel::dsl::sql::<diesel::sql_types::Bool>(match state {
        "leased" => "card_orders.state = 'leased'",
        _ => "card_orders.state = 'ordered'",
    })
}

/// Orders whose lease ran out go back to the queue (their lease id stays, see the
/// migration).
pub fn requeue_expired(conn: &mut DbConnection, at: NaiveDateTime) -> QueryResult<usize> {
    diesel::update(card_orders::table.filter(state_is("leased")).filter(card_orders::leased_until.lt(at)))
        .set((card_orders::state.eq("ordered"), card_orders::state_changed_at.eq(at)))
        .execute(conn)
}

/// A lease being taken.
pub struct NewLease<'a> {
    pub id: &'a str,
    /// The counties of the lessee, each with its card maker.
    pub makers: &'a std::collections::HashMap<String, String>,
    pub limit: i64,
    pub at: NaiveDateTime,
    pub until: NaiveDateTime,
}

/// Takes up to `limit` queued orders of the lease's counties, oldest first, and
/// returns them. On PostgreSQL the rows are picked `FOR UPDATE SKIP LOCKED`, so
/// concurrent leases (other card makers, other replicas) pass each other by; SQLite
/// has one writer at a time, so the portable pick-then-update is already exclusive.
pub fn take_orders(conn: &mut DbConnection, lease: &NewLease<'_>) -> QueryResult<Vec<OrderRow>> {
    let counties: Vec<&String> = lease.makers.keys().collect();
    let picked: Vec<(String, String)> = match conn {
        DbConnection::Pg(pg) => card_orders::table
            .filter(state_is("ordered"))
            .filter(card_orders::county_code.eq_any(&counties))
            .order(card_orders::id.asc())
            .limit(lease.limit)
            .select((card_orders::id, card_orders::county_code))
            .for_update()
            .skip_locked()
            .load(pg)?,
        DbConnection::Sqlite(lite) => card_orders::table
            .filter(state_is("ordered"))
            .filter(card_orders::county_code.eq_any(&counties))
            .order(card_orders::id.asc())
            .limit(lease.limit)
            .select((card_orders::id, card_orders::county_code))
            .load(lite)?,
    };
    // One statement per card maker (usually one): the lease and its maker in one write.
    let mut by_maker: std::collections::HashMap<&str, Vec<String>> = std::collections::HashMap::new();
    for (id, county) in picked {
        if let Some(maker) = lease.makers.get(&county) {
            by_maker.entry(maker.as_str()).or_default().push(id);
        }
    }
    let mut taken = Vec::new();
    for (maker, ids) in by_maker {
        diesel::update(card_orders::table.filter(card_orders::id.eq_any(&ids)))
            .set((
                card_orders::state.eq("leased"),
                card_orders::lease_id.eq(lease.id),
                card_orders::card_maker.eq(maker),
                card_orders::leased_until.eq(lease.until),
                card_orders::lease_count.eq(card_orders::lease_count + 1),
                card_orders::state_changed_at.eq(lease.at),
            ))
            .execute(conn)?;
        taken.extend(card_orders::table.filter(card_orders::id.eq_any(&ids)).select(OrderRow::as_select()).load(conn)?);
    }
    taken.sort_by(|a, b| a.id.cmp(&b.id));
    Ok(taken)
}

pub fn insert_lease(
    conn: &mut DbConnection,
    id: &str,
    client_id: &str,
    count: i32,
    at: NaiveDateTime,
    until: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::insert_into(card_leases::table)
        .values((
            card_leases::id.eq(id),
            card_leases::client_id.eq(client_id),
            card_leases::order_count.eq(count),
            card_leases::leased_at.eq(at),
            card_leases::expires_at.eq(until),
        ))
        .execute(conn)
}

/// The client that took lease `id`.
pub fn lessee(conn: &mut DbConnection, id: &str) -> QueryResult<Option<String>> {
    card_leases::table.find(id).select(card_leases::client_id).first(conn).optional()
}

pub fn orders_by_id(conn: &mut DbConnection, ids: &[String]) -> QueryResult<Vec<OrderRow>> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(5000) {
        out.extend(card_orders::table.filter(card_orders::id.eq_any(chunk)).select(OrderRow::as_select()).load(conn)?);
    }
    Ok(out)
}

pub fn mark_produced(conn: &mut DbConnection, ids: &[String], at: NaiveDateTime) -> QueryResult<usize> {
    let mut n = 0;
    for chunk in ids.chunks(5000) {
        n += diesel::update(card_orders::table.filter(card_orders::id.eq_any(chunk)))
            .set((card_orders::state.eq("produced"), card_orders::state_changed_at.eq(at)))
            .execute(conn)?;
    }
    Ok(n)
}

pub fn mark_failed(
    conn: &mut DbConnection,
    ids: &[String],
    code: &str,
    message: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(card_orders::table.filter(card_orders::id.eq_any(ids)))
        .set((
            card_orders::state.eq("failed"),
            card_orders::failure_code.eq(code),
            card_orders::failure_message.eq(message),
            card_orders::state_changed_at.eq(at),
        ))
        .execute(conn)
}

// --- Cards ---

pub fn insert_cards(conn: &mut DbConnection, rows: &[CardRow]) -> QueryResult<usize> {
    insert_many!(conn, cards::table, rows)
}

pub fn insert_events(conn: &mut DbConnection, rows: &[CardEventRow]) -> QueryResult<usize> {
    insert_many!(conn, card_events::table, rows)
}

/// Of `numbers`, those already used by a card.
pub fn used_card_numbers(conn: &mut DbConnection, numbers: &[String]) -> QueryResult<Vec<String>> {
    let mut out = Vec::new();
    for chunk in numbers.chunks(5000) {
        out.extend(cards::table.filter(cards::card_no.eq_any(chunk)).select(cards::card_no).load::<String>(conn)?);
    }
    Ok(out)
}

/// The cards made for `order_ids`.
pub fn cards_of_orders(conn: &mut DbConnection, order_ids: &[String]) -> QueryResult<Vec<CardRow>> {
    let mut out = Vec::new();
    for chunk in order_ids.chunks(5000) {
        out.extend(cards::table.filter(cards::order_id.eq_any(chunk)).select(CardRow::as_select()).load(conn)?);
    }
    Ok(out)
}

pub fn cards_by_number(conn: &mut DbConnection, numbers: &[String]) -> QueryResult<Vec<CardRow>> {
    cards::table.filter(cards::card_no.eq_any(numbers)).select(CardRow::as_select()).load(conn)
}

pub fn find_card(conn: &mut DbConnection, card_no: &str) -> QueryResult<Option<CardRow>> {
    cards::table.find(card_no).select(CardRow::as_select()).first(conn).optional()
}

/// The resident's live card, or else the latest card made for them.
pub fn card_of_resident(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<CardRow>> {
    let live = cards::table
        .filter(cards::id_hash.eq(hash))
        .filter(cards::state.eq_any(LIVE_CARD_STATES))
        .select(CardRow::as_select())
        .first(conn)
        .optional()?;
    if live.is_some() {
        return Ok(live);
    }
    cards::table
        .filter(cards::id_hash.eq(hash))
        .order(cards::produced_at.desc())
        .select(CardRow::as_select())
        .first(conn)
        .optional()
}

/// Moves cards from `from` to `to`.
pub fn move_cards(
    conn: &mut DbConnection,
    numbers: &[String],
    from: &str,
    to: &str,
    at: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(cards::table.filter(cards::card_no.eq_any(numbers)).filter(cards::state.eq(from)))
        .set((cards::state.eq(to), cards::state_changed_at.eq(at)))
        .execute(conn)
}

pub fn events_of(conn: &mut DbConnection, card_no: &str) -> QueryResult<Vec<CardEventRow>> {
    card_events::table
        .filter(card_events::card_no.eq(card_no))
        .order((card_events::at.asc(), card_events::id.asc()))
        .select(CardEventRow::as_select())
        .load(conn)
}

// --- Access log ---

pub fn log_access(conn: &mut DbConnection, row: &AccessRow) -> QueryResult<usize> {
    diesel::insert_into(access_log::table).values(row).execute(conn)
}

pub fn access_entries(conn: &mut DbConnection, after: Option<&str>, limit: i64) -> QueryResult<Vec<AccessRow>> {
    let mut query = access_log::table.select(AccessRow::as_select()).order(access_log::id.asc()).into_boxed();
    if let Some(after) = after {
        query = query.filter(access_log::id.gt(after.to_string()));
    }
    query.limit(limit).load(conn)
}
