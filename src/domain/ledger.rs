//! The fund ledger's rules, without storage: accounts, kinds of movement, balanced
//! postings and the hash chain that links a county's transactions.
//!
//! # Sign convention
//!
//! Every entry is a signed amount in fen. The entries of one transaction sum to
//! exactly zero, so every balance of a county and year (the sum of its entries per
//! account) also sums to zero over all accounts. A movement moves an amount `X` from
//! one account to another: the account it goes to gets `+X`, the one it comes from
//! `-X`. So `fund_pool` holds the fund's money as a positive balance, the accounts
//! money came from (`premium_income`, `subsidy_income`) are negative, and what sits in
//! `reimbursement_payable`, `bank_clearing` and `recoveries_receivable` is money on
//! its way (owed to patients, handed to the bank, owed back to the fund).
//!
//! # What each movement touches
//!
//! `X` is the movement's amount (positive); each reference is unique per county and
//! kind.
//!
//! | movement | to (`+X`) | from (`-X`) | reference |
//! | --- | --- | --- | --- |
//! | `premium_collected` | `fund_pool` | `premium_income` | `premiums:{uuid}` |
//! | `subsidy_received` | `fund_pool` | `subsidy_income` | the document number |
//! | `claim_approved` | `reimbursement_payable` | `fund_pool` | `{setl_id}` |
//! | `payment_sent` (the bank paid onto the card) | `bank_clearing` | `reimbursement_payable` | `payment:{payment_id}` |
//! | `claim_cancelled` (before payment) | `fund_pool` | `reimbursement_payable` | `cancel:{setl_id}` |
//! | `claim_cancelled` (after payment: owed back) | `recoveries_receivable` | `bank_clearing` | `cancel:{setl_id}` |
//! | `recovery` (collected) | `fund_pool` | `recoveries_receivable` | `recovery:{payment_id}` |
//! | `recovery` (written off) | `paid_out` | `recoveries_receivable` | `write_off:{payment_id}` |
//!
//! A payment that failed posts nothing (`payment_failed` is not posted): the amount
//! stays payable until the payment is paid or withdrawn.
//!
//! The ledger itself checks balance, not which accounts a movement uses: the table is
//! the convention its posters follow.
//!
//! # Hash chain
//!
//! Each transaction stores `hash = chain_hash(prev_hash, canonical_text(..))`, where
//! `prev_hash` is the hash of the county's previous transaction ([`GENESIS_HASH`] for
//! the first). Changing any stored field of any transaction, or removing or inserting
//! one, breaks the chain from that point on. See [`canonical_text`] for the exact text.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::Fen;

/// An account of a county's fund, kept per year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Account {
    /// The pooled fund's money (asset).
    FundPool,
    /// Premiums collected from enrollees (income).
    PremiumIncome,
    /// Government subsidies received (income).
    SubsidyIncome,
    /// Money handed to the bank for payment and not yet settled (clearing).
    BankClearing,
    /// Approved reimbursement owed to patients (liability).
    ReimbursementPayable,
    /// Reimbursement charged to the fund (expense).
    PaidOut,
    /// Money the fund is owed back, e.g. for a claim cancelled after payment (asset).
    RecoveriesReceivable,
}

impl Account {
    /// Every account, in the order balances are shown.
    pub const ALL: [Account; 7] = [
        Account::FundPool,
        Account::PremiumIncome,
        Account::SubsidyIncome,
        Account::BankClearing,
        Account::ReimbursementPayable,
        Account::PaidOut,
        Account::RecoveriesReceivable,
    ];

