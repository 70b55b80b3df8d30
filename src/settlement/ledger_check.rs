//! Verifying the fund ledger from its rows alone (`healthcard ledger check`): every
//! transaction balances, every county's chain is contiguous and every hash link and
//! hash is right, the head rows agree with the chains, and every balance the service
//! serves (summed by the database) equals the balance re-derived entry by entry here.
//!
//! The triggers keep the service and anyone using its database from changing posted
//! rows; this check is what finds a change made around them (a dropped trigger, a
//! restored backup, an edit of the files).

use std::collections::{BTreeMap, HashMap};

use diesel::connection::SimpleConnection;
use serde::Serialize;

use super::ledger::canonical_of;
use super::repo::ledger::{self as repo, EntryRow, TransactionRow};
use crate::db::DbConnection;
use crate::domain::Fen;
use crate::domain::ledger::{Account, BalancedLines, GENESIS_HASH, Movement, chain_hash};

/// Transactions read per query.
const CHUNK: i64 = 1000;
/// An unchained transaction older than this means the chainer has not run (the
/// settlement service is stopped, or failing): reported, since nothing links it.
const STALE_UNCHAINED: chrono::TimeDelta = chrono::TimeDelta::minutes(10);

fn entries_by_transaction(
    conn: &mut DbConnection,
    rows: &[TransactionRow],
) -> diesel::QueryResult<HashMap<String, Vec<EntryRow>>> {
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut by_tx: HashMap<String, Vec<EntryRow>> = HashMap::new();
    for e in repo::entries_of(conn, &ids)? {
        by_tx.entry(e.transaction_id.clone()).or_default().push(e);
    }
    Ok(by_tx)
}

/// One thing found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub county_code: String,
    /// The transaction it concerns, if one.
    pub seq: Option<i64>,
    /// Stable code: `seq_gap`, `broken_link`, `hash_mismatch`, `unbalanced`,
    /// `entries_mismatch`, `unknown_kind`, `unknown_account`, `head_mismatch`,
    /// `orphan_entries`, `balance_mismatch`, `year_unbalanced`, `unchained_stale`.
    pub code: &'static str,
    pub detail: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.seq {
            Some(seq) => write!(f, "county {} seq {}: {}: {}", self.county_code, seq, self.code, self.detail),
            None => write!(f, "county {}: {}: {}", self.county_code, self.code, self.detail),
        }
    }
}

/// What was checked, and what was wrong.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct CheckReport {
    pub counties: u64,
    /// Every transaction, chained or not.
    pub transactions: u64,
    /// Of those, the ones posted but not yet chained: checked but for their links.
    pub unchained: u64,
    pub entries: u64,
    /// (county, year, account) balances compared.
    pub balances: u64,
    pub violations: Vec<Violation>,
}

impl CheckReport {
    /// Whether nothing was wrong.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Checks every county's ledger, or only `county`'s. Runs in the caller's transaction;
/// on PostgreSQL it asks for one snapshot (REPEATABLE READ), so that postings made
/// while it runs are not mistaken for violations. Call it first in its transaction.
pub fn check(conn: &mut DbConnection, county: Option<&str>) -> diesel::QueryResult<CheckReport> {
    if let DbConnection::Pg(pg) = conn {
        pg.batch_execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
    }
    let mut report = CheckReport::default();
    for county in repo::counties(conn, county)? {
        report.counties += 1;
        check_county(conn, &county, &mut report)?;
    }
    Ok(report)
}

/// The state of one county's walk along its chain.
struct Walk<'r> {
    county: String,
    expected_seq: i64,
    prev_hash: String,
    derived: BTreeMap<(i32, String), i128>,
    entries: u64,
    report: &'r mut CheckReport,
}

