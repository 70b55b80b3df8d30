//! The life of a card order (DOMAIN.md section 4): queued, leased by a card maker (a
//! lease that times out puts it back), then answered with a card or a failure. Pure:
//! callers store the result.

use super::state::{machine, states};

states! {
    /// A card order's state.
    pub enum OrderState as "card order" {
        /// In the queue, waiting for a lease.
        Ordered = "ordered",
        /// A card maker holds it until its lease expires.
        Leased = "leased",
        Produced = "produced",
        Failed = "failed",
    }
}

use OrderState as S;

/// An order back in the queue after its lease expired can still be answered by that
/// lease until another one takes it.
const TRANSITIONS: &[(OrderState, OrderState)] = &[
    (S::Ordered, S::Leased),
    (S::Leased, S::Ordered),
    (S::Leased, S::Produced),
    (S::Leased, S::Failed),
    (S::Ordered, S::Produced),
    (S::Ordered, S::Failed),
];

machine!(OrderState, "card order", "order_transition_refused", TRANSITIONS);

impl OrderState {
    /// Orders not answered yet: a resident holds at most one.
    pub const OPEN: [OrderState; 2] = [S::Ordered, S::Leased];

    pub fn is_open(self) -> bool {
        OrderState::OPEN.contains(&self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::state::{StateMachine, round_trip_every_state, walk_every_pair};

    #[test]
    fn every_pair_of_states_is_allowed_or_refused_as_described() {
        walk_every_pair::<OrderState>(&[
            "ordered -> leased",
            "leased -> ordered",
            "leased -> produced",
            "leased -> failed",
            "ordered -> produced",
            "ordered -> failed",
        ]);
    }

    #[test]
    fn states_round_trip_through_their_names() {
        round_trip_every_state::<OrderState>();
        assert_eq!(OrderState::ALL.map(OrderState::as_str), ["ordered", "leased", "produced", "failed"]);
    }

    #[test]
    fn open_orders_are_the_ones_that_can_be_answered() {
        for s in OrderState::ALL {
            assert_eq!(s.is_open(), s.allows(OrderState::Produced) && s.allows(OrderState::Failed), "{s}");
        }
    }
}
