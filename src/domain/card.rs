//! The life of a health card (DOMAIN.md section 4): the states of a card, which action
//! moves a card from which state, and the codes a card maker reports a failed order
//! with. Pure: callers store the result.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A made card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardState {
    Produced,
    Issued,
    Activated,
    ReportedLost,
    /// Dead: a new card was ordered for the same resident.
    Replaced,
    /// Dead: the holder died or moved out.
    Cancelled,
}

/// What a county office, clinic or card maker does to a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardAction {
    Issue,
    Activate,
    ReportLoss,
    Found,
    Replace,
    Cancel,
}

/// Why a card was cancelled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CancelReason {
    Deceased,
    MovedOut,
}

/// Why a card maker could not make a card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureCode {
    BankKycFailed,
    BadAddress,
    BadPhoto,
    DuplicateAccount,
    ChipWriteError,
    Other,
}

/// An action that does not apply to the card's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a card that is {from} cannot be {action}")]
pub struct TransitionError {
    pub from: CardState,
    pub action: CardAction,
}

impl TransitionError {
    /// The stable code: what the card would have had to be.
    pub fn code(&self) -> &'static str {
        match self.action {
            _ if !self.from.is_live() => "card_not_live",
            CardAction::Issue => "card_not_produced",
            CardAction::Activate => "card_not_issued",
            CardAction::ReportLoss => "card_not_active",
            CardAction::Found => "card_not_reported_lost",
            CardAction::Replace | CardAction::Cancel => "card_not_live",
        }
    }
}

impl CardState {
    pub const ALL: [CardState; 6] = [
        CardState::Produced,
        CardState::Issued,
        CardState::Activated,
        CardState::ReportedLost,
        CardState::Replaced,
        CardState::Cancelled,
    ];

    /// A live card still belongs to its holder; a resident holds at most one.
    pub fn is_live(self) -> bool {
        !matches!(self, CardState::Replaced | CardState::Cancelled)
    }

    /// The state `action` leads to, or why it does not apply. Doing again what was
    /// just done (activating an active card) answers the same state, so a retried
    /// request is harmless.
    pub fn apply(self, action: CardAction) -> Result<CardState, TransitionError> {
        use CardAction as A;
        use CardState as S;
        let next = match (self, action) {
            (S::Produced | S::Issued, A::Issue) => S::Issued,
            (S::Issued | S::Activated, A::Activate) => S::Activated,
            (S::Activated | S::ReportedLost, A::ReportLoss) => S::ReportedLost,
            (S::ReportedLost | S::Activated, A::Found) => S::Activated,
            // A damaged card is replaced without being lost first; one never handed
            // out (produced, issued) can be replaced too, e.g. a misprint.
            (S::Produced | S::Issued | S::Activated | S::ReportedLost, A::Replace) => S::Replaced,
            (S::Produced | S::Issued | S::Activated | S::ReportedLost, A::Cancel) => S::Cancelled,
            (from, action) => return Err(TransitionError { from, action }),
        };
        Ok(next)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CardState::Produced => "produced",
            CardState::Issued => "issued",
            CardState::Activated => "activated",
            CardState::ReportedLost => "reported_lost",
            CardState::Replaced => "replaced",
            CardState::Cancelled => "cancelled",
        }
    }
}

impl fmt::Display for CardState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for CardAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CardAction::Issue => "issued",
            CardAction::Activate => "activated",
            CardAction::ReportLoss => "reported lost",
            CardAction::Found => "reported found",
            CardAction::Replace => "replaced",
            CardAction::Cancel => "cancelled",
        })
    }
}

/// A stored state name that is not one of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state {0:?}")]
pub struct UnknownState(pub String);

impl FromStr for CardState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CardState::ALL.into_iter().find(|c| c.as_str() == s).ok_or_else(|| UnknownState(s.to_string()))
    }
}

