//! Whether a card's holder may be treated at the scheme's expense on a date (DOMAIN.md
//! section 5): enrolled for that year, premium paid, card activated. Every reason that
//! applies is given, so a clinic can tell the patient all that is missing at once.

use serde::Serialize;

use super::CardState;

/// Why a holder is not eligible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Ineligible {
    NotEnrolled,
    PremiumUnpaid,
    CardNotActivated,
    CardLost,
    CardCancelled,
    CardReplaced,
}

/// The kinds of care with a cap of their own per person and year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Care {
    /// Inpatient stays (med_type 21).
    Inpatient,
    /// Outpatient visits (med_type 11).
    Outpatient,
    /// Chronic and special outpatient care (med_type 14).
    Chronic,
}

impl Care {
    pub const ALL: [Care; 3] = [Care::Inpatient, Care::Outpatient, Care::Chronic];

    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Care::Inpatient => "inpatient",
            Care::Outpatient => "outpatient",
            Care::Chronic => "chronic",
        }
    }
}

/// The holder's enrollment for the date's year.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enrollment {
    None,
    Unpaid,
    Paid,
}

/// Every reason the holder of a card in `card` with `enrollment` is not eligible;
/// empty when eligible.
pub fn reasons(card: CardState, enrollment: Enrollment) -> Vec<Ineligible> {
    let mut out = Vec::new();
    match enrollment {
        Enrollment::None => out.push(Ineligible::NotEnrolled),
        Enrollment::Unpaid => out.push(Ineligible::PremiumUnpaid),
        Enrollment::Paid => {}
    }
    match card {
        CardState::Activated => {}
        CardState::Produced | CardState::Issued => out.push(Ineligible::CardNotActivated),
        CardState::ReportedLost => out.push(Ineligible::CardLost),
        CardState::Cancelled => out.push(Ineligible::CardCancelled),
        CardState::Replaced => out.push(Ineligible::CardReplaced),
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn an_activated_card_paid_for_is_eligible() {
        assert!(reasons(CardState::Activated, Enrollment::Paid).is_empty());
    }

    #[test]
    fn every_reason_is_given() {
        assert_eq!(
            reasons(CardState::ReportedLost, Enrollment::Unpaid),
            [Ineligible::PremiumUnpaid, Ineligible::CardLost]
        );
        assert_eq!(reasons(CardState::Replaced, Enrollment::None), [Ineligible::NotEnrolled, Ineligible::CardReplaced]);
        assert_eq!(reasons(CardState::Issued, Enrollment::Paid), [Ineligible::CardNotActivated]);
        assert_eq!(reasons(CardState::Cancelled, Enrollment::Paid), [Ineligible::CardCancelled]);
    }

    proptest! {
        #[test]
        fn eligible_exactly_when_activated_and_paid(state in 0..CardState::ALL.len(), e in 0..3_usize) {
            let card = CardState::ALL[state];
            let enrollment = [Enrollment::None, Enrollment::Unpaid, Enrollment::Paid][e];
            let eligible = reasons(card, enrollment).is_empty();
            prop_assert_eq!(eligible, card == CardState::Activated && enrollment == Enrollment::Paid);
        }
    }
}
