//! The life of a claim and of the payment onto the patient's card (DOMAIN.md section
//! 5). Pure: callers store the result.

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
        matches!((self, to), (Pending, Withdrawn) | (Pending, Paid) | (Pending, NeedsAction) | (NeedsAction, Pending) | (NeedsAction, Withdrawn))
    }
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
}