    /// The stable name, as stored and sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            Account::FundPool => "fund_pool",
            Account::PremiumIncome => "premium_income",
            Account::SubsidyIncome => "subsidy_income",
            Account::BankClearing => "bank_clearing",
            Account::ReimbursementPayable => "reimbursement_payable",
            Account::PaidOut => "paid_out",
            Account::RecoveriesReceivable => "recoveries_receivable",
        }
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not one of [`Account::ALL`] or [`Movement::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown ledger name {0:?}")]
pub struct UnknownName(pub String);

impl FromStr for Account {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Account::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| UnknownName(s.to_string()))
    }
}

/// The kind of a ledger transaction; one (county, kind, reference) is posted once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Movement {
    /// Premiums a debit run collected.
    PremiumCollected,
    /// A government subsidy paid into the county fund.
    SubsidyReceived,
    /// A claim's reimbursement approved.
    ClaimApproved,
    /// A payment instruction handed to the bank.
    PaymentSent,
    /// The bank reported a payment failed.
    PaymentFailed,
    /// A claim cancelled or reversed.
    ClaimCancelled,
    /// Money recovered into the fund.
    Recovery,
}

impl Movement {
    /// Every kind.
    pub const ALL: [Movement; 7] = [
        Movement::PremiumCollected,
        Movement::SubsidyReceived,
        Movement::ClaimApproved,
        Movement::PaymentSent,
        Movement::PaymentFailed,
        Movement::ClaimCancelled,
        Movement::Recovery,
    ];

    /// The stable name, as stored, hashed and sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            Movement::PremiumCollected => "premium_collected",
            Movement::SubsidyReceived => "subsidy_received",
            Movement::ClaimApproved => "claim_approved",
            Movement::PaymentSent => "payment_sent",
            Movement::PaymentFailed => "payment_failed",
            Movement::ClaimCancelled => "claim_cancelled",
            Movement::Recovery => "recovery",
        }
    }
}

impl fmt::Display for Movement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Movement {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Movement::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| UnknownName(s.to_string()))
    }
}

/// Who pays a government subsidy into a county fund.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubsidySource {
    Central,
    Provincial,
    Municipal,
    County,
}

impl SubsidySource {
    /// Every source.
    pub const ALL: [SubsidySource; 4] =
        [SubsidySource::Central, SubsidySource::Provincial, SubsidySource::Municipal, SubsidySource::County];

    /// The stable name, as stored and sent.
    pub const fn as_str(self) -> &'static str {
        match self {
            SubsidySource::Central => "central",
            SubsidySource::Provincial => "provincial",
            SubsidySource::Municipal => "municipal",
            SubsidySource::County => "county",
        }
    }
}

impl FromStr for SubsidySource {
    type Err = UnknownName;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SubsidySource::ALL.into_iter().find(|m| m.as_str() == s).ok_or_else(|| UnknownName(s.to_string()))
    }
}

/// Why a set of lines is not a posting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PostingError {
    /// No lines at all.
    #[error("a posting needs at least two lines")]
    Empty,
    /// A line of zero fen (its number counts from 1): it would move nothing.
    #[error("line {0} moves zero fen")]
    ZeroLine(usize),
    /// The running sum left the range of `i64` fen.
    #[error("the lines' sum overflows")]
    Overflow,
    /// The lines do not sum to zero; the sum is given.
    #[error("the lines sum to {0} fen, not zero")]
    Unbalanced(i64),
}

impl PostingError {
    /// The stable code.
    pub const fn code(self) -> &'static str {
        match self {
            PostingError::Empty => "ledger_posting_empty",
            PostingError::ZeroLine(_) => "ledger_zero_line",
            PostingError::Overflow => "ledger_overflow",
            PostingError::Unbalanced(_) => "ledger_unbalanced",
        }
    }
}

/// Lines that sum to zero, none of them zero: the only thing a transaction may hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BalancedLines(Vec<(Account, Fen)>);

impl BalancedLines {
    /// Checks `lines`: at least one, none zero, a running sum that never overflows,
    /// and a total of zero (so a balanced set has at least two lines).
    pub fn new(lines: Vec<(Account, Fen)>) -> Result<BalancedLines, PostingError> {
        if lines.is_empty() {
            return Err(PostingError::Empty);
        }
        let mut sum = Fen::ZERO;
        for (i, (_, amount)) in lines.iter().enumerate() {
            if *amount == Fen::ZERO {
                return Err(PostingError::ZeroLine(i + 1));
            }
            sum = sum.checked_add(*amount).ok_or(PostingError::Overflow)?;
        }
        if sum != Fen::ZERO {
            return Err(PostingError::Unbalanced(sum.get()));
        }
        Ok(BalancedLines(lines))
    }

    /// The lines, in their order (line `n` is at index `n - 1`).
    pub fn lines(&self) -> &[(Account, Fen)] {
        &self.0
    }

    /// The lines, owned.
    pub fn into_lines(self) -> Vec<(Account, Fen)> {
        self.0
    }
}

/// Builds a [`BalancedLines`] one line at a time.
#[derive(Debug, Clone, Default)]
pub struct PostingBuilder {
    lines: Vec<(Account, Fen)>,
}

impl PostingBuilder {
    /// No lines yet.
    pub fn new() -> Self {
        PostingBuilder::default()
    }

    /// Adds a debit (`amount` positive) or credit (`amount` negative) line.
    pub fn line(mut self, account: Account, amount: Fen) -> Self {
        self.lines.push((account, amount));
        self
    }

    /// Adds `+amount` to `debit` and `-amount` to `credit`; an amount whose negation
    /// does not exist (`i64::MIN`) is refused by [`PostingBuilder::build`] as overflow.
    pub fn transfer(self, debit: Account, credit: Account, amount: Fen) -> Self {
        match amount.get().checked_neg() {
            Some(negated) => self.line(debit, amount).line(credit, Fen(negated)),
            // Two lines that cannot sum to zero within i64: `build` reports overflow.
            None => self.line(debit, amount).line(credit, amount),
        }
    }

    /// The checked lines.
    pub fn build(self) -> Result<BalancedLines, PostingError> {
        BalancedLines::new(self.lines)
    }
}

/// The previous hash of a county's first transaction.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The fields of a transaction that its hash covers.
#[derive(Debug, Clone, Copy)]
pub struct Canonical<'a> {
    pub county_code: &'a str,
    pub year: i32,
    pub seq: i64,
    pub kind: &'a str,
    pub reference: &'a str,
    pub created_at: NaiveDateTime,
    /// `(account name, amount)` in line order.
    pub entries: &'a [(&'a str, i64)],
}

/// The canonical text of a transaction, version 1: one field per line, `\n`
/// separated, no trailing newline:
///
/// ```text
/// healthcard-ledger-v1
/// county:<byte length>:<county code>
/// year:<year>
/// seq:<seq>
/// kind:<byte length>:<kind>
/// reference:<byte length>:<reference>
/// created_at:<YYYY-MM-DDTHH:MM:SS.ffffff>
/// entry:<line>:<byte length>:<account>:<amount in fen>
/// ```
///
/// with one `entry` line per entry, lines numbered from 1. Text fields carry their
/// length so that no reference (which a caller chooses) can imitate another field.
/// Times have exactly microseconds, the precision both backends store.
pub fn canonical_text(tx: &Canonical<'_>) -> String {
    use std::fmt::Write;
    let mut text = String::from("healthcard-ledger-v1");
    // Writing to a String cannot fail.
    let _ = write!(text, "\ncounty:{}:{}", tx.county_code.len(), tx.county_code);
    let _ = write!(text, "\nyear:{}", tx.year);
    let _ = write!(text, "\nseq:{}", tx.seq);
    let _ = write!(text, "\nkind:{}:{}", tx.kind.len(), tx.kind);
    let _ = write!(text, "\nreference:{}:{}", tx.reference.len(), tx.reference);
    let _ = write!(text, "\ncreated_at:{}", tx.created_at.format("%Y-%m-%dT%H:%M:%S%.6f"));
    for (i, (account, amount)) in tx.entries.iter().enumerate() {
        let _ = write!(text, "\nentry:{}:{}:{}:{}", i + 1, account.len(), account, amount);
    }
    text
}

/// `hex(SHA-256(previous_hash || "\n" || canonical_text))`, lower case.
pub fn chain_hash(previous_hash: &str, canonical_text: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(previous_hash.as_bytes());
    hasher.update(b"\n");
    hasher.update(canonical_text.as_bytes());
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use proptest::prelude::*;

    fn at() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2026, 12, 4).unwrap().and_hms_micro_opt(8, 30, 1, 123456).unwrap()
    }

    #[test]
    fn names_round_trip_and_serialise_in_snake_case() {
        for a in Account::ALL {
            assert_eq!(a.as_str().parse::<Account>().unwrap(), a);
            assert_eq!(crate::domain::serialized(&a), a.as_str());
        }
        for m in Movement::ALL {
            assert_eq!(m.as_str().parse::<Movement>().unwrap(), m);
            assert_eq!(crate::domain::serialized(&m), m.as_str());
        }
        assert!("cash".parse::<Account>().is_err());
        assert!("refund".parse::<Movement>().is_err());
        assert_eq!(Account::RecoveriesReceivable.as_str(), "recoveries_receivable");
        assert_eq!(Movement::SubsidyReceived.as_str(), "subsidy_received");
        for s in SubsidySource::ALL {
            assert_eq!(s.as_str().parse::<SubsidySource>().unwrap(), s);
            assert_eq!(crate::domain::serialized(&s), s.as_str());
        }
        assert!("township".parse::<SubsidySource>().is_err());
    }

    #[test]
    fn a_transfer_is_balanced() {
        let lines =
            PostingBuilder::new().transfer(Account::FundPool, Account::SubsidyIncome, Fen(500)).build().unwrap();
        assert_eq!(lines.lines(), &[(Account::FundPool, Fen(500)), (Account::SubsidyIncome, Fen(-500))]);
    }

    #[test]
    fn bad_postings_are_refused_with_their_reason() {
        assert_eq!(PostingBuilder::new().build(), Err(PostingError::Empty));
        let zero = PostingBuilder::new().line(Account::FundPool, Fen(0)).line(Account::PaidOut, Fen(0));
        assert_eq!(zero.build(), Err(PostingError::ZeroLine(1)));
        let one = PostingBuilder::new().line(Account::FundPool, Fen(7));
        assert_eq!(one.build(), Err(PostingError::Unbalanced(7)));
        let off = PostingBuilder::new().line(Account::FundPool, Fen(7)).line(Account::PremiumIncome, Fen(-6));
        assert_eq!(off.build(), Err(PostingError::Unbalanced(1)));
        let big = PostingBuilder::new().line(Account::FundPool, Fen(i64::MAX)).line(Account::FundPool, Fen(1));
        assert_eq!(big.build(), Err(PostingError::Overflow));
        let min = PostingBuilder::new().transfer(Account::FundPool, Account::PaidOut, Fen(i64::MIN));
        assert_eq!(min.build(), Err(PostingError::Overflow));
        assert_eq!(PostingError::Unbalanced(1).code(), "ledger_unbalanced");
    }

    #[test]
    fn the_canonical_text_is_as_documented() {
        let entries = [("fund_pool", 500), ("subsidy_income", -500)];
        let tx = Canonical {
            county_code: "210804",
            year: 2026,
            seq: 3,
            kind: "subsidy_received",
            reference: "CZ-2026-01",
            created_at: at(),
            entries: &entries,
        };
        assert_eq!(
            canonical_text(&tx),
            "healthcard-ledger-v1\ncounty:6:210804\nyear:2026\nseq:3\nkind:16:subsidy_received\n\
             reference:10:CZ-2026-01\ncreated_at:2026-12-04T08:30:01.123456\n\
             entry:1:9:fund_pool:500\nentry:2:14:subsidy_income:-500"
        );
        let hash = chain_hash(GENESIS_HASH, &canonical_text(&tx));
        assert_eq!(hash.len(), 64);
        assert!(hash.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        // Values from `printf 'abc\nxyz' | sha256sum`: the framing is exactly as documented.
        assert_eq!(chain_hash("abc", "xyz"), "042f01ade2c5988edbe230efc3f48fdcdbbe493931de8cae8bd02156802b77cd");
        assert_eq!(chain_hash("", ""), "01ba4719c80b6fe911b091a7c05124b64eeece964e09c058ef8f9805daca546b");
    }

    fn account() -> impl Strategy<Value = Account> {
        proptest::sample::select(Account::ALL.to_vec())
    }

    /// Lines that sum to zero: random non-zero amounts, then one closing line.
    fn balanced() -> impl Strategy<Value = Vec<(Account, Fen)>> {
        proptest::collection::vec(
            (account(), (1i64..=1_000_000_000_000).prop_flat_map(|v| prop_oneof![Just(v), Just(-v)])),
            1..8,
        )
        .prop_filter_map("closing line would be zero", |mut lines| {
            let sum: i64 = lines.iter().map(|(_, a)| a).sum();
            if sum == 0 {
                return None;
            }
            lines.push((Account::FundPool, -sum));
            Some(lines.into_iter().map(|(a, v)| (a, Fen(v))).collect())
        })
    }

    proptest! {
        #[test]
        fn any_balanced_posting_is_accepted(lines in balanced()) {
            let built = BalancedLines::new(lines.clone()).unwrap();
            prop_assert_eq!(built.into_lines(), lines);
        }

        #[test]
        fn any_unbalanced_posting_is_refused(lines in balanced(), index in any::<prop::sample::Index>(), delta in 1i64..1000) {
            let mut lines = lines;
            let i = index.index(lines.len());
            lines[i].1 = Fen(lines[i].1.get() + delta);
            let refused = BalancedLines::new(lines.clone()).unwrap_err();
            if lines[i].1 == Fen::ZERO {
                prop_assert_eq!(refused, PostingError::ZeroLine(i + 1));
            } else {
                prop_assert_eq!(refused, PostingError::Unbalanced(delta));
            }
        }

        #[test]
        fn changing_any_field_changes_the_hash(
            field in 0usize..8,
            reference in "[A-Za-z0-9-]{1,20}",
            amount in 1i64..1_000_000_000_000,
            prev in "[0-9a-f]{64}",
        ) {
            let entries = [("fund_pool", amount), ("premium_income", -amount)];
            let base = Canonical {
                county_code: "210804", year: 2026, seq: 1, kind: "premium_collected",
                reference: &reference, created_at: at(), entries: &entries,
            };
            let original = chain_hash(&prev, &canonical_text(&base));
            let other_reference = format!("{reference}x");
            let other_entries = [("fund_pool", amount + 1), ("premium_income", -amount - 1)];
            let swapped = [("premium_income", -amount), ("fund_pool", amount)];
            let mut changed = base;
            let mut other_prev = prev.clone();
            match field {
                0 => changed.county_code = "210803",
                1 => changed.year = 2027,
                2 => changed.seq = 2,
                3 => changed.kind = "subsidy_received",
                4 => changed.reference = &other_reference,
                5 => changed.created_at = at() + chrono::TimeDelta::microseconds(1),
                6 => changed.entries = if amount % 2 == 0 { &other_entries } else { &swapped },
                _ => other_prev = format!("{}{}", &prev[..63], if prev.ends_with('0') { '1' } else { '0' }),
            }
            prop_assert_ne!(original, chain_hash(&other_prev, &canonical_text(&changed)));
        }
    }
}
