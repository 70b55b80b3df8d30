//! How many live records of each batch are in each state, and since when: kept as
//! insert-only deltas written in the transaction of every change, so that a batch's
//! detail is read from a few thousand small rows instead of aggregating the batch's
//! records (2.6 s for a 1,000,000-record batch, on every poll of a county's screen).
//!
//! A delta counts records by the second they entered their state. A record leaving a
//! state takes one from the second it entered it (the statements that move records
//! return that time, see `records.previous_state_at`), so each second's count is exact
//! and the oldest second with records left is the age of the oldest record waiting.
//! Deltas are inserted, never updated: concurrent writers never wait on one counter row.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{NaiveDateTime, Timelike};
use diesel::prelude::*;

use crate::db::{DbConnection, DbPool, insert_many};
use crate::domain::{BatchId, RecordState, Transition};

diesel::table! {
    record_tallies (id) {
        id -> BigInt,
        batch_id -> Text,
        state -> Text,
        entered_at -> Timestamp,
        records -> BigInt,
    }
}

/// The second a record entered its state, as tallies count it.
fn second_of(at: NaiveDateTime) -> NaiveDateTime {
    at.with_nanosecond(0).unwrap_or(at)
}

/// Deltas gathered in one transaction: `(batch, state, second entered) -> records`,
/// the state by its name (the order rows are written in).
#[derive(Debug, Default)]
pub struct Deltas(BTreeMap<(BatchId, &'static str, NaiveDateTime), i64>);

impl Deltas {
    /// Records of `batch` that entered `state` at `at` (negative: that left it).
    pub fn add(&mut self, batch: &BatchId, state: RecordState, at: NaiveDateTime, records: i64) {
        *self.0.entry((batch.clone(), state.as_str(), second_of(at))).or_default() += records;
    }

    /// Records moved by `step` at `at`, given as `(batch, when each entered the state
    /// they left)` as the moving statement returned them.
    pub fn moved(
        mut self,
        rows: &[(BatchId, Option<NaiveDateTime>)],
        step: Transition<RecordState>,
        at: NaiveDateTime,
    ) -> Self {
        // Counted by batch and second first: an outcome moves a thousand records that
        // share a few keys, and each `add` makes the key's strings.
        let mut by_entry: BTreeMap<(&BatchId, NaiveDateTime), i64> = BTreeMap::new();
        for (batch, entered) in rows {
            // A moved record always has the time it entered `from`; a missing one
            // counts as now, which is wrong by the age only, never by the count.
            *by_entry.entry((batch, second_of(entered.unwrap_or(at)))).or_default() += 1;
        }
        for ((batch, entered), records) in by_entry {
            self.add(batch, step.from(), entered, -records);
            self.add(batch, step.to(), at, records);
        }
        self
    }

    /// The deltas that change a count (moves within one second cancel out).
    fn nonzero(self) -> impl Iterator<Item = ((BatchId, &'static str, NaiveDateTime), i64)> {
        self.0.into_iter().filter(|(_, n)| *n != 0)
    }

    /// Writes the deltas in the caller's transaction.
    pub fn save(self, conn: &mut DbConnection) -> QueryResult<()> {
        use record_tallies::dsl as t;
        let rows: Vec<_> = self
            .nonzero()
            .map(|((batch, state, at), n)| {
                (t::batch_id.eq(batch), t::state.eq(state), t::entered_at.eq(at), t::records.eq(n))
            })
            .collect();
        insert_many(conn, &rows, |chunk| diesel::insert_into(t::record_tallies).values(chunk))?;
        Ok(())
    }
}

/// Moves every record of `batch` counted in the state `step` leaves to the one it
/// enters at `at`, in the caller's transaction, without touching the records: for a
/// state change that holds for a whole batch at once (see `repo::as_seen`).
#[tracing::instrument(level = "debug", skip_all)]
pub fn move_whole_batch(
    conn: &mut DbConnection,
    batch: &BatchId,
    step: Transition<RecordState>,
    at: NaiveDateTime,
) -> QueryResult<()> {
    let (from, to) = (step.from(), step.to());
    use record_tallies::dsl as t;
    let rows: Vec<(NaiveDateTime, i64)> = t::record_tallies
        .filter(t::batch_id.eq(batch))
        .filter(t::state.eq(from))
        .select((t::entered_at, t::records))
        .load(conn)?;
    let mut deltas = Deltas::default();
    for (entered, records) in rows {
        deltas.add(batch, from, entered, -records);
        deltas.add(batch, to, at, records);
    }
    deltas.save(conn)
}

/// Records of a batch in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateTally {
    pub state: RecordState,
    pub records: i64,
    /// When the record that has waited longest in the state entered it (to the second).
    pub oldest: NaiveDateTime,
}

/// The states of `batch` that hold records.
#[tracing::instrument(level = "debug", skip_all)]
pub fn of_batch(conn: &mut DbConnection, batch: &BatchId) -> QueryResult<Vec<StateTally>> {
    use record_tallies::dsl as t;
    let rows: Vec<(RecordState, NaiveDateTime, i64)> =
        t::record_tallies.filter(t::batch_id.eq(batch)).select((t::state, t::entered_at, t::records)).load(conn)?;
    Ok(summarise(rows))
}

/// Per state, from `(state, second, delta)` rows: the records in it and the oldest
/// second that still holds some; states in the order of their names.
fn summarise(rows: Vec<(RecordState, NaiveDateTime, i64)>) -> Vec<StateTally> {
    let mut seconds: BTreeMap<(&'static str, NaiveDateTime), (RecordState, i64)> = BTreeMap::new();
    for (state, at, n) in rows {
        seconds.entry((state.as_str(), at)).or_insert((state, 0)).1 += n;
    }
    let mut states: BTreeMap<&'static str, (RecordState, i64, Option<NaiveDateTime>)> = BTreeMap::new();
    for ((name, at), (state, n)) in seconds.into_iter().filter(|(_, (_, n))| *n > 0) {
        let entry = states.entry(name).or_insert((state, 0, None));
        entry.1 += n;
        // Seconds come in order: the first one with records left is the oldest.
        entry.2.get_or_insert(at);
    }
    states
        .into_values()
        .filter_map(|(state, records, oldest)| Some(StateTally { state, records, oldest: oldest? }))
        .collect()
}

/// Records in `state` across all batches.
#[tracing::instrument(level = "debug", skip_all)]
pub fn in_state(conn: &mut DbConnection, state: RecordState) -> QueryResult<i64> {
    use diesel::dsl::sql;
    use record_tallies::dsl as t;
    // SUM over BIGINT is NUMERIC on PostgreSQL: cast back.
    t::record_tallies
        .filter(t::state.eq(state))
        .select(sql::<diesel::sql_types::BigInt>("CAST(COALESCE(SUM(records), 0) AS BIGINT)"))
        .get_result(conn)
}

/// Batches with more than `deltas` delta rows, at most `limit` of them.
#[tracing::instrument(level = "debug", skip_all)]
pub fn long_batches(conn: &mut DbConnection, deltas: i64, limit: i64) -> QueryResult<Vec<BatchId>> {
    use diesel::dsl::count_star;
    use record_tallies::dsl as t;
    t::record_tallies.group_by(t::batch_id).having(count_star().gt(deltas)).select(t::batch_id).limit(limit).load(conn)
}

/// Replaces the deltas of `batch` by one row per second that still holds records.
/// Taking the rows with `DELETE ... RETURNING` keeps deltas that concurrent writers
/// commit meanwhile: they are not deleted, so nothing is counted twice or lost.
#[tracing::instrument(level = "debug", skip_all)]
pub fn compact(conn: &mut DbConnection, batch: &BatchId) -> QueryResult<()> {
    use record_tallies::dsl as t;
    let rows: Vec<(RecordState, NaiveDateTime, i64)> = diesel::delete(t::record_tallies.filter(t::batch_id.eq(batch)))
        .returning((t::state, t::entered_at, t::records))
        .get_results(conn)?;
    let mut deltas = Deltas::default();
    for (state, at, n) in rows {
        deltas.add(batch, state, at, n);
    }
    deltas.save(conn)
}

/// Delta rows of a batch past which the compactor folds them.
const COMPACT_AFTER_DELTAS: i64 = 1000;

/// Folds the deltas of long batches every `every`, until the process ends: reading a
/// batch, and the registration feeder's look at the whole table, stay short.
pub async fn run_compactor(pool: DbPool, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        let round = pool
            .write(|conn| {
                let batches = long_batches(conn, COMPACT_AFTER_DELTAS, 100)?;
                for batch in &batches {
                    compact(conn, batch)?;
                }
                Ok::<_, crate::db::DbError>(batches.len())
            })
            .await;
        if let Err(e) = round {
            tracing::warn!(error = %e, "compacting batch tallies failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::StateMachine;
    use RecordState::{PendingVerification, Received, Verified};

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f").unwrap()
    }

    #[test]
    fn a_move_takes_from_the_second_entered_and_adds_to_now() {
        let rows = vec![
            (BatchId::from("b1"), Some(at("2026-11-30 10:00:00.250"))),
            (BatchId::from("b1"), Some(at("2026-11-30 10:00:00.750"))),
            (BatchId::from("b2"), Some(at("2026-11-30 09:00:01.000"))),
        ];
        let deltas = Deltas::default().moved(
            &rows,
            Received.transition(PendingVerification).unwrap(),
            at("2026-11-30 10:05:00.5"),
        );
        let got: Vec<_> = deltas.0.into_iter().collect();
        assert_eq!(
            got,
            vec![
                (("b1".into(), PendingVerification.as_str(), at("2026-11-30 10:05:00")), 2),
                (("b1".into(), Received.as_str(), at("2026-11-30 10:00:00")), -2),
                (("b2".into(), PendingVerification.as_str(), at("2026-11-30 10:05:00")), 1),
                (("b2".into(), Received.as_str(), at("2026-11-30 09:00:01")), -1),
            ]
        );
    }

    #[test]
    fn deltas_that_cancel_out_are_not_written() {
        let (mut deltas, b) = (Deltas::default(), BatchId::from("b"));
        deltas.add(&b, Received, at("2026-11-30 10:00:00.1"), 3);
        deltas.add(&b, Received, at("2026-11-30 10:00:00.9"), -3);
        deltas.add(&b, Verified, at("2026-11-30 10:00:00.9"), 1);
        let kept: Vec<_> = deltas.nonzero().map(|((_, state, _), n)| (state, n)).collect();
        assert_eq!(kept, vec![(Verified.as_str(), 1)]);
    }

    #[test]
    fn the_oldest_second_is_the_first_that_still_holds_records() {
        let rows = vec![
            (Received, at("2026-11-30 10:00:00"), 5),
            (Received, at("2026-11-30 10:00:01"), 5),
            // All of 10:00:00 left, in two statements.
            (Received, at("2026-11-30 10:00:00"), -2),
            (Received, at("2026-11-30 10:00:00"), -3),
            (Received, at("2026-11-30 10:00:01"), -1),
            (Verified, at("2026-11-30 10:00:07"), 6),
            // A state every record has left is not shown.
            (PendingVerification, at("2026-11-30 10:00:03"), 6),
            (PendingVerification, at("2026-11-30 10:00:03"), -6),
        ];
        assert_eq!(
            summarise(rows),
            vec![
                StateTally { state: Received, records: 4, oldest: at("2026-11-30 10:00:01") },
                StateTally { state: Verified, records: 6, oldest: at("2026-11-30 10:00:07") },
            ]
        );
    }
}
