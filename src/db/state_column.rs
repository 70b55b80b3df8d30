//! State enums as `TEXT` columns: stored as their names (exactly the text the columns
//! held as strings), read back through `FromStr`, so that unknown text in a row is a
//! deserialisation error rather than a state. Written for any backend whose `str` and
//! `String` are text, which includes the connection enum's own backend.
//!
//! A value is bound as its `&'static str` name, so row structs, filters and `COPY`
//! take the enums wherever they took strings.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, Queryable};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Nullable, SingleValue, Text};

use crate::domain::claim_state::{ClaimState, PaymentState, ReviewState};
use crate::domain::debit::InstructionState;
use crate::domain::{BatchState, CardStage, CardState, ImportState, OrderState, RecordState};

macro_rules! text_column {
    ($($state:ty),+ $(,)?) => {$(
        impl<DB> ToSql<Text, DB> for $state
        where
            DB: Backend,
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <str as ToSql<Text, DB>>::to_sql(self.as_str(), out)
            }
        }

        impl<DB> FromSql<Text, DB> for $state
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                Ok(<String as FromSql<Text, DB>>::from_sql(bytes)?.parse()?)
            }
        }

        impl<DB, ST> Queryable<ST, DB> for $state
        where
            DB: Backend,
            ST: SingleValue,
            Self: FromSql<ST, DB>,
        {
            type Row = Self;

            fn build(row: Self) -> deserialize::Result<Self> {
                Ok(row)
            }
        }

        impl AsExpression<Text> for $state {
            type Expression = <&'static str as AsExpression<Text>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Text>>::as_expression(self.as_str())
            }
        }

        impl AsExpression<Text> for &$state {
            type Expression = <&'static str as AsExpression<Text>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Text>>::as_expression(self.as_str())
            }
        }

        impl AsExpression<Nullable<Text>> for $state {
            type Expression = <&'static str as AsExpression<Nullable<Text>>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Nullable<Text>>>::as_expression(self.as_str())
            }
        }

        impl AsExpression<Nullable<Text>> for &$state {
            type Expression = <&'static str as AsExpression<Nullable<Text>>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'static str as AsExpression<Nullable<Text>>>::as_expression(self.as_str())
            }
        }
    )+};
}

text_column!(
    RecordState,
    BatchState,
    OrderState,
    CardState,
    CardStage,
    ImportState,
    InstructionState,
    ClaimState,
    PaymentState,
    ReviewState
);

/// `'a', 'b'`: states written into statement text, for the statements whose plans
/// must see the values (a partial index on PostgreSQL is used only for a condition
/// written out, never for bound parameters). Names are `[a-z_]`, so no quoting issue.
pub fn sql_list<S: Copy>(states: &[S], name: impl Fn(S) -> &'static str) -> String {
    states.iter().map(|s| format!("'{}'", name(*s))).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use diesel::prelude::*;
    use diesel::sql_types::Text;

    use super::*;
    use crate::db::DbConnection;

    diesel::table! {
        states_probe (id) {
            id -> Integer,
            state -> Text,
            card -> Nullable<Text>,
        }
    }

    #[derive(Debug, PartialEq, Queryable, Selectable, Insertable)]
    #[diesel(table_name = states_probe)]
    struct Probe {
        id: i32,
        state: RecordState,
        card: Option<CardState>,
    }

    fn sqlite() -> DbConnection {
        let mut conn = DbConnection::establish(":memory:").unwrap();
        diesel::sql_query("CREATE TABLE states_probe (id INTEGER PRIMARY KEY, state TEXT NOT NULL, card TEXT)")
            .execute(&mut conn)
            .unwrap();
        conn
    }

    #[test]
    fn states_are_stored_as_their_names_through_the_connection_enum() {
        let mut conn = sqlite();
        let rows: Vec<Probe> = RecordState::ALL
            .into_iter()
            .enumerate()
            .map(|(i, state)| Probe { id: i as i32, state, card: CardState::ALL.get(i).copied() })
            .collect();
        for row in &rows {
            diesel::insert_into(states_probe::table).values(row).execute(&mut conn).unwrap();
        }
        let stored: Vec<(String, Option<String>)> = states_probe::table
            .order(states_probe::id)
            .select((states_probe::state, states_probe::card))
            .load(&mut conn)
            .unwrap();
        let names: Vec<(String, Option<String>)> =
            rows.iter().map(|r| (r.state.as_str().to_string(), r.card.map(|c| c.as_str().to_string()))).collect();
        assert_eq!(stored, names);
        let read: Vec<Probe> =
            states_probe::table.order(states_probe::id).select(Probe::as_select()).load(&mut conn).unwrap();
        assert_eq!(read, rows);
        let verified: Vec<i32> = states_probe::table
            .filter(states_probe::state.eq(RecordState::Verified))
            .filter(states_probe::state.eq_any([RecordState::Verified, RecordState::Rejected]))
            .select(states_probe::id)
            .load(&mut conn)
            .unwrap();
        assert_eq!(verified, [3]);
        let single: RecordState = diesel::select(RecordState::Issued.into_sql::<Text>()).get_result(&mut conn).unwrap();
        assert_eq!(single, RecordState::Issued);
    }

    #[test]
    fn unknown_stored_text_is_an_error_not_a_state() {
        let mut conn = sqlite();
        diesel::sql_query("INSERT INTO states_probe (id, state) VALUES (1, 'lost')").execute(&mut conn).unwrap();
        let read = states_probe::table.select(states_probe::state).first::<RecordState>(&mut conn);
        assert!(matches!(read, Err(diesel::result::Error::DeserializationError(_))), "{read:?}");
    }

    #[test]
    fn lists_are_written_out_quoted() {
        assert_eq!(sql_list(&CardState::LIVE, CardState::as_str), "'produced', 'issued', 'activated', 'reported_lost'");
    }
}
