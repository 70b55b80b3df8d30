//! Rows in PostgreSQL's binary `COPY` format, written straight from the caller's values
//! (the format: <https://www.postgresql.org/docs/current/sql-copy.html>, "Binary Format").
//!
//! diesel's `copy_from(..).from_insertable(..)` writes every value as its column's
//! declared diesel type and hands libpq one message per row; at millions of rows both
//! showed in profiles. This writes values of the types the columns really have (UUID,
//! bytea, ...) into one buffer that goes to the connection 64 KiB at a time. The caller
//! writes exactly the fields, in the order and of the types, of its `COPY` column list;
//! PostgreSQL refuses the whole `COPY` otherwise.

use std::io::{self, Write};

use chrono::{NaiveDate, NaiveDateTime};
use diesel::pg::{CopyFormat, CopyTarget};
use diesel::result::Error;
use diesel::{ExecuteCopyFromDsl, PgConnection, QueryResult, Table};

/// The file header: signature, flags (no OIDs), no header extension.
const HEADER: &[u8; 19] = b"PGCOPY\n\xff\r\n\0\0\0\0\0\0\0\0\0";
/// The file trailer: a field count of -1.
const TRAILER: [u8; 2] = (-1i16).to_be_bytes();
/// Buffered bytes handed to the connection at once.
const FLUSH_AT: usize = 64 * 1024;
/// PostgreSQL's dates count days from 2000-01-01.
const POSTGRES_EPOCH: NaiveDate = match NaiveDate::from_ymd_opt(2000, 1, 1) {
    Some(date) => date,
    None => panic!("2000-01-01 is a date"),
};

/// Runs `COPY table (columns) FROM STDIN (FORMAT binary)` in the caller's transaction
/// with the rows `write` writes, one [`BinaryCopy::row`] each, with the fields of
/// `columns` in their order. Returns the rows PostgreSQL stored.
pub fn copy_in<T, C, W>(pg: &mut PgConnection, table: T, columns: C, write: W) -> QueryResult<usize>
where
    T: Table,
    C: CopyTarget<Table = T>,
    W: Fn(&mut BinaryCopy<'_>) -> io::Result<()>,
{
    diesel::copy_from(table)
        .from_raw_data(columns, |out: &mut dyn Write| {
            let mut copy = BinaryCopy::start(out);
            write(&mut copy).and_then(|()| copy.finish()).map_err(|e| Error::SerializationError(Box::new(e)))
        })
        .with_format(CopyFormat::Binary)
        .execute(pg)
}

/// One `COPY ... FROM STDIN (FORMAT binary)` body being written.
pub struct BinaryCopy<'w> {
    out: &'w mut dyn Write,
    buf: Vec<u8>,
}

impl<'w> BinaryCopy<'w> {
    pub fn start(out: &'w mut dyn Write) -> BinaryCopy<'w> {
        let mut buf = Vec::with_capacity(FLUSH_AT + 4096);
        buf.extend_from_slice(HEADER);
        BinaryCopy { out, buf }
    }

    /// Starts a row of `fields` values.
    pub fn row(&mut self, fields: i16) -> io::Result<()> {
        if self.buf.len() >= FLUSH_AT {
            self.out.write_all(&self.buf)?;
            self.buf.clear();
        }
        self.buf.extend_from_slice(&fields.to_be_bytes());
        Ok(())
    }

    /// A `bytea` value (or any value given in its binary form).
    pub fn bytes(&mut self, value: &[u8]) -> io::Result<()> {
        let len =
            i32::try_from(value.len()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "value too long"))?;
        self.buf.extend_from_slice(&len.to_be_bytes());
        self.buf.extend_from_slice(value);
        Ok(())
    }

    /// A `text` value: its UTF-8 bytes.
    pub fn text(&mut self, value: &str) -> io::Result<()> {
        self.bytes(value.as_bytes())
    }

    /// A NULL of any type.
    pub fn null(&mut self) -> io::Result<()> {
        self.buf.extend_from_slice(&(-1i32).to_be_bytes());
        Ok(())
    }

    /// A nullable `text` value.
    pub fn opt_text(&mut self, value: Option<&str>) -> io::Result<()> {
        match value {
            Some(value) => self.text(value),
            None => self.null(),
        }
    }

    /// A `bigint` value.
    pub fn int8(&mut self, value: i64) -> io::Result<()> {
        self.bytes(&value.to_be_bytes())
    }

    /// An `integer` value.
    pub fn int4(&mut self, value: i32) -> io::Result<()> {
        self.bytes(&value.to_be_bytes())
    }

