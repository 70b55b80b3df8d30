//! A fund year's money figures, derived from its ledger entries by the posting
//! convention of [`super::ledger`]: what came in (premiums, subsidies), what was
//! approved, paid and cancelled, what is owed back and what came back, and the fund's
//! use ratio (paid out over income), per month and for the year.
//!
//! The input is one sum per (month, kind of movement, account); everything else
//! follows from the table in [`super::ledger`]:
//!
//! | figure | from |
//! | --- | --- |
//! | `premiums`, `subsidies` | minus the entries of `premium_income`, `subsidy_income` |
//! | `approved` | `claim_approved` into `reimbursement_payable` |
//! | `cancelled` | `claim_cancelled`: out of `reimbursement_payable` (before payment) plus into `recoveries_receivable` (after payment) |
//! | `paid` | `payment_sent` into `bank_clearing`: what the bank paid onto cards |
//! | `recoveries_owed` | `claim_cancelled` into `recoveries_receivable` |
//! | `recoveries_collected`, `written_off` | `recovery` into `fund_pool`, into `paid_out` |
//! | `paid_out` | `paid` minus `recoveries_collected`: what left the fund for good |
//! | `balance`, `payable`, `recoveries_outstanding` | the balances of `fund_pool`, `reimbursement_payable`, `recoveries_receivable` |
//!
//! The use ratio is `paid_out * 10000 / income` in basis points, rounded half up, and
//! absent while there is no income.

use serde::Serialize;

use super::Fen;
use super::ledger::{Account, Movement};
use super::month::Month;

/// The sum of one account's entries, of one kind of movement, in one month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthSum {
    pub month: Month,
    pub kind: Movement,
    pub account: Account,
    pub amount: Fen,
}

/// What moved in a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Flows {
    pub premiums: Fen,
    pub subsidies: Fen,
    /// Premiums and subsidies.
    pub income: Fen,
    /// Reimbursement approved for claims.
    pub approved: Fen,
    /// Approved reimbursement taken back by a cancel, before or after payment.
    pub cancelled: Fen,
    /// Paid onto patients' cards by the bank.
    pub paid: Fen,
    /// Paid for claims cancelled afterwards: owed back to the fund.
    pub recoveries_owed: Fen,
    /// Owed back and collected into the fund.
    pub recoveries_collected: Fen,
    /// Owed back and written off as the fund's loss.
    pub written_off: Fen,
    /// `paid` less `recoveries_collected`.
    pub paid_out: Fen,
}

/// Where the money stands at the end of a period.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Positions {
    /// The fund pool: the money the fund holds.
    pub balance: Fen,
    /// Approved and not yet paid.
    pub payable: Fen,
    /// Owed back and not yet collected or written off.
    pub recoveries_outstanding: Fen,
}

/// One month of a fund year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MonthFigures {
    pub month: Month,
    /// What moved in the month.
    #[serde(flatten)]
    pub flows: Flows,
    /// At the end of the month.
    #[serde(flatten)]
    pub positions: Positions,
    /// From the start of the fund year to the end of the month.
    pub use_ratio_bp: Option<i64>,
}

/// A fund year: its totals and its months, in order, each month that had a movement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundFigures {
    pub totals: Flows,
    pub positions: Positions,
    pub use_ratio_bp: Option<i64>,
    pub months: Vec<MonthFigures>,
}

/// A sum too large for an amount: the entries are not what the service posts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a fund figure does not fit in an amount")]
pub struct FiguresOverflow;

fn add(a: Fen, b: Fen) -> Result<Fen, FiguresOverflow> {
    a.checked_add(b).ok_or(FiguresOverflow)
}

fn sub(a: Fen, b: Fen) -> Result<Fen, FiguresOverflow> {
    a.checked_sub(b).ok_or(FiguresOverflow)
}

