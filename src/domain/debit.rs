//! Premium collection by batch debit (DOMAIN.md section 5): the life of one debit
//! instruction, and the codes a bank gives for a debit that failed. Pure.

use serde::{Deserialize, Serialize};

use super::state::{StateMachine, states};

states! {
    /// One person's premium for one year, asked of the bank.
    pub enum InstructionState as "debit instruction" {
        /// In an envelope, waiting for the bank's answer.
        Pending = "pending",
        /// Taken out of its envelope before the bank first pulled it: the card was
        /// reported lost, replaced or cancelled.
        Withdrawn = "withdrawn",
        /// The bank took the premium from the card.
        Collected = "collected",
        /// The bank could not; listed for follow-up, and a later run asks again.
        Failed = "failed",
    }
}

impl StateMachine for InstructionState {
    const MACHINE: &'static str = "debit instruction";
    const REFUSED: &'static str = "instruction_already_answered";

    fn states() -> &'static [Self] {
        &Self::ALL
    }

    /// Only a pending instruction moves, and then for good.
    fn allows(self, to: Self) -> bool {
        self == InstructionState::Pending && to != InstructionState::Pending
    }
}

/// Why a bank could not collect a premium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DebitFailure {
    InsufficientFunds,
    AccountClosed,
    AccountFrozen,
    CardLost,
    CardNotFound,
    Other,
}

impl DebitFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            DebitFailure::InsufficientFunds => "insufficient_funds",
            DebitFailure::AccountClosed => "account_closed",
            DebitFailure::AccountFrozen => "account_frozen",
            DebitFailure::CardLost => "card_lost",
            DebitFailure::CardNotFound => "card_not_found",
            DebitFailure::Other => "other",
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_is_final() {
        use InstructionState::*;
        for to in [Withdrawn, Collected, Failed] {
            assert!(Pending.allows(to));
            for from in [Withdrawn, Collected, Failed] {
                assert!(!from.allows(to), "{from} -> {to}");
            }
        }
        assert!(!Pending.allows(Pending));
        assert_eq!(Collected.transition(Failed).unwrap_err().code(), "instruction_already_answered");
    }

    #[test]
    fn failure_codes_are_their_wire_names() {
        for f in
            [DebitFailure::InsufficientFunds, DebitFailure::AccountClosed, DebitFailure::CardLost, DebitFailure::Other]
        {
            assert_eq!(serde_json::to_value(f).unwrap(), serde_json::Value::String(f.as_str().into()));
        }
    }
}
