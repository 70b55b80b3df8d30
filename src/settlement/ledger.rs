//! The fund ledger as the rest of settlement uses it: [`post`] one balanced
//! transaction inside the caller's database transaction, and read balances and
//! transactions back.
//!
//! Every movement of a county's fund is one transaction whose entries sum to zero
//! (debit positive, credit negative; [`crate::domain::ledger`] has the convention and
//! the accounts each movement touches). Balances are never stored: they are sums over
//! the entries. Transactions of a county form a hash chain (seq 1, 2, ...; each
//! carries the previous one's hash), which `healthcard ledger check`
//! ([`super::ledger_check`]) verifies. A posting does not wait for the chain: it is
//! written unchained, and [`chain`] links a county's unchained transactions a batch at
//! a time under the head's lock ([`super::chainer`] does so every moment in the
//! background), so that a county's claims never queue on one row.
//!
//! Posting is idempotent on (county, kind, reference): the same reference with the
//! same year and lines answers the first transaction again ([`Posted::Again`]), with
//! anything else `409 ledger_reference_reused`.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

use super::repo::ledger::{self as repo, EntryRow, HeadRow, TransactionRow};
use crate::db::DbConnection;
use crate::domain::ledger::{Account, BalancedLines, Canonical, Movement, canonical_text, chain_hash};
use crate::domain::{CountyCode, Fen};
use crate::http::ApiError;

/// Longest reference a transaction takes, in characters.
pub const MAX_REFERENCE_CHARS: usize = 128;

/// One movement to post: the county's fund, the fund year, what kind of movement, the
/// poster's reference for it (unique per county and kind: a debit run id, a claim's
/// settlement id, a subsidy's document number) and the lines, debit positive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Posting {
    pub county_code: String,
    pub year: i32,
    pub kind: Movement,
    pub reference: String,
    pub lines: Vec<(Account, Fen)>,
    /// When the movement happened; stored to the microsecond.
    pub at: NaiveDateTime,
}

/// What [`post`] did, by transaction id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Posted {
    /// A new transaction.
    New(String),
    /// The transaction posted earlier for the same (county, kind, reference), with the
    /// same year and lines.
    Again(String),
}

impl Posted {
    /// The transaction's id, new or not.
    pub fn transaction_id(&self) -> &str {
        match self {
            Posted::New(id) | Posted::Again(id) => id,
        }
    }

    /// Whether this call posted it.
    pub fn is_new(&self) -> bool {
        matches!(self, Posted::New(_))
    }
}

/// A chained transaction with its lines.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransactionView {
    pub id: String,
    pub county_code: String,
    pub year: i32,
    pub seq: i64,
    pub kind: Movement,
    pub reference: String,
    pub created_at: DateTime<Utc>,
    /// The hash of the county's previous transaction.
    pub prev_hash: String,
    pub hash: String,
    pub lines: Vec<LineView>,
}

/// One entry of a transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LineView {
    /// Counts from 1.
    pub line: i32,
    pub account: Account,
    /// Debit positive, credit negative.
    pub amount: Fen,
}

impl TransactionView {
    /// The lines as a posting gives them.
    pub fn posting_lines(&self) -> Vec<(Account, Fen)> {
        self.lines.iter().map(|l| (l.account, l.amount)).collect()
    }