impl Flows {
    /// Adds one sum to the flows it belongs to.
    fn take(&mut self, kind: Movement, account: Account, amount: Fen) -> Result<(), FiguresOverflow> {
        match (kind, account) {
            (_, Account::PremiumIncome) => self.premiums = sub(self.premiums, amount)?,
            (_, Account::SubsidyIncome) => self.subsidies = sub(self.subsidies, amount)?,
            (Movement::ClaimApproved, Account::ReimbursementPayable) => self.approved = add(self.approved, amount)?,
            (Movement::ClaimCancelled, Account::ReimbursementPayable) => self.cancelled = sub(self.cancelled, amount)?,
            (Movement::ClaimCancelled, Account::RecoveriesReceivable) => {
                self.cancelled = add(self.cancelled, amount)?;
                self.recoveries_owed = add(self.recoveries_owed, amount)?;
            }
            (Movement::PaymentSent, Account::BankClearing) => self.paid = add(self.paid, amount)?,
            (Movement::Recovery, Account::FundPool) => {
                self.recoveries_collected = add(self.recoveries_collected, amount)?
            }
            (Movement::Recovery, Account::PaidOut) => self.written_off = add(self.written_off, amount)?,
            _ => {}
        }
        self.income = add(self.premiums, self.subsidies)?;
        self.paid_out = sub(self.paid, self.recoveries_collected)?;
        Ok(())
    }

    /// The sum of two periods' flows.
    fn plus(&self, other: &Flows) -> Result<Flows, FiguresOverflow> {
        Ok(Flows {
            premiums: add(self.premiums, other.premiums)?,
            subsidies: add(self.subsidies, other.subsidies)?,
            income: add(self.income, other.income)?,
            approved: add(self.approved, other.approved)?,
            cancelled: add(self.cancelled, other.cancelled)?,
            paid: add(self.paid, other.paid)?,
            recoveries_owed: add(self.recoveries_owed, other.recoveries_owed)?,
            recoveries_collected: add(self.recoveries_collected, other.recoveries_collected)?,
            written_off: add(self.written_off, other.written_off)?,
            paid_out: add(self.paid_out, other.paid_out)?,
        })
    }
}

impl Positions {
    fn take(&mut self, account: Account, amount: Fen) -> Result<(), FiguresOverflow> {
        match account {
            Account::FundPool => self.balance = add(self.balance, amount)?,
            Account::ReimbursementPayable => self.payable = add(self.payable, amount)?,
            Account::RecoveriesReceivable => self.recoveries_outstanding = add(self.recoveries_outstanding, amount)?,
            _ => {}
        }
        Ok(())
    }
}

/// `paid_out * 10000 / income` in basis points, rounded half up; `None` without
/// income.
pub fn use_ratio_bp(paid_out: Fen, income: Fen) -> Option<i64> {
    if income.get() <= 0 {
        return None;
    }
    let (numerator, income) = (i128::from(paid_out.get()) * 10_000, i128::from(income.get()));
    // floor((2n + d) / 2d) is n/d rounded half up, for either sign of n.
    i64::try_from((2 * numerator + income).div_euclid(2 * income)).ok()
}

