//! The life of a submitted record as the county sees it (DOMAIN.md section 4): from
//! its checks through verification and registration to its card, and back through a
//! correction. Pure: callers store the result.

use super::state::{machine, states};

states! {
    /// A record's state.
    pub enum RecordState as "record" {
        /// Passed the format checks; waits for its batch's submission.
        Received = "received",
        /// Refused by the format checks (or a duplicate); the county corrects it.
        FormatInvalid = "format_invalid",
        PendingVerification = "pending_verification",
        Verified = "verified",
        Rejected = "rejected",
        Registered = "registered",
        InProduction = "in_production",
        Produced = "produced",
        ProductionFailed = "production_failed",
        Issued = "issued",
        Activated = "activated",
    }
}

use RecordState as S;

/// Every move a record makes. Card progress can skip states ahead (its messages
/// arrive out of order, see [`RecordState::progress_rank`]), so along the card
/// pipeline every forward move is here.
const TRANSITIONS: &[(RecordState, RecordState)] = &[
    // The batch is submitted.
    (S::Received, S::PendingVerification),
    // Verification's outcome.
    (S::PendingVerification, S::Verified),
    (S::PendingVerification, S::Rejected),
    // Card making found the citizen registered from another record.
    (S::Verified, S::Rejected),
    // The card pipeline.
    (S::Verified, S::Registered),
    (S::Verified, S::InProduction),
    (S::Verified, S::Produced),
    (S::Verified, S::ProductionFailed),
    (S::Verified, S::Issued),
    (S::Verified, S::Activated),
    (S::Registered, S::InProduction),
    (S::Registered, S::Produced),
    (S::Registered, S::ProductionFailed),
    (S::Registered, S::Issued),
    (S::Registered, S::Activated),
    (S::InProduction, S::Produced),
    (S::InProduction, S::ProductionFailed),
    (S::InProduction, S::Issued),
    (S::InProduction, S::Activated),
    (S::Produced, S::Issued),
    (S::Produced, S::Activated),
    (S::ProductionFailed, S::Issued),
    (S::ProductionFailed, S::Activated),
    (S::Issued, S::Activated),
    // A correction: checked again, it waits for verification or is still invalid.
    (S::FormatInvalid, S::PendingVerification),
    (S::FormatInvalid, S::FormatInvalid),
    (S::Rejected, S::PendingVerification),
    (S::Rejected, S::FormatInvalid),
    (S::ProductionFailed, S::PendingVerification),
    (S::ProductionFailed, S::FormatInvalid),
];

machine!(RecordState, "record", "record_transition_refused", TRANSITIONS);

impl RecordState {
    /// The states a county can correct a record in.
    pub const CORRECTABLE: [RecordState; 3] = [S::FormatInvalid, S::Rejected, S::ProductionFailed];

    /// The states of a record whose citizen is registered for a card (or further).
    pub const REGISTERED: [RecordState; 5] = [S::Registered, S::InProduction, S::Produced, S::Issued, S::Activated];

    pub fn is_correctable(self) -> bool {
        RecordState::CORRECTABLE.contains(&self)
    }

    pub fn is_registered(self) -> bool {
        RecordState::REGISTERED.contains(&self)
    }

    /// Whether the record has the outcome of its checks: every state after
    /// verification counts, verified records go on towards their card.
    pub fn has_outcome(self) -> bool {
        !matches!(self, S::Received | S::PendingVerification)
    }

    /// How far along the card pipeline the record is. Messages about a record's card
    /// can arrive out of order; a record only moves forward along this rank. `None`
    /// for states outside the card pipeline.
    pub fn progress_rank(self) -> Option<u8> {
        Some(match self {
            S::Verified => 0,
            S::Registered => 1,
            S::InProduction => 2,
            S::Produced | S::ProductionFailed => 3,
            S::Issued => 4,
            S::Activated => 5,
            S::Received | S::FormatInvalid | S::PendingVerification | S::Rejected => return None,
        })
    }

    /// The state a record stored in `self` is seen in. Records are not rewritten when
    /// their batch is submitted: a record still `received` in a submitted batch waits
    /// for verification.
    pub fn as_seen(self, batch_submitted: bool) -> RecordState {
        match self {
            S::Received if batch_submitted => S::PendingVerification,
            other => other,
        }
    }

