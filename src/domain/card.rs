//! The life of a health card (DOMAIN.md section 4): the states of a card, which action
//! moves a card from which state, and the codes a card maker reports a failed order
//! with. Pure: callers store the result.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::card_order::OrderState;
use super::state::{StateMachine, states};

states! {
    /// A made card.
    pub enum CardState as "card" {
        Produced = "produced",
        Issued = "issued",
        Activated = "activated",
        ReportedLost = "reported_lost",
        /// Dead: a new card was ordered for the same resident.
        Replaced = "replaced",
        /// Dead: the holder died or moved out.
        Cancelled = "cancelled",
    }
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

impl CardAction {
    pub const ALL: [CardAction; 6] = [
        CardAction::Issue,
        CardAction::Activate,
        CardAction::ReportLoss,
        CardAction::Found,
        CardAction::Replace,
        CardAction::Cancel,
    ];
}

impl CardState {
    /// The states of a card that still belongs to its holder.
    pub const LIVE: [CardState; 4] =
        [CardState::Produced, CardState::Issued, CardState::Activated, CardState::ReportedLost];

    /// A live card still belongs to its holder; a resident holds at most one.
    pub fn is_live(self) -> bool {
        CardState::LIVE.contains(&self)
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
}

/// The card's table is [`CardState::apply`]: a move is allowed when some action makes it.
impl StateMachine for CardState {
    const MACHINE: &'static str = "card";
    const REFUSED: &'static str = "card_transition_refused";

    fn states() -> &'static [Self] {
        &CardState::ALL
    }

    fn allows(self, to: Self) -> bool {
        self != to && CardAction::ALL.into_iter().any(|action| self.apply(action) == Ok(to))
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

states! {
    /// A record's card as collection keeps it: the state of its order until a card is
    /// made, then the card's (the latest report wins, so there is no table of moves).
    pub enum CardStage as "card stage" {
        Ordered = "ordered",
        Leased = "leased",
        Failed = "failed",
        Produced = "produced",
        Issued = "issued",
        Activated = "activated",
        ReportedLost = "reported_lost",
        Replaced = "replaced",
        Cancelled = "cancelled",
    }
}

impl From<OrderState> for CardStage {
    fn from(state: OrderState) -> Self {
        match state {
            OrderState::Ordered => CardStage::Ordered,
            OrderState::Leased => CardStage::Leased,
            OrderState::Produced => CardStage::Produced,
            OrderState::Failed => CardStage::Failed,
        }
    }
}

impl From<CardState> for CardStage {
    fn from(state: CardState) -> Self {
        match state {
            CardState::Produced => CardStage::Produced,
            CardState::Issued => CardStage::Issued,
            CardState::Activated => CardStage::Activated,
            CardState::ReportedLost => CardStage::ReportedLost,
            CardState::Replaced => CardStage::Replaced,
            CardState::Cancelled => CardStage::Cancelled,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

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

    /// Every (state, action) pair: the state it leads to, or the refusal's code.
    #[test]
    fn every_action_in_every_state_is_as_described() {
        use CardAction as A;
        use CardState as S;
        let expected: [(S, [Result<S, &str>; 6]); 6] = [
            // Issue, Activate, ReportLoss, Found, Replace, Cancel
            (
                S::Produced,
                [
                    Ok(S::Issued),
                    Err("card_not_issued"),
                    Err("card_not_active"),
                    Err("card_not_reported_lost"),
                    Ok(S::Replaced),
                    Ok(S::Cancelled),
                ],
            ),
            (
                S::Issued,
                [
                    Ok(S::Issued),
                    Ok(S::Activated),
                    Err("card_not_active"),
                    Err("card_not_reported_lost"),
                    Ok(S::Replaced),
                    Ok(S::Cancelled),
                ],
            ),
            (
                S::Activated,
                [
                    Err("card_not_produced"),
                    Ok(S::Activated),
                    Ok(S::ReportedLost),
                    Ok(S::Activated),
                    Ok(S::Replaced),
                    Ok(S::Cancelled),
                ],
            ),
            (
                S::ReportedLost,
                [
                    Err("card_not_produced"),
                    Err("card_not_issued"),
                    Ok(S::ReportedLost),
                    Ok(S::Activated),
                    Ok(S::Replaced),
                    Ok(S::Cancelled),
                ],
            ),
            (S::Replaced, [Err("card_not_live"); 6]),
            (S::Cancelled, [Err("card_not_live"); 6]),
        ];
        assert_eq!(expected.map(|(s, _)| s), CardState::ALL);
        for (from, outcomes) in expected {
            for (action, want) in A::ALL.into_iter().zip(outcomes) {
                let got = from.apply(action).map_err(|e| {
                    assert_eq!((e.from, e.action), (from, action));
                    e.code()
                });
                assert_eq!(got, want, "{from} {action:?}");
            }
        }
    }

    #[test]
    fn every_pair_of_states_is_allowed_or_refused_as_described() {
        crate::domain::state::walk_every_pair::<CardState>(&[
            "produced -> issued",
            "produced -> replaced",
            "produced -> cancelled",
            "issued -> activated",
            "issued -> replaced",
            "issued -> cancelled",
            "activated -> reported_lost",
            "activated -> replaced",
            "activated -> cancelled",
            "reported_lost -> activated",
            "reported_lost -> replaced",
            "reported_lost -> cancelled",
        ]);
    }

    #[test]
    fn states_round_trip_through_their_names() {
        crate::domain::state::round_trip_every_state::<CardState>();
        assert_eq!(
            CardState::ALL.map(CardState::as_str),
            ["produced", "issued", "activated", "reported_lost", "replaced", "cancelled"]
        );
        assert!("lost".parse::<CardState>().is_err());
        for s in CardState::ALL {
            assert_eq!(s.is_live(), CardState::LIVE.contains(&s));
        }
    }

    #[test]
    fn card_stages_are_named_as_the_order_or_card_they_come_from() {
        for s in CardStage::ALL {
            assert_eq!(s.as_str().parse::<CardStage>().unwrap(), s);
            assert_eq!(crate::domain::serialized(&s), s.as_str());
        }
        for s in OrderState::ALL {
            assert_eq!(CardStage::from(s).as_str(), s.as_str());
        }
        for s in CardState::ALL {
            assert_eq!(CardStage::from(s).as_str(), s.as_str());
        }
    }

    fn any_state() -> impl Strategy<Value = CardState> {
        proptest::sample::select(CardState::ALL.to_vec())
    }

    fn any_action() -> impl Strategy<Value = CardAction> {
        proptest::sample::select(CardAction::ALL.to_vec())
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
