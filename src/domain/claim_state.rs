//! The life of a claim and of the payment onto the patient's card (DOMAIN.md section
//! 5). Pure: callers store the result.

use serde::{Deserialize, Serialize};

use super::state::{StateMachine, states};

states! {
    /// A clinic's settlement.
    pub enum ClaimState as "claim" {
        /// Computed and owed to the patient; paid by a payment instruction.
        Approved = "approved",
        /// Stopped for review by the county: nothing paid, the cap reserved.
        Flagged = "flagged",
        /// Refused on review; its reserved cap released.
        Rejected = "rejected",
        /// Undone by a cancel (2208) or reversal (2601): a negated record follows it.
        Cancelled = "cancelled",
    }
}

impl StateMachine for ClaimState {
    const MACHINE: &'static str = "claim";
    const REFUSED: &'static str = "claim_not_cancellable";

    fn states() -> &'static [Self] {
        &Self::ALL
    }

    fn allows(self, to: Self) -> bool {
        use ClaimState::*;
        matches!((self, to), (Flagged, Approved) | (Flagged, Rejected) | (Approved, Cancelled) | (Flagged, Cancelled))
    }
}

states! {
    /// The county's review of a flagged claim. A decision is final.
    pub enum ReviewState as "review" {
        /// Waiting for the county's decision.
        Pending = "pending",
        /// Approved: the claim is paid as any approved claim.
        Approved = "approved",
        /// Rejected: nothing is paid, the claim's reserved cap is released.
        Rejected = "rejected",
        /// The claim was cancelled before a decision.
        Withdrawn = "withdrawn",
    }
}

impl StateMachine for ReviewState {
    const MACHINE: &'static str = "review";
    const REFUSED: &'static str = "claim_already_reviewed";

    fn states() -> &'static [Self] {
        &Self::ALL
    }

    fn allows(self, to: Self) -> bool {
        use ReviewState::*;
        matches!((self, to), (Pending, Approved) | (Pending, Rejected) | (Pending, Withdrawn))
    }
}

impl ReviewState {
    /// The claim's state once the review is in this state.
    pub fn claim_state(self) -> ClaimState {
        match self {
            ReviewState::Pending => ClaimState::Flagged,
            ReviewState::Approved => ClaimState::Approved,
            ReviewState::Rejected => ClaimState::Rejected,
            ReviewState::Withdrawn => ClaimState::Cancelled,
        }
    }
}

states! {
    /// One payment onto a patient's card.
    pub enum PaymentState as "payment instruction" {
        /// Waiting to be put in an envelope, or in one and waiting for the bank.
        Pending = "pending",
        /// Taken back before the bank pulled its envelope (the claim was cancelled).
        Withdrawn = "withdrawn",
        /// The bank paid it onto the card.
        Paid = "paid",
        /// The bank could not, and trying again will not help (or the tries are
        /// spent): a person must act, e.g. re-issue it to the holder's new card.
        NeedsAction = "needs_action",
    }
}

impl StateMachine for PaymentState {
    const MACHINE: &'static str = "payment instruction";
    const REFUSED: &'static str = "payment_already_answered";

    fn states() -> &'static [Self] {
        &Self::ALL
    }

    fn allows(self, to: Self) -> bool {
        use PaymentState::*;
        // A retryable failure keeps an instruction pending (for a later envelope); a
        // re-issue puts one that needs action back to pending.
        matches!(
            (self, to),
            (Pending, Withdrawn)
                | (Pending, Paid)
                | (Pending, NeedsAction)
                | (NeedsAction, Pending)
                | (NeedsAction, Withdrawn)
        )
    }
}

/// Why a bank could not pay a reimbursement onto a card. A retryable failure goes
/// into a later envelope (up to the configured number of attempts); a final one waits
/// for a person at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentFailure {
    /// The bank's system could not take the payment now.
    BankUnavailable,
    /// The payment timed out at the bank.
    Timeout,
    AccountClosed,
    AccountFrozen,
    CardLost,
    CardNotFound,
}