    /// The stored states of the records seen in `self` (see [`RecordState::as_seen`]).
    pub fn stored_as(self, batch_submitted: bool) -> Vec<RecordState> {
        match (self, batch_submitted) {
            (S::Received, true) => vec![],
            (S::PendingVerification, true) => vec![S::Received, S::PendingVerification],
            (state, _) => vec![state],
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::domain::state::{StateMachine, round_trip_every_state, walk_every_pair};
    use proptest::prelude::*;

    #[test]
    fn every_pair_of_states_is_allowed_or_refused_as_described() {
        walk_every_pair::<RecordState>(&[
            "received -> pending_verification",
            "pending_verification -> verified",
            "pending_verification -> rejected",
            "verified -> rejected",
            "verified -> registered",
            "verified -> in_production",
            "verified -> produced",
            "verified -> production_failed",
            "verified -> issued",
            "verified -> activated",
            "registered -> in_production",
            "registered -> produced",
            "registered -> production_failed",
            "registered -> issued",
            "registered -> activated",
            "in_production -> produced",
            "in_production -> production_failed",
            "in_production -> issued",
            "in_production -> activated",
            "produced -> issued",
            "produced -> activated",
            "production_failed -> issued",
            "production_failed -> activated",
            "issued -> activated",
            "format_invalid -> pending_verification",
            "format_invalid -> format_invalid",
            "rejected -> pending_verification",
            "rejected -> format_invalid",
            "production_failed -> pending_verification",
            "production_failed -> format_invalid",
        ]);
    }

    #[test]
    fn a_refusal_names_the_move() {
        let e = RecordState::Activated.transition(RecordState::Issued).unwrap_err();
        assert_eq!(e.code(), "record_transition_refused");
        assert_eq!(e.to_string(), "a record that is activated cannot become issued");
    }

    #[test]
    fn states_round_trip_through_their_names() {
        round_trip_every_state::<RecordState>();
        let names: Vec<&str> = RecordState::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "received",
                "format_invalid",
                "pending_verification",
                "verified",
                "rejected",
                "registered",
                "in_production",
                "produced",
                "production_failed",
                "issued",
                "activated",
            ]
        );
    }

    #[test]
    fn the_card_pipeline_is_ordered() {
        use RecordState as S;
        let order = [S::Verified, S::Registered, S::InProduction, S::Produced, S::Issued, S::Activated];
        for w in order.windows(2) {
            assert!(w[0].progress_rank() < w[1].progress_rank());
        }
        assert_eq!(S::ProductionFailed.progress_rank(), S::Produced.progress_rank());
        assert_eq!(S::Rejected.progress_rank(), None);
    }

    #[test]
    fn along_the_card_pipeline_exactly_the_forward_moves_are_allowed() {
        for from in RecordState::ALL {
            for to in RecordState::ALL {
                if let (Some(a), Some(b)) = (from.progress_rank(), to.progress_rank()) {
                    assert_eq!(from.allows(to), b > a, "{from} -> {to}");
                }
            }
        }
    }

    #[test]
    fn a_submitted_batch_shows_received_records_as_waiting() {
        use RecordState as S;
        assert_eq!(S::Received.as_seen(true), S::PendingVerification);
        assert_eq!(S::Received.as_seen(false), S::Received);
        assert_eq!(S::PendingVerification.stored_as(true), [S::Received, S::PendingVerification]);
        assert_eq!(S::Received.stored_as(true), []);
        for s in RecordState::ALL {
            assert_eq!(s.stored_as(false), [s]);
            for stored in s.stored_as(true) {
                assert_eq!(stored.as_seen(true), s);
            }
        }
    }

    #[test]
    fn the_query_sets_are_what_the_states_say() {
        assert!(RecordState::CORRECTABLE.iter().all(|s| s.allows(RecordState::PendingVerification)));
        assert!(RecordState::REGISTERED.iter().all(|s| s.progress_rank() >= RecordState::Registered.progress_rank()));
        assert!(!RecordState::ProductionFailed.is_registered());
        let waiting: Vec<RecordState> = RecordState::ALL.into_iter().filter(|s| !s.has_outcome()).collect();
        assert_eq!(waiting, [RecordState::Received, RecordState::PendingVerification]);
    }

    fn any_state() -> impl Strategy<Value = RecordState> {
        proptest::sample::select(RecordState::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn card_progress_never_moves_a_record_back(from in any_state(), steps in proptest::collection::vec(any_state(), 0..12)) {
            let mut state = from;
            for to in steps {
                if to.progress_rank().is_none() {
                    continue;
                }
                match state.transition(to) {
                    Ok(t) => {
                        prop_assert!(t.from().progress_rank() < t.to().progress_rank());
                        state = t.to();
                    }
                    Err(e) => prop_assert_eq!(e.from, state),
                }
            }
        }
    }
}