/// The figures of a fund year from its sums (in any order), with a row for every
/// month that has a sum or is named in `also` (a month with claims but no movement).
pub fn figures(sums: &[MonthSum], also: &[Month]) -> Result<FundFigures, FiguresOverflow> {
    let mut names: Vec<Month> = sums.iter().map(|s| s.month).chain(also.iter().copied()).collect();
    names.sort_unstable();
    names.dedup();
    let mut months: Vec<MonthFigures> = Vec::with_capacity(names.len());
    let (mut totals, mut positions) = (Flows::default(), Positions::default());
    for month in names {
        let mut flows = Flows::default();
        // A year has at most a few hundred sums (months x kinds x accounts).
        for s in sums.iter().filter(|s| s.month == month) {
            flows.take(s.kind, s.account, s.amount)?;
            positions.take(s.account, s.amount)?;
        }
        totals = totals.plus(&flows)?;
        months.push(MonthFigures {
            month,
            flows,
            positions,
            use_ratio_bp: use_ratio_bp(totals.paid_out, totals.income),
        });
    }
    Ok(FundFigures { totals, positions, use_ratio_bp: use_ratio_bp(totals.paid_out, totals.income), months })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn month(text: &str) -> Month {
        Month::parse(text).unwrap()
    }

    /// The two entries of one movement of `amount` from `from` to `to`.
    fn movement(m: &str, kind: Movement, from: Account, to: Account, amount: i64) -> [MonthSum; 2] {
        [
            MonthSum { month: month(m), kind, account: to, amount: Fen(amount) },
            MonthSum { month: month(m), kind, account: from, amount: Fen(-amount) },
        ]
    }

    #[test]
    fn a_year_of_movements_adds_up_to_the_fen() {
        use Account::*;
        use Movement::*;
        let sums: Vec<MonthSum> = [
            movement("2026-01", PremiumCollected, PremiumIncome, FundPool, 380_000),
            movement("2026-01", SubsidyReceived, SubsidyIncome, FundPool, 610_000),
            // Three claims approved: 75,000, 50,000 and 20,000.
            movement("2026-02", ClaimApproved, FundPool, ReimbursementPayable, 145_000),
            // The first two paid.
            movement("2026-02", PaymentSent, ReimbursementPayable, BankClearing, 125_000),
            // The third cancelled before payment, the second after.
            movement("2026-03", ClaimCancelled, ReimbursementPayable, FundPool, 20_000),
            movement("2026-03", ClaimCancelled, BankClearing, RecoveriesReceivable, 50_000),
            // 30,000 of that collected, in a later sum of the same month.
            movement("2026-03", Recovery, RecoveriesReceivable, FundPool, 30_000),
        ]
        .concat();
        let f = figures(&sums, &[]).unwrap();
        let t = f.totals;
        assert_eq!((t.premiums, t.subsidies, t.income), (Fen(380_000), Fen(610_000), Fen(990_000)));
        assert_eq!((t.approved, t.cancelled, t.paid), (Fen(145_000), Fen(70_000), Fen(125_000)));
        assert_eq!((t.recoveries_owed, t.recoveries_collected, t.written_off), (Fen(50_000), Fen(30_000), Fen(0)));
        assert_eq!(t.paid_out, Fen(95_000));
        assert_eq!(
            f.positions,
            Positions {
                balance: Fen(990_000 - 145_000 + 20_000 + 30_000),
                payable: Fen(0),
                recoveries_outstanding: Fen(20_000)
            }
        );
        // 95,000 / 990,000 = 959.59... bp.
        assert_eq!(f.use_ratio_bp, Some(960));
        let months: Vec<String> = f.months.iter().map(|m| m.month.to_string()).collect();
        assert_eq!(months, ["2026-01", "2026-02", "2026-03"]);
        assert_eq!(f.months[0].use_ratio_bp, Some(0));
        assert_eq!(f.months[1].positions.payable, Fen(20_000));
        assert_eq!(f.months[1].use_ratio_bp, Some(1263), "125,000 / 990,000 to the end of February");
        assert_eq!(f.months[2].flows.paid, Fen(0));
        assert_eq!(f.months[2].positions, f.positions);
    }

    #[test]
    fn a_write_off_stays_paid_out() {
        use Account::*;
        use Movement::*;
        let sums = [
            movement("2026-05", PremiumCollected, PremiumIncome, FundPool, 1000),
            movement("2026-05", ClaimApproved, FundPool, ReimbursementPayable, 400),
            movement("2026-05", PaymentSent, ReimbursementPayable, BankClearing, 400),
            movement("2026-06", ClaimCancelled, BankClearing, RecoveriesReceivable, 400),
            movement("2026-07", Recovery, RecoveriesReceivable, PaidOut, 400),
        ]
        .concat();
        let f = figures(&sums, &[]).unwrap();
        assert_eq!((f.totals.written_off, f.totals.paid_out, f.use_ratio_bp), (Fen(400), Fen(400), Some(4000)));
        assert_eq!(f.positions, Positions { balance: Fen(600), payable: Fen(0), recoveries_outstanding: Fen(0) });
    }

    #[test]
    fn no_income_no_ratio_and_rounding_is_half_up() {
        assert_eq!(use_ratio_bp(Fen(5), Fen(0)), None);
        assert_eq!(use_ratio_bp(Fen(1), Fen(20_000)), Some(1), "0.5 bp rounds up");
        assert_eq!(use_ratio_bp(Fen(1), Fen(20_001)), Some(0));
        assert_eq!(use_ratio_bp(Fen(-1), Fen(20_000)), Some(0), "-0.5 bp rounds up too");
        assert_eq!(use_ratio_bp(Fen(i64::MAX), Fen(1)), None, "too large for a ratio");
        assert_eq!(
            figures(&[], &[]).unwrap(),
            FundFigures {
                totals: Flows::default(),
                positions: Positions::default(),
                use_ratio_bp: None,
                months: vec![]
            }
        );
    }

    #[test]
    fn a_month_without_movements_carries_the_positions_on() {
        use Account::*;
        use Movement::*;
        let sums = [
            movement("2026-03", PremiumCollected, PremiumIncome, FundPool, 1000),
            movement("2026-05", ClaimApproved, FundPool, ReimbursementPayable, 100),
        ]
        .concat();
        let f = figures(&sums, &[month("2026-04"), month("2026-05")]).unwrap();
        let april = &f.months[1];
        assert_eq!((april.month, april.flows), (month("2026-04"), Flows::default()));
        assert_eq!((april.positions.balance, april.use_ratio_bp), (Fen(1000), Some(0)));
        assert_eq!((f.months.len(), f.months[2].positions.balance), (3, Fen(900)));
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        let sums = [
            MonthSum {
                month: month("2026-01"),
                kind: Movement::PaymentSent,
                account: Account::BankClearing,
                amount: Fen(i64::MAX),
            },
            MonthSum {
                month: month("2026-02"),
                kind: Movement::PaymentSent,
                account: Account::BankClearing,
                amount: Fen(1),
            },
        ];
        assert_eq!(figures(&sums, &[]), Err(FiguresOverflow));
    }

    proptest! {
        /// Whatever the movements, the months add up to the year, and the positions
        /// are the balances of their accounts.
        #[test]
        fn months_add_up_to_the_year(amounts in proptest::collection::vec((0usize..7, 1u32..13, 1i64..1_000_000), 0..40)) {
            use Account::*;
            use Movement::*;
            let kinds = [
                (PremiumCollected, PremiumIncome, FundPool),
                (SubsidyReceived, SubsidyIncome, FundPool),
                (ClaimApproved, FundPool, ReimbursementPayable),
                (PaymentSent, ReimbursementPayable, BankClearing),
                (ClaimCancelled, ReimbursementPayable, FundPool),
                (ClaimCancelled, BankClearing, RecoveriesReceivable),
                (Recovery, RecoveriesReceivable, FundPool),
            ];
            let sums: Vec<MonthSum> = amounts
                .iter()
                .flat_map(|&(k, m, a)| {
                    let (kind, from, to) = kinds[k];
                    movement(&format!("2026-{m:02}"), kind, from, to, a)
                })
                .collect();
            let f = figures(&sums, &[]).unwrap();
            let mut year = Flows::default();
            for m in &f.months {
                year = year.plus(&m.flows).unwrap();
            }
            prop_assert_eq!(year, f.totals);
            let balance_of = |account: Account| Fen(sums.iter().filter(|s| s.account == account).map(|s| s.amount.get()).sum());
            prop_assert_eq!(f.positions.balance, balance_of(FundPool));
            prop_assert_eq!(f.positions.payable, balance_of(ReimbursementPayable));
            prop_assert_eq!(f.positions.recoveries_outstanding, balance_of(RecoveriesReceivable));
            prop_assert_eq!(f.totals.income, Fen(-balance_of(PremiumIncome).get() - balance_of(SubsidyIncome).get()));
            // The pool is what came in, less what was approved, plus what came back.
            let t = f.totals;
            prop_assert_eq!(
                f.positions.balance.get(),
                t.income.get() - t.approved.get() + (t.cancelled.get() - t.recoveries_owed.get()) + t.recoveries_collected.get()
            );
        }
    }
}