impl PaymentFailure {
    /// Every code.
    pub const ALL: [PaymentFailure; 6] = [
        PaymentFailure::BankUnavailable,
        PaymentFailure::Timeout,
        PaymentFailure::AccountClosed,
        PaymentFailure::AccountFrozen,
        PaymentFailure::CardLost,
        PaymentFailure::CardNotFound,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PaymentFailure::BankUnavailable => "bank_unavailable",
            PaymentFailure::Timeout => "timeout",
            PaymentFailure::AccountClosed => "account_closed",
            PaymentFailure::AccountFrozen => "account_frozen",
            PaymentFailure::CardLost => "card_lost",
            PaymentFailure::CardNotFound => "card_not_found",
        }
    }

    /// Whether sending the same instruction again may succeed.
    pub fn retryable(self) -> bool {
        matches!(self, PaymentFailure::BankUnavailable | PaymentFailure::Timeout)
    }

    pub fn parse(code: &str) -> Option<PaymentFailure> {
        PaymentFailure::ALL.into_iter().find(|f| f.as_str() == code)
    }
}

/// Where a failed payment goes after its `attempts`-th failure (counting this one),
/// with at most `max_attempts` tries: back to pending for a later envelope, or to a
/// person.
pub fn after_failure(failure: PaymentFailure, attempts: i32, max_attempts: i32) -> PaymentState {
    if failure.retryable() && attempts < max_attempts { PaymentState::Pending } else { PaymentState::NeedsAction }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn a_paid_instruction_never_moves() {
        for to in PaymentState::ALL {
            assert!(!PaymentState::Paid.allows(to), "{to}");
            assert!(!PaymentState::Withdrawn.allows(to), "{to}");
        }
        assert!(PaymentState::NeedsAction.allows(PaymentState::Pending));
    }

    #[test]
    fn a_cancelled_claim_stays_cancelled() {
        for to in ClaimState::ALL {
            assert!(!ClaimState::Cancelled.allows(to));
            assert!(!ClaimState::Rejected.allows(to));
        }
        assert_eq!(ClaimState::Rejected.transition(ClaimState::Cancelled).unwrap_err().code(), "claim_not_cancellable");
    }

    #[test]
    fn a_review_is_decided_once() {
        use ReviewState::*;
        for to in [Approved, Rejected, Withdrawn] {
            assert!(Pending.allows(to));
            // The claim may make the same move.
            assert!(ClaimState::Flagged.allows(to.claim_state()), "{to}");
            for after in ReviewState::ALL {
                assert!(!to.allows(after), "{to} -> {after}");
            }
        }
        assert_eq!(Approved.transition(Rejected).unwrap_err().code(), "claim_already_reviewed");
        assert_eq!(Pending.claim_state(), ClaimState::Flagged);
    }

    #[test]
    fn a_retryable_failure_is_retried_until_the_attempts_are_spent() {
        use PaymentFailure::*;
        assert_eq!(after_failure(Timeout, 1, 3), PaymentState::Pending);
        assert_eq!(after_failure(BankUnavailable, 2, 3), PaymentState::Pending);
        assert_eq!(after_failure(Timeout, 3, 3), PaymentState::NeedsAction);
        for f in [AccountClosed, AccountFrozen, CardLost, CardNotFound] {
            assert!(!f.retryable());
            assert_eq!(after_failure(f, 1, 3), PaymentState::NeedsAction);
        }
        for f in PaymentFailure::ALL {
            assert_eq!(PaymentFailure::parse(f.as_str()), Some(f));
            assert_eq!(serde_json::to_value(f).unwrap(), serde_json::Value::String(f.as_str().into()));
        }
        assert_eq!(PaymentFailure::parse("insufficient_funds"), None);
    }
}
