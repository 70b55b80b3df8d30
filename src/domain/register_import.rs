//! The life of a register import (DOMAIN.md section 3): its rows are received, then
//! it is applied (a snapshot becomes the active one, a delta changes it) or fails; an
//! applied snapshot is superseded by the next. Pure: callers store the result.

use super::state::{machine, states};

states! {
    /// A register import's state.
    pub enum ImportState as "register import" {
        Receiving = "receiving",
        Applied = "applied",
        Failed = "failed",
        /// A snapshot that another has replaced as the active one.
        Superseded = "superseded",
    }
}

use ImportState as S;

const TRANSITIONS: &[(ImportState, ImportState)] =
    &[(S::Receiving, S::Applied), (S::Receiving, S::Failed), (S::Applied, S::Superseded)];

machine!(ImportState, "register import", "import_transition_refused", TRANSITIONS);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::state::{round_trip_every_state, walk_every_pair};

    #[test]
    fn every_pair_of_states_is_allowed_or_refused_as_described() {
        walk_every_pair::<ImportState>(&["receiving -> applied", "receiving -> failed", "applied -> superseded"]);
    }

    #[test]
    fn states_round_trip_through_their_names() {
        round_trip_every_state::<ImportState>();
        assert_eq!(ImportState::ALL.map(ImportState::as_str), ["receiving", "applied", "failed", "superseded"]);
    }
}
