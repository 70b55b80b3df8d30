//! Entity ids ([`crate::domain::ids`]) as `TEXT` columns: stored and read as exactly
//! the text the columns held as strings, over any backend whose `str` and `String` are
//! text (so over the connection enum's own backend too).
//!
//! An id is bound as its `&str`, so row structs, filters (`eq`, `eq_any`, `find`) and
//! `COPY` (`id.as_str()`) take the ids wherever they took strings.

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, Queryable};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::{Nullable, SingleValue, Text};

use crate::domain::{
    BatchId, CardNo, ClientId, DebitRunId, EnvelopeId, ImportId, InstructionId, LeaseId, OrderId, PaymentId, PersonNo,
    ReconciliationId, RecordId, SetlId, UploadId,
};

/// `AsExpression` of `$st` for an id owned (bound as its `String`), borrowed and
/// borrowed twice (bound as its `&str`: `eq_any` over a `Vec<&Id>` yields `&&Id`).
macro_rules! id_expression {
    ($id:ty, $st:ty) => {
        impl AsExpression<$st> for $id {
            type Expression = <String as AsExpression<$st>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <String as AsExpression<$st>>::as_expression(self.into_string())
            }
        }

        impl<'a> AsExpression<$st> for &'a $id {
            type Expression = <&'a str as AsExpression<$st>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'a str as AsExpression<$st>>::as_expression(self.as_str())
            }
        }

        impl<'a, 'b> AsExpression<$st> for &'a &'b $id {
            type Expression = <&'b str as AsExpression<$st>>::Expression;

            fn as_expression(self) -> Self::Expression {
                <&'b str as AsExpression<$st>>::as_expression(self.as_str())
            }
        }
    };
}

macro_rules! id_column {
    ($($id:ty),+ $(,)?) => {$(
        impl<DB> ToSql<Text, DB> for $id
        where
            DB: Backend,
            str: ToSql<Text, DB>,
        {
            fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
                <str as ToSql<Text, DB>>::to_sql(self.as_str(), out)
            }
        }

        impl<DB> FromSql<Text, DB> for $id
        where
            DB: Backend,
            String: FromSql<Text, DB>,
        {
            fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
                Ok(<String as FromSql<Text, DB>>::from_sql(bytes)?.into())
            }
        }

        impl<DB, ST> Queryable<ST, DB> for $id
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

        id_expression!($id, Text);
        id_expression!($id, Nullable<Text>);
    )+};
}

id_column!(
    RecordId,
    BatchId,
    UploadId,
    OrderId,
    LeaseId,
    ImportId,
    ClientId,
    CardNo,
    PersonNo,
    DebitRunId,
    EnvelopeId,
    InstructionId,
    SetlId,
    PaymentId,
    ReconciliationId
);

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use diesel::prelude::*;
    use diesel::sql_types::Text;

    use super::*;
    use crate::db::DbConnection;

    diesel::table! {
        ids_probe (record) {
            record -> Text,
            batch -> Text,
            upload -> Text,
            order_id -> Text,
            lease -> Nullable<Text>,
            import -> Text,
            client -> Text,
            card_no -> Nullable<Text>,
        }
    }

    #[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
    #[diesel(table_name = ids_probe)]
    struct Probe {
        record: RecordId,
        batch: BatchId,
        upload: UploadId,
        order_id: OrderId,
        lease: Option<LeaseId>,
        import: ImportId,
        client: ClientId,
        card_no: Option<CardNo>,
    }

    fn sqlite() -> DbConnection {
        let mut conn = DbConnection::establish(":memory:").unwrap();
        diesel::sql_query(
            "CREATE TABLE ids_probe (record TEXT PRIMARY KEY, batch TEXT NOT NULL, upload TEXT NOT NULL, \
             order_id TEXT NOT NULL, lease TEXT, import TEXT NOT NULL, client TEXT NOT NULL, card_no TEXT)",
        )
        .execute(&mut conn)
        .unwrap();
        conn
    }

    fn probe(n: u32, with_options: bool) -> Probe {
        Probe {
            record: RecordId::from(format!("record-{n}")),
            batch: BatchId::from(format!("batch-{n}")),
            upload: UploadId::from(format!("upload-{n}")),
            order_id: OrderId::from(format!("order-{n}")),
            lease: with_options.then(|| LeaseId::from(format!("lease-{n}"))),
            import: ImportId::from(format!("import-{n}")),
            client: ClientId::from(format!("client-{n}")),
            card_no: with_options.then(|| CardNo::from(format!("411111111111111{n}"))),
        }
    }

    #[test]
    fn ids_are_stored_as_their_text_through_the_connection_enum() {
        let mut conn = sqlite();
        let rows = vec![probe(1, true), probe(2, false), probe(3, true)];
        for row in &rows {
            diesel::insert_into(ids_probe::table).values(row).execute(&mut conn).unwrap();
        }
        type Texts = (String, String, String, String, Option<String>, String, String, Option<String>);
        let stored: Vec<Texts> = ids_probe::table.order(ids_probe::record).load(&mut conn).unwrap();
        let texts: Vec<_> = rows
            .iter()
            .map(|r| {
                (
                    r.record.to_string(),
                    r.batch.to_string(),
                    r.upload.to_string(),
                    r.order_id.to_string(),
                    r.lease.as_ref().map(LeaseId::to_string),
                    r.import.to_string(),
                    r.client.to_string(),
                    r.card_no.as_ref().map(CardNo::to_string),
                )
            })
            .collect();
        assert_eq!(stored, texts);
        let read: Vec<Probe> =
            ids_probe::table.order(ids_probe::record).select(Probe::as_select()).load(&mut conn).unwrap();
        assert_eq!(read, rows);
    }

    #[test]
    fn ids_filter_owned_borrowed_and_in_lists() {
        let mut conn = sqlite();
        let rows = vec![probe(1, true), probe(2, false), probe(3, true)];
        for row in &rows {
            diesel::insert_into(ids_probe::table).values(row).execute(&mut conn).unwrap();
        }
        let found: Probe = ids_probe::table.find(&rows[1].record).select(Probe::as_select()).first(&mut conn).unwrap();
        assert_eq!(found, rows[1]);
        let wanted = [rows[0].batch.clone(), rows[2].batch.clone()];
        let by_batch: Vec<RecordId> = ids_probe::table
            .filter(ids_probe::batch.eq_any(&wanted))
            .order(ids_probe::record)
            .select(ids_probe::record)
            .load(&mut conn)
            .unwrap();
        assert_eq!(by_batch, [rows[0].record.clone(), rows[2].record.clone()]);
        let refs: Vec<&OrderId> = rows.iter().map(|r| &r.order_id).collect();
        let n: i64 = ids_probe::table.filter(ids_probe::order_id.eq_any(&refs)).count().get_result(&mut conn).unwrap();
        assert_eq!(n, 3);
        let leased: Vec<ClientId> = ids_probe::table
            .filter(ids_probe::lease.eq(rows[2].lease.clone().unwrap()))
            .filter(ids_probe::client.eq(rows[2].client.clone()))
            .select(ids_probe::client)
            .load(&mut conn)
            .unwrap();
        assert_eq!(leased, [rows[2].client.clone()]);
        let card: Option<CardNo> =
            ids_probe::table.find(&rows[1].record).select(ids_probe::card_no).first(&mut conn).unwrap();
        assert_eq!(card, None);
        let single: ImportId =
            diesel::select(ImportId::from("import-9").into_sql::<Text>()).get_result(&mut conn).unwrap();
        assert_eq!(single, ImportId::from("import-9"));
    }
}
