//! The life of a batch of records (collection): open for parts, submitted, then fed to
//! verification. Pure: callers store the result.

use super::state::{machine, states};

states! {
    /// A batch's state.
    pub enum BatchState as "batch" {
        /// Parts can be uploaded.
        Open = "open",
        /// Closed; its records are being sent to verification.
        Submitted = "submitted",
        /// Every record has been sent; outcomes come in.
        Verifying = "verifying",
    }
}

use BatchState as S;

const TRANSITIONS: &[(BatchState, BatchState)] = &[(S::Open, S::Submitted), (S::Submitted, S::Verifying)];

machine!(BatchState, "batch", "batch_transition_refused", TRANSITIONS);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::state::{round_trip_every_state, walk_every_pair};

    #[test]
    fn every_pair_of_states_is_allowed_or_refused_as_described() {
        walk_every_pair::<BatchState>(&["open -> submitted", "submitted -> verifying"]);
    }

    #[test]
    fn states_round_trip_through_their_names() {
        round_trip_every_state::<BatchState>();
        assert_eq!(BatchState::ALL.map(BatchState::as_str), ["open", "submitted", "verifying"]);
    }
}