impl Walk<'_> {
    fn violation(&mut self, seq: Option<i64>, code: &'static str, detail: String) {
        self.report.violations.push(Violation { county_code: self.county.clone(), seq, code, detail });
    }

    /// A chained transaction: its contents and its link.
    fn transaction(&mut self, tx: &TransactionRow, entries: &[EntryRow]) {
        let (Some(seq), Some(prev_hash), Some(hash)) = (tx.seq, tx.prev_hash.as_deref(), tx.hash.as_deref()) else {
            return;
        };
        if seq != self.expected_seq {
            self.violation(Some(seq), "seq_gap", format!("expected seq {}, found {seq}", self.expected_seq));
        }
        if prev_hash != self.prev_hash {
            self.violation(
                Some(seq),
                "broken_link",
                format!("prev_hash {prev_hash} is not the previous hash {}", self.prev_hash),
            );
        }
        self.contents(Some(seq), tx, entries);
        let recomputed = chain_hash(prev_hash, &canonical_of(tx, seq, entries));
        if recomputed != hash {
            self.violation(Some(seq), "hash_mismatch", format!("stored hash {hash}, recomputed {recomputed}"));
        }
        // The stored hash carries the chain on, so one changed transaction is reported
        // once and not again for every transaction after it.
        self.prev_hash = hash.to_string();
        self.expected_seq = seq.saturating_add(1);
    }

    /// A transaction posted and not yet chained: its contents; one the chainer should
    /// have linked long ago is reported.
    fn unchained(&mut self, tx: &TransactionRow, entries: &[EntryRow], stale_before: chrono::NaiveDateTime) {
        self.report.unchained += 1;
        if tx.created_at < stale_before {
            self.violation(
                None,
                "unchained_stale",
                format!(
                    "transaction {} of {} is not chained yet (is the settlement service running?)",
                    tx.id, tx.created_at
                ),
            );
        }
        self.contents(None, tx, entries);
    }

    /// What every transaction is checked for: its kind, its entries, its balance.
    fn contents(&mut self, seq: Option<i64>, tx: &TransactionRow, entries: &[EntryRow]) {
        self.report.transactions += 1;
        self.entries += entries.len() as u64;
        if tx.kind.parse::<Movement>().is_err() {
            self.violation(seq, "unknown_kind", format!("kind {:?}", tx.kind));
        }
        let mut lines = Vec::with_capacity(entries.len());
        for (i, e) in entries.iter().enumerate() {
            if usize::try_from(e.line).ok() != Some(i + 1) || e.county_code != tx.county_code || e.year != tx.year {
                self.violation(
                    seq,
                    "entries_mismatch",
                    format!(
                        "entry line {} (county {}, year {}) does not follow its transaction",
                        e.line, e.county_code, e.year
                    ),
                );
            }
            match e.account.parse::<Account>() {
                Ok(account) => lines.push((account, Fen(e.amount))),
                Err(_) => self.violation(seq, "unknown_account", format!("line {}: account {:?}", e.line, e.account)),
            }
            let balance = self.derived.entry((e.year, e.account.clone())).or_default();
            *balance += i128::from(e.amount);
        }
        if let Err(e) = BalancedLines::new(lines) {
            let sum: i128 = entries.iter().map(|e| i128::from(e.amount)).sum();
            self.violation(seq, "unbalanced", format!("{e} (entries sum to {sum} fen)"));
        }
    }
}

fn check_county(conn: &mut DbConnection, county: &str, report: &mut CheckReport) -> diesel::QueryResult<()> {
    let mut walk = Walk {
        county: county.to_string(),
        expected_seq: 1,
        prev_hash: GENESIS_HASH.to_string(),
        derived: BTreeMap::new(),
        entries: 0,
        report,
    };
    let mut after = 0;
    let mut last_seq = 0;
    loop {
        let rows = repo::transactions_after(conn, county, None, after, CHUNK)?;
        let Some(last_chained) = rows.last().and_then(|r| r.seq) else { break };
        after = last_chained;
        last_seq = last_chained;
        let mut by_tx = entries_by_transaction(conn, &rows)?;
        for tx in &rows {
            let entries = by_tx.remove(&tx.id).unwrap_or_default();
            walk.transaction(tx, &entries);
        }
    }
    // Posted since the chainer last ran: read in one snapshot with the chain, so each
    // transaction is met once, chained or not.
    let stale_before = crate::db::now() - STALE_UNCHAINED;
    let mut after_id = String::new();
    loop {
        let rows = repo::unchained_after(conn, county, &after_id, CHUNK)?;
        let Some(last) = rows.last() else { break };
        after_id = last.id.clone();
        let mut by_tx = entries_by_transaction(conn, &rows)?;
        for tx in &rows {
            let entries = by_tx.remove(&tx.id).unwrap_or_default();
            walk.unchained(tx, &entries, stale_before);
        }
    }

    let head = repo::heads(conn, Some(county))?.pop();
    let (head_seq, head_hash) = head.map_or((0, GENESIS_HASH.to_string()), |h| (h.seq, h.hash));
    if head_seq != last_seq || head_hash != walk.prev_hash {
        walk.violation(
            None,
            "head_mismatch",
            format!(
                "head says seq {head_seq} hash {head_hash}, the chain ends at seq {last_seq} hash {}",
                walk.prev_hash
            ),
        );
    }

    let stored_entries = repo::entry_count(conn, county)?;
    if u64::try_from(stored_entries).ok() != Some(walk.entries) {
        walk.violation(
            None,
            "orphan_entries",
            format!("{stored_entries} entries name the county, {} belong to its transactions", walk.entries),
        );
    }

    // The balances as the service serves them (summed by the database), against the
    // balances summed here entry by entry.
    let served: BTreeMap<(i32, String), i128> =
        repo::balances(conn, county, None)?.into_iter().map(|b| ((b.year, b.account), i128::from(b.balance))).collect();
    let derived = std::mem::take(&mut walk.derived);
    walk.report.entries += walk.entries;
    walk.report.balances += derived.len() as u64;
    for (key, value) in &derived {
        let got = served.get(key).copied().unwrap_or(0);
        if got != *value {
            walk.violation(None, "balance_mismatch", format!("{} {}: served {got}, re-derived {value}", key.0, key.1));
        }
    }
    for (key, value) in served.iter().filter(|(k, _)| !derived.contains_key(*k)) {
        walk.violation(None, "balance_mismatch", format!("{} {}: served {value}, re-derived 0", key.0, key.1));
    }
    let mut per_year: BTreeMap<i32, i128> = BTreeMap::new();
    for ((year, _), value) in &derived {
        *per_year.entry(*year).or_default() += value;
    }
    for (year, sum) in per_year.into_iter().filter(|(_, s)| *s != 0) {
        walk.violation(None, "year_unbalanced", format!("the balances of {year} sum to {sum} fen, not zero"));
    }
    Ok(())
}