    /// A chained transaction as stored, with its entries in line order. A kind or
    /// account that is not ours means the rows were changed outside the service.
    fn from_rows(row: TransactionRow, entries: &[EntryRow]) -> Result<TransactionView, ApiError> {
        let (Some(seq), Some(prev_hash), Some(hash)) = (row.seq, row.prev_hash, row.hash) else {
            return Err(ApiError::internal("an unchained transaction has no view"));
        };
        let kind: Movement = row.kind.parse().map_err(ApiError::internal)?;
        let lines = entries
            .iter()
            .map(|e| {
                Ok(LineView {
                    line: e.line,
                    account: e.account.parse().map_err(ApiError::internal)?,
                    amount: Fen(e.amount),
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        Ok(TransactionView {
            id: row.id,
            county_code: row.county_code,
            year: row.year,
            seq,
            kind,
            reference: row.reference,
            created_at: row.created_at.and_utc(),
            prev_hash,
            hash,
            lines,
        })
    }
}

/// `at` to the microsecond: what PostgreSQL stores, so that the hash computed now
/// is the hash recomputed from the stored row on either backend.
fn to_micros(at: NaiveDateTime) -> NaiveDateTime {
    use chrono::{DurationRound, TimeDelta};
    at.duration_trunc(TimeDelta::microseconds(1)).unwrap_or(at)
}

/// The canonical text of a stored transaction and its entries (see
/// [`crate::domain::ledger::canonical_text`]).
pub(crate) fn canonical_of(row: &TransactionRow, seq: i64, entries: &[EntryRow]) -> String {
    let lines: Vec<(&str, i64)> = entries.iter().map(|e| (e.account.as_str(), e.amount)).collect();
    canonical_text(&Canonical {
        county_code: &row.county_code,
        year: row.year,
        seq,
        kind: &row.kind,
        reference: &row.reference,
        created_at: row.created_at,
        entries: &lines,
    })
}

fn invalid(code: &'static str, detail: impl Into<String>) -> ApiError {
    ApiError::unprocessable(code, detail)
}

/// Posts one balanced transaction in the caller's database transaction (which must be
/// a write transaction); see the module docs for idempotency. The transaction counts
/// in every balance at once; [`chain`] links it into the county's chain shortly after
/// (or at once, when the caller chains in the same transaction).
///
/// Refused, nothing written: lines that are empty, zero, overflowing or unbalanced
/// (`422` with the [`crate::domain::ledger::PostingError`] code), a county code that is
/// not one (`422 ledger_county_invalid`), an empty or over-long reference or one with
/// control characters (`422 ledger_reference_invalid`), a year outside 1..=9999
/// (`422 ledger_year_invalid`), and a reference posted before with another year or
/// other lines (`409 ledger_reference_reused`).
#[tracing::instrument(skip_all, fields(county = %posting.county_code, kind = %posting.kind, reference = %posting.reference))]
pub fn post(conn: &mut DbConnection, posting: &Posting) -> Result<Posted, ApiError> {
    post_once(conn, posting, true)
}

/// [`post`] for a reference made in the caller's transaction (a new claim's
/// `setl_id`): no earlier posting of it can exist, so none is looked for (the unique
/// index would still refuse one).
pub fn post_fresh(conn: &mut DbConnection, posting: &Posting) -> Result<Posted, ApiError> {
    post_once(conn, posting, false)
}

fn post_once(conn: &mut DbConnection, posting: &Posting, look_for_earlier: bool) -> Result<Posted, ApiError> {
    let lines = BalancedLines::new(posting.lines.clone()).map_err(|e| invalid(e.code(), e.to_string()))?;
    let county = CountyCode::parse(&posting.county_code)
        .map_err(|_| invalid("ledger_county_invalid", "not a six-digit county-level code"))?;
    let county = county.as_str();
    let reference = posting.reference.as_str();
    if reference.is_empty()
        || reference.chars().count() > MAX_REFERENCE_CHARS
        || reference.chars().any(char::is_control)
    {
        return Err(invalid(
            "ledger_reference_invalid",
            "a reference is 1 to 128 characters, none a control character",
        ));
    }
    if !(1..=9999).contains(&posting.year) {
        return Err(invalid("ledger_year_invalid", "the year must be between 1 and 9999"));
    }
    let kind = posting.kind.as_str();

    let row = TransactionRow {
        id: uuid::Uuid::now_v7().to_string(),
        county_code: county.to_string(),
        seq: None,
        year: posting.year,
        kind: kind.to_string(),
        reference: reference.to_string(),
        created_at: to_micros(posting.at),
        prev_hash: None,
        hash: None,
    };
    let entries = lines
        .lines()
        .iter()
        .enumerate()
        .map(|(i, (account, amount))| {
            Ok(EntryRow {
                transaction_id: row.id.clone(),
                line: i32::try_from(i + 1).map_err(|_| invalid("ledger_too_many_lines", "too many lines"))?,
                county_code: row.county_code.clone(),
                year: row.year,
                account: account.as_str().to_string(),
                amount: amount.get(),
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    // The unique (county, kind, reference) decides between two posters of one
    // reference: the second waits for the first and then finds its transaction.
    let inserted = if look_for_earlier {
        repo::insert_transaction_once(conn, &row)?
    } else {
        repo::insert_transaction(conn, &row)?
    };
    if inserted == 0 {
        let existing = repo::find_transaction(conn, county, kind, reference)?
            .ok_or_else(|| ApiError::internal("a posting refused as a repeat has no earlier transaction"))?;
        let stored = repo::entries_of(conn, std::slice::from_ref(&existing.id))?;
        let same_lines = stored.len() == lines.lines().len()
            && stored
                .iter()
                .zip(lines.lines())
                .all(|(e, (account, amount))| e.account == account.as_str() && e.amount == amount.get());
        return if existing.year == posting.year && same_lines {
            Ok(Posted::Again(existing.id))
        } else {
            Err(ApiError::conflict(
                "ledger_reference_reused",
                format!("{kind} {reference} was already posted with another year or other lines"),
            ))
        };
    }
    repo::insert_entries(conn, &entries)?;
    tracing::info!(transaction = %row.id, "ledger transaction posted");
    Ok(Posted::New(row.id))
}

/// Transactions linked per [`chain`] call at most.
pub const CHAIN_BATCH: usize = 2000;

/// Links `county`'s unchained transactions that this database transaction sees (its
/// own and every committed one) into the county's chain, oldest id first: each gets
/// the next seq, the previous hash and its own hash, and the head moves to the last.
/// Holds the head's lock until the caller's transaction ends; returns how many it
/// linked (at most [`CHAIN_BATCH`]).
#[tracing::instrument(skip_all, fields(county))]
pub fn chain(conn: &mut DbConnection, county: &str) -> Result<usize, ApiError> {
    crate::db::plan_for_parameters(conn)?;
    let head = repo::lock_head(conn, county)?;
    let rows = repo::unchained(conn, county, CHAIN_BATCH as i64)?;
    if rows.is_empty() {
        return Ok(0);
    }
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut by_tx: std::collections::HashMap<String, Vec<EntryRow>> = std::collections::HashMap::new();
    for e in repo::entries_of(conn, &ids)? {
        by_tx.entry(e.transaction_id.clone()).or_default().push(e);
    }
    let (mut seq, mut prev) = (head.seq, head.hash);
    let mut links = Vec::with_capacity(rows.len());
    for row in &rows {
        seq = seq.checked_add(1).ok_or_else(|| ApiError::internal("ledger sequence exhausted"))?;
        let entries = by_tx.remove(&row.id).unwrap_or_default();
        let hash = chain_hash(&prev, &canonical_of(row, seq, &entries));
        links.push(repo::Link { transaction_id: row.id.clone(), seq, prev_hash: prev, hash: hash.clone() });
        prev = hash;
    }
    if repo::link_all(conn, &links)? != links.len() {
        return Err(ApiError::internal("a transaction was chained meanwhile under the head's lock"));
    }
    repo::set_head(conn, &HeadRow { county_code: county.to_string(), seq, hash: prev })?;
    tracing::debug!(linked = rows.len(), seq, "ledger transactions chained");
    Ok(rows.len())
}

/// Takes the lock [`chain`] takes on `county`'s chain, for a use case that must read
/// its own records of earlier postings (a subsidy's request) under one lock and show
/// its transaction chained.
pub fn lock_county(conn: &mut DbConnection, county: &CountyCode) -> Result<(), ApiError> {
    repo::lock_head(conn, county.as_str())?;
    Ok(())
}

/// One transaction by id, with its lines.
pub fn transaction(conn: &mut DbConnection, id: &str) -> Result<Option<TransactionView>, ApiError> {
    let Some(row) = repo::transaction(conn, id)? else {
        return Ok(None);
    };
    let entries = repo::entries_of(conn, std::slice::from_ref(&row.id))?;
    TransactionView::from_rows(row, &entries).map(Some)
}

/// `county`'s transactions after seq `after` in seq order (of one year or all), with
/// their lines: `limit` of them at most.
pub fn transactions(
    conn: &mut DbConnection,
    county: &CountyCode,
    year: Option<i32>,
    after: i64,
    limit: i64,
) -> Result<Vec<TransactionView>, ApiError> {
    let rows = repo::transactions_after(conn, county.as_str(), year, after, limit)?;
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let entries = repo::entries_of(conn, &ids)?;
    let mut by_tx: std::collections::HashMap<&str, Vec<EntryRow>> = std::collections::HashMap::new();
    for e in &entries {
        by_tx.entry(e.transaction_id.as_str()).or_default().push(e.clone());
    }
    rows.into_iter()
        .map(|row| {
            let mine = by_tx.remove(row.id.as_str()).unwrap_or_default();
            TransactionView::from_rows(row, &mine)
        })
        .collect()
}

/// The balance of every account in one fund year (accounts without entries are 0).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AccountBalances {
    pub fund_pool: Fen,
    pub premium_income: Fen,
    pub subsidy_income: Fen,
    pub bank_clearing: Fen,
    pub reimbursement_payable: Fen,
    pub paid_out: Fen,
    pub recoveries_receivable: Fen,
}

impl AccountBalances {
    fn slot(&mut self, account: Account) -> &mut Fen {
        match account {
            Account::FundPool => &mut self.fund_pool,
            Account::PremiumIncome => &mut self.premium_income,
            Account::SubsidyIncome => &mut self.subsidy_income,
            Account::BankClearing => &mut self.bank_clearing,
            Account::ReimbursementPayable => &mut self.reimbursement_payable,
            Account::PaidOut => &mut self.paid_out,
            Account::RecoveriesReceivable => &mut self.recoveries_receivable,
        }
    }
}

/// A fund year's balances.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct YearBalances {
    pub year: i32,
    pub balances: AccountBalances,
}

/// `county`'s balances per year (of one year or all), by year, derived from the
/// entries.
pub fn balances(
    conn: &mut DbConnection,
    county: &CountyCode,
    year: Option<i32>,
) -> Result<Vec<YearBalances>, ApiError> {
    let mut years: Vec<YearBalances> = Vec::new();
    for row in repo::balances(conn, county.as_str(), year)? {
        let account: Account = row.account.parse().map_err(ApiError::internal)?;
        if years.last().is_none_or(|y| y.year != row.year) {
            years.push(YearBalances { year: row.year, balances: AccountBalances::default() });
        }
        if let Some(current) = years.last_mut() {
            *current.balances.slot(account) = Fen(row.balance);
        }
    }
    Ok(years)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::config::Service;
    use crate::db::DbPool;
    use crate::domain::ledger::GENESIS_HASH;

    /// A migrated settlement database in a fresh SQLite file.
    fn database() -> (tempfile::TempDir, DbPool) {
        let dir = tempfile::tempdir().unwrap();
        let pool = DbPool::open(&dir.path().join("settlement.db").display().to_string(), 1).unwrap();
        crate::db::migrations::run(&pool, Service::Settlement).unwrap();
        (dir, pool)
    }

    fn premium(reference: &str, amount: i64) -> Posting {
        Posting {
            county_code: "210804".into(),
            year: 2026,
            kind: Movement::PremiumCollected,
            reference: reference.into(),
            lines: vec![(Account::FundPool, Fen(amount)), (Account::PremiumIncome, Fen(-amount))],
            at: crate::db::now(),
        }
    }

    fn write<T>(pool: &DbPool, f: impl FnOnce(&mut DbConnection) -> Result<T, ApiError>) -> Result<T, ApiError> {
        pool.run_blocking(true, f)
    }

    #[test]
    fn postings_chain_and_repeat_and_refuse_reuse() {
        let (_dir, pool) = database();
        let county = CountyCode::parse("210804").unwrap();
        let read = |id: &str| pool.run_blocking(false, |c| transaction(c, id)).unwrap();
        let first = write(&pool, |c| post(c, &premium("run-1", 9000))).unwrap();
        let Posted::New(first) = first else { panic!("a first posting is new") };
        // Posted and counted, not yet chained: neither listed nor viewable.
        assert!(pool.run_blocking(false, |c| transactions(c, &county, None, 0, 10)).unwrap().is_empty());
        assert!(pool.run_blocking(false, |c| transaction(c, &first)).is_err());
        assert_eq!(write(&pool, |c| chain(c, county.as_str())).unwrap(), 1);
        let first = read(&first).unwrap();
        assert_eq!((first.seq, first.prev_hash.as_str()), (1, GENESIS_HASH));
        // Chained in the poster's own transaction.
        let second = write(&pool, |c| {
            let posted = post(c, &premium("run-2", 100))?;
            chain(c, county.as_str())?;
            Ok(posted)
        })
        .unwrap();
        let second = read(second.transaction_id()).unwrap();
        assert_eq!((second.seq, second.prev_hash.as_str()), (2, first.hash.as_str()));
        assert_eq!(write(&pool, |c| chain(c, county.as_str())).unwrap(), 0, "nothing is chained twice");

        // The same posting again: the first transaction, nothing new.
        let again = write(&pool, |c| post(c, &Posting { at: crate::db::now(), ..premium("run-1", 9000) })).unwrap();
        assert_eq!(again, Posted::Again(first.id.clone()));
        // The same reference with other lines or another year.
        let reused = write(&pool, |c| post(c, &premium("run-1", 9001))).unwrap_err();
        assert_eq!(reused.code(), "ledger_reference_reused");
        let reused = write(&pool, |c| post(c, &Posting { year: 2027, ..premium("run-1", 9000) })).unwrap_err();
        assert_eq!(reused.code(), "ledger_reference_reused");
        // The same reference under another kind is another movement.
        let subsidy = Posting {
            kind: Movement::SubsidyReceived,
            lines: vec![(Account::FundPool, Fen(5)), (Account::SubsidyIncome, Fen(-5))],
            ..premium("run-1", 0)
        };
        assert!(write(&pool, |c| post(c, &subsidy)).unwrap().is_new());

        // Refused, nothing written.
        let refused = [
            (
                Posting {
                    lines: vec![(Account::FundPool, Fen(5)), (Account::PremiumIncome, Fen(-4))],
                    ..premium("x", 0)
                },
                "ledger_unbalanced",
            ),
            (Posting { lines: vec![], ..premium("x", 0) }, "ledger_posting_empty"),
            (premium("x", 0), "ledger_zero_line"),
            (Posting { county_code: "210800".into(), ..premium("x", 1) }, "ledger_county_invalid"),
            (Posting { reference: String::new(), ..premium("x", 1) }, "ledger_reference_invalid"),
            (Posting { reference: "a\nb".into(), ..premium("x", 1) }, "ledger_reference_invalid"),
            (Posting { year: 0, ..premium("x", 1) }, "ledger_year_invalid"),
        ];
        for (posting, code) in refused {
            assert_eq!(write(&pool, |c| post(c, &posting)).unwrap_err().code(), code, "{posting:?}");
        }

        // The subsidy is counted before it is chained, and the check agrees.
        let report =
            pool.run_blocking(false, |c| super::super::ledger_check::check(c, None).map_err(ApiError::from)).unwrap();
        assert!(report.is_clean(), "{:?}", report.violations);
        assert_eq!((report.transactions, report.unchained), (3, 1));
        write(&pool, |c| chain(c, county.as_str())).unwrap();
        let listed = pool.run_blocking(false, |c| transactions(c, &county, None, 0, 10)).unwrap();
        assert_eq!(listed.iter().map(|t| t.seq).collect::<Vec<_>>(), vec![1, 2, 3]);
        assert_eq!(listed[0], first);
        let years = pool.run_blocking(false, |c| balances(c, &county, Some(2026))).unwrap();
        assert_eq!(years.len(), 1);
        let b = &years[0].balances;
        assert_eq!(
            (b.fund_pool, b.premium_income, b.subsidy_income, b.paid_out),
            (Fen(9105), Fen(-9100), Fen(-5), Fen(0))
        );

        let report =
            pool.run_blocking(false, |c| super::super::ledger_check::check(c, None).map_err(ApiError::from)).unwrap();
        assert!(report.is_clean(), "{:?}", report.violations);
        assert_eq!((report.counties, report.transactions, report.entries, report.balances), (1, 3, 6, 3));
    }
}