impl FailureCode {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureCode::BankKycFailed => "bank_kyc_failed",
            FailureCode::BadAddress => "bad_address",
            FailureCode::BadPhoto => "bad_photo",
            FailureCode::DuplicateAccount => "duplicate_account",
            FailureCode::ChipWriteError => "chip_write_error",
            FailureCode::Other => "other",
        }
    }
}

/// How far along the card pipeline a record is, as the county sees it (DOMAIN.md
/// section 4). Messages about a record can arrive out of order; a record only moves
/// forward along this rank. `None` for states outside the card pipeline.
pub fn record_progress_rank(state: &str) -> Option<u8> {
    Some(match state {
        "verified" => 0,
        "registered" => 1,
        "in_production" => 2,
        "produced" | "production_failed" => 3,
        "issued" => 4,
        "activated" => 5,
        _ => return None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ACTIONS: [CardAction; 6] = [
        CardAction::Issue,
        CardAction::Activate,
        CardAction::ReportLoss,
        CardAction::Found,
        CardAction::Replace,
        CardAction::Cancel,
    ];

    #[test]
    fn the_normal_life_of_a_card() {
        let s = CardState::Produced.apply(CardAction::Issue).unwrap();
        let s = s.apply(CardAction::Activate).unwrap();
        assert_eq!(s, CardState::Activated);
        let lost = s.apply(CardAction::ReportLoss).unwrap();
        assert_eq!(lost.apply(CardAction::Found).unwrap(), CardState::Activated);
        assert_eq!(lost.apply(CardAction::Replace).unwrap(), CardState::Replaced);
    }

    #[test]
    fn refusals_say_what_the_card_would_have_to_be() {
        let e = CardState::Produced.apply(CardAction::Activate).unwrap_err();
        assert_eq!(e.code(), "card_not_issued");
        assert_eq!(e.to_string(), "a card that is produced cannot be activated");
        assert_eq!(CardState::Cancelled.apply(CardAction::Replace).unwrap_err().code(), "card_not_live");
        assert_eq!(CardState::Replaced.apply(CardAction::Activate).unwrap_err().code(), "card_not_live");
        assert_eq!(CardState::Activated.apply(CardAction::Issue).unwrap_err().code(), "card_not_produced");
        assert_eq!(CardState::Issued.apply(CardAction::ReportLoss).unwrap_err().code(), "card_not_active");
        assert_eq!(CardState::Issued.apply(CardAction::Found).unwrap_err().code(), "card_not_reported_lost");
    }

    #[test]
    fn states_round_trip_through_their_names() {
        for s in CardState::ALL {
            assert_eq!(s.as_str().parse::<CardState>().unwrap(), s);
        }
        assert!("lost".parse::<CardState>().is_err());
    }

    #[test]
    fn the_record_pipeline_is_ordered() {
        let order = ["verified", "registered", "in_production", "produced", "issued", "activated"];
        for w in order.windows(2) {
            assert!(record_progress_rank(w[0]) < record_progress_rank(w[1]));
        }
        assert_eq!(record_progress_rank("production_failed"), record_progress_rank("produced"));
        assert_eq!(record_progress_rank("rejected"), None);
    }

    fn any_state() -> impl Strategy<Value = CardState> {
        proptest::sample::select(CardState::ALL.to_vec())
    }

    fn any_action() -> impl Strategy<Value = CardAction> {
        proptest::sample::select(ACTIONS.to_vec())
    }

    proptest! {
        #[test]
        fn a_dead_card_stays_dead(from in any_state(), actions in proptest::collection::vec(any_action(), 0..12)) {
            let mut state = from;
            let mut died = !from.is_live();
            for action in actions {
                match state.apply(action) {
                    Ok(next) => {
                        prop_assert!(!died, "a dead card moved");
                        state = next;
                        died |= !state.is_live();
                    }
                    Err(e) => prop_assert_eq!(e.from, state),
                }
            }
        }

        #[test]
        fn repeating_an_action_is_harmless(from in any_state(), action in any_action()) {
            if let Ok(next) = from.apply(action)
                && next.is_live()
            {
                prop_assert_eq!(next.apply(action), Ok(next));
            }
        }
    }
}