    /// A `timestamp` (without time zone) value: microseconds from 2000-01-01 00:00.
    pub fn timestamp(&mut self, value: NaiveDateTime) -> io::Result<()> {
        let micros = (value - POSTGRES_EPOCH.and_time(chrono::NaiveTime::MIN))
            .num_microseconds()
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "timestamp out of range"))?;
        self.bytes(&micros.to_be_bytes())
    }

    /// A `date` value.
    pub fn date(&mut self, value: NaiveDate) -> io::Result<()> {
        let days = i32::try_from((value - POSTGRES_EPOCH).num_days())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "date out of range"))?;
        self.bytes(&days.to_be_bytes())
    }

    /// A `uuid` value.
    pub fn uuid(&mut self, value: &uuid::Uuid) -> io::Result<()> {
        self.bytes(value.as_bytes())
    }

    /// Writes the trailer and whatever is still buffered.
    pub fn finish(mut self) -> io::Result<()> {
        self.buf.extend_from_slice(&TRAILER);
        self.out.write_all(&self.buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records every write the copy makes, as libpq would see them.
    #[derive(Default)]
    struct Writes(Vec<Vec<u8>>);

    impl Write for Writes {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_row_of_every_type_is_laid_out_as_postgresql_reads_it() {
        let mut writes = Writes::default();
        let mut copy = BinaryCopy::start(&mut writes);
        copy.row(6).unwrap();
        copy.text("王").unwrap();
        copy.opt_text(None).unwrap();
        copy.int8(-2).unwrap();
        copy.date(NaiveDate::from_ymd_opt(1999, 12, 31).unwrap()).unwrap();
        copy.uuid(&uuid::Uuid::from_bytes([7; 16])).unwrap();
        copy.bytes(&[]).unwrap();
        copy.finish().unwrap();
        let all: Vec<u8> = writes.0.concat();
        let mut expected = b"PGCOPY\n\xff\r\n\0".to_vec();
        expected.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(&[0, 6]);
        expected.extend_from_slice(&[0, 0, 0, 3, 0xe7, 0x8e, 0x8b]);
        expected.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        expected.extend_from_slice(&[0, 0, 0, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe]);
        expected.extend_from_slice(&[0, 0, 0, 4, 0xff, 0xff, 0xff, 0xff]);
        expected.extend_from_slice(&[0, 0, 0, 16]);
        expected.extend_from_slice(&[7; 16]);
        expected.extend_from_slice(&[0, 0, 0, 0]);
        expected.extend_from_slice(&[0xff, 0xff]);
        assert_eq!(all, expected);
    }

    #[test]
    fn dates_count_days_from_2000() {
        let mut writes = Writes::default();
        let mut copy = BinaryCopy::start(&mut writes);
        copy.row(2).unwrap();
        copy.date(NaiveDate::from_ymd_opt(2000, 1, 1).unwrap()).unwrap();
        copy.date(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap()).unwrap();
        copy.finish().unwrap();
        let all = writes.0.concat();
        assert_eq!(&all[21..29], &[0, 0, 0, 4, 0, 0, 0, 0]);
        assert_eq!(&all[29..37], &[0, 0, 0, 4, 0, 0, 0x22, 0x79]); // 8,825 days
    }

    #[test]
    fn timestamps_count_microseconds_from_2000_and_integers_are_four_bytes() {
        let mut writes = Writes::default();
        let mut copy = BinaryCopy::start(&mut writes);
        copy.row(3).unwrap();
        let at = NaiveDate::from_ymd_opt(2000, 1, 2).unwrap().and_hms_micro_opt(0, 0, 1, 5).unwrap();
        copy.timestamp(at).unwrap();
        copy.timestamp(NaiveDate::from_ymd_opt(1999, 12, 31).unwrap().and_hms_opt(23, 59, 59).unwrap()).unwrap();
        copy.int4(-3).unwrap();
        copy.finish().unwrap();
        let all = writes.0.concat();
        let micros = 86_400_000_000i64 + 1_000_005;
        assert_eq!(&all[21..25], &[0, 0, 0, 8]);
        assert_eq!(&all[25..33], &micros.to_be_bytes());
        assert_eq!(&all[37..45], &(-1_000_000i64).to_be_bytes());
        assert_eq!(&all[45..53], &[0, 0, 0, 4, 0xff, 0xff, 0xff, 0xfd]);
    }

    #[test]
    fn rows_go_out_in_large_writes_and_nothing_is_lost() {
        let mut writes = Writes::default();
        let mut copy = BinaryCopy::start(&mut writes);
        let value = "x".repeat(100);
        for _ in 0..10_000 {
            copy.row(1).unwrap();
            copy.text(&value).unwrap();
        }
        copy.finish().unwrap();
        assert!(writes.0.len() > 1 && writes.0.len() < 20, "{} writes", writes.0.len());
        assert!(writes.0[..writes.0.len() - 1].iter().all(|w| w.len() >= FLUSH_AT));
        let total: usize = writes.0.iter().map(Vec::len).sum();
        assert_eq!(total, HEADER.len() + 10_000 * (2 + 4 + 100) + 2);
    }
}
