//! The fraud rules that stop a claim for review by the county instead of paying it
//! (DOMAIN.md section 5). Pure: the caller reads the facts around a claim (the
//! person's other settlements near it, the enrollment's and the card's times, the
//! institution's usual totals) and [`judge`] says which rules fire, each with its
//! evidence. The thresholds are the county's policy for the year
//! ([`FraudThresholds`]), which may also switch rules off.
//!
//! | code | fires when |
//! | --- | --- |
//! | `overlapping_stay` | an inpatient stay overlaps another inpatient stay of the person, at any institution: each starts before the other ends (a transfer, discharged from one and admitted to the next at the same moment, does not overlap), or both start at the same moment |
//! | `before_enrollment` | the admission is before the premium of the year was paid, or before the card was first activated |
//! | `after_card_lost` | the card was reported lost at or before the admission (and found again since; a card still lost is refused before the rules) |
//! | `outpatient_frequency` | the person has more than N outpatient (`11`) claims admitted on the claim's day, this one counted |
//! | `amount_outlier` | the total is above k times the median total of the institution's claims of the same `med_type` and level over the last D days, once there are at least M of them |
//! | `duplicate_visit` | another claim of the person at the same institution, of the same `med_type`, has the same admission and discharge dates (another `ipt_otp_no`) |
//!
//! Days are calendar days in China ([`china_time`]); "other claims" are settlements
//! still live (approved or flagged), never cancelled or rejected ones.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde::{Serialize, Serializer};

use super::china_time;
use super::ids::SetlId;
use super::money::Fen;
use super::policy::{FraudThresholds, MedType};

/// A fraud rule; [`FraudRule::code`] is what clients and policies name it by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FraudRule {
    OverlappingStay,
    BeforeEnrollment,
    AfterCardLost,
    OutpatientFrequency,
    AmountOutlier,
    DuplicateVisit,
}

impl FraudRule {
    /// Every rule, in the order flags are listed.
    pub const ALL: [FraudRule; 6] = [
        FraudRule::OverlappingStay,
        FraudRule::BeforeEnrollment,
        FraudRule::AfterCardLost,
        FraudRule::OutpatientFrequency,
        FraudRule::AmountOutlier,
        FraudRule::DuplicateVisit,
    ];

    /// The stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            FraudRule::OverlappingStay => "overlapping_stay",
            FraudRule::BeforeEnrollment => "before_enrollment",
            FraudRule::AfterCardLost => "after_card_lost",
            FraudRule::OutpatientFrequency => "outpatient_frequency",
            FraudRule::AmountOutlier => "amount_outlier",
            FraudRule::DuplicateVisit => "duplicate_visit",
        }
    }

    /// The rule of `code`, exactly as [`FraudRule::code`] writes it.
    pub fn parse(code: &str) -> Option<FraudRule> {
        FraudRule::ALL.into_iter().find(|r| r.code() == code)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

crate::domain::serialize_as_code!(FraudRule);

/// A set of rules (those a policy switches off). Serialised as the list of their
/// codes, in the order of [`FraudRule::ALL`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct RuleSet(u8);

impl RuleSet {
    /// No rule.
    pub const EMPTY: RuleSet = RuleSet(0);

    /// The set with `rule` added.
    pub fn with(self, rule: FraudRule) -> RuleSet {
        RuleSet(self.0 | rule.bit())
    }

    pub fn contains(self, rule: FraudRule) -> bool {
        self.0 & rule.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// The rules of the set, in the order of [`FraudRule::ALL`].
    pub fn rules(self) -> impl Iterator<Item = FraudRule> {
        FraudRule::ALL.into_iter().filter(move |r| self.contains(*r))
    }
}

impl FromIterator<FraudRule> for RuleSet {
    fn from_iter<I: IntoIterator<Item = FraudRule>>(iter: I) -> Self {
        iter.into_iter().fold(RuleSet::EMPTY, RuleSet::with)
    }
}

impl Serialize for RuleSet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.rules())
    }
}

/// A stay or visit of a claim, as stored: times in UTC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Visit {
    /// The institution's platform code.
    pub clinic: String,
    pub ipt_otp_no: String,
    pub med_type: MedType,
    pub admitted_at: NaiveDateTime,
    pub discharged_at: NaiveDateTime,
}

impl Visit {
    /// Whether the two are inpatient stays that overlap: each starts before the other
    /// ends, or both start at the same moment (which two real stays never do, however
    /// short). A stay that starts when the other ends does not overlap it.
    pub fn overlaps(&self, other: &Visit) -> bool {
        let both_inpatient = self.med_type == MedType::Inpatient && other.med_type == MedType::Inpatient;
        both_inpatient
            && (self.admitted_at == other.admitted_at
                || (self.admitted_at < other.discharged_at && other.admitted_at < self.discharged_at))
    }

    /// The day of admission in China.
    pub fn admission_day(&self) -> NaiveDate {
        china_time::date_of_stored(self.admitted_at)
    }

    /// The day of discharge in China.
    pub fn discharge_day(&self) -> NaiveDate {
        china_time::date_of_stored(self.discharged_at)
    }

    /// Whether `other` is this visit billed again: the same institution and
    /// `med_type`, the same admission and discharge days, another `ipt_otp_no`.
    pub fn duplicates(&self, other: &Visit) -> bool {
        self.clinic == other.clinic
            && self.med_type == other.med_type
            && self.ipt_otp_no != other.ipt_otp_no
            && self.admission_day() == other.admission_day()
            && self.discharge_day() == other.discharge_day()
    }
}

/// Another live settlement of the same person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OtherClaim {
    pub setl_id: SetlId,
    pub visit: Visit,
}

/// The institution's usual totals: how many claims of the same `med_type` and level
/// it had over the last D days, and the median of their totals (none without claims).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AmountStatistic {
    pub claims: u32,
    pub median: Option<Fen>,
}

impl AmountStatistic {
    /// The statistic of these totals (reordered in place).
    pub fn of(totals: &mut [i64]) -> AmountStatistic {
        AmountStatistic { claims: u32::try_from(totals.len()).unwrap_or(u32::MAX), median: median(totals) }
    }
}

/// What the rules are judged on besides the claim itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The person's other live settlements around the claim: at least every one that
    /// overlaps it, or was admitted on its day, or has its dates (more do no harm).
    pub others: Vec<OtherClaim>,
    /// When the premium of the claim's year was paid.
    pub premium_paid_at: Option<NaiveDateTime>,
    /// When the card the claim is settled on was first activated.
    pub card_activated_at: Option<NaiveDateTime>,
    /// When the card was reported lost, if it was lost at the admission.
    pub card_lost_at: Option<NaiveDateTime>,
    /// The institution's claims of the claim's `med_type` and level over the last D
    /// days.
    pub institution: AmountStatistic,
}

/// What a rule found. Times are UTC (RFC 3339 in JSON), days are China's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Evidence {
    /// `overlapping_stay`, `duplicate_visit`: the other claims, oldest first.
    OtherClaims { setl_ids: Vec<SetlId> },
    /// `before_enrollment`: whichever came after the admission.
    NotYetEligible {
        #[serde(skip_serializing_if = "Option::is_none")]
        premium_paid_at: Option<DateTime<Utc>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        card_activated_at: Option<DateTime<Utc>>,
    },
    /// `after_card_lost`.
    CardLost { card_lost_at: DateTime<Utc> },
    /// `outpatient_frequency`: the day, the person's outpatient claims of it (this
    /// one counted), the most allowed (N), and the other claims.
    Frequency { date: NaiveDate, count: u32, limit: u32, setl_ids: Vec<SetlId> },
    /// `amount_outlier`: the total, the institution's median and how many claims it
    /// is of, over how many days, and the factor (k, basis points of the median).
    Outlier { medfee_sumamt: Fen, median: Fen, claims: u32, days: u32, factor: u32 },
}

/// A rule that fired, with what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FraudFlag {
    pub code: FraudRule,
    pub evidence: Evidence,
}

/// Every rule that fires for the claim `visit` with total `medfee_sumamt`, given
/// `facts`, under `thresholds`, in the order of [`FraudRule::ALL`]; empty for a
/// clean claim. Rules the thresholds switch off never fire.
pub fn judge(visit: &Visit, medfee_sumamt: Fen, facts: &Facts, thresholds: &FraudThresholds) -> Vec<FraudFlag> {
    FraudRule::ALL
        .into_iter()
        .filter(|rule| !thresholds.disabled_rules.contains(*rule))
        .filter_map(|rule| {
            let evidence = match rule {
                FraudRule::OverlappingStay => overlapping_stays(visit, &facts.others),
                FraudRule::BeforeEnrollment => before_enrollment(visit, facts),
                FraudRule::AfterCardLost => after_card_lost(visit, facts),
                FraudRule::OutpatientFrequency => {
                    outpatient_frequency(visit, &facts.others, thresholds.outpatient_claims_per_day)
                }
                FraudRule::AmountOutlier => amount_outlier(medfee_sumamt, facts.institution, thresholds),
                FraudRule::DuplicateVisit => duplicate_visits(visit, &facts.others),
            }?;
            Some(FraudFlag { code: rule, evidence })
        })
        .collect()
}

fn setl_ids<'a>(others: impl Iterator<Item = &'a OtherClaim>) -> Vec<SetlId> {
    let mut ids: Vec<SetlId> = others.map(|o| o.setl_id.clone()).collect();
    // Settlement ids are time-ordered: sorted is oldest first.
    ids.sort();
    ids.dedup();
    ids
}

/// `overlapping_stay`: the other inpatient stays that overlap `visit`.
pub fn overlapping_stays(visit: &Visit, others: &[OtherClaim]) -> Option<Evidence> {
    let ids = setl_ids(others.iter().filter(|o| visit.overlaps(&o.visit)));
    (!ids.is_empty()).then_some(Evidence::OtherClaims { setl_ids: ids })
}

/// `before_enrollment`: the premium paid, or the card first activated, after the
/// admission.
pub fn before_enrollment(visit: &Visit, facts: &Facts) -> Option<Evidence> {
    let after_admission = |at: Option<NaiveDateTime>| at.filter(|t| visit.admitted_at < *t).map(|t| t.and_utc());
    let premium_paid_at = after_admission(facts.premium_paid_at);
    let card_activated_at = after_admission(facts.card_activated_at);
    (premium_paid_at.is_some() || card_activated_at.is_some())
        .then_some(Evidence::NotYetEligible { premium_paid_at, card_activated_at })
}

/// `after_card_lost`: the card had been reported lost by the admission.
pub fn after_card_lost(visit: &Visit, facts: &Facts) -> Option<Evidence> {
    let lost = facts.card_lost_at.filter(|t| *t <= visit.admitted_at)?;
    Some(Evidence::CardLost { card_lost_at: lost.and_utc() })
}

/// `outpatient_frequency`: more than `limit` outpatient claims of the person admitted
/// on the day of `visit`, `visit` counted.
pub fn outpatient_frequency(visit: &Visit, others: &[OtherClaim], limit: u32) -> Option<Evidence> {
    if visit.med_type != MedType::Outpatient {
        return None;
    }
    let day = visit.admission_day();
    let same_day =
        setl_ids(others.iter().filter(|o| o.visit.med_type == MedType::Outpatient && o.visit.admission_day() == day));
    let count = u32::try_from(same_day.len()).unwrap_or(u32::MAX).saturating_add(1);
    (count > limit).then_some(Evidence::Frequency { date: day, count, limit, setl_ids: same_day })
}

/// `amount_outlier`: `medfee_sumamt` above `amount_outlier_factor` basis points of the
/// institution's median, once it has `amount_outlier_min_claims` claims.
pub fn amount_outlier(medfee_sumamt: Fen, usual: AmountStatistic, thresholds: &FraudThresholds) -> Option<Evidence> {
    if usual.claims < thresholds.amount_outlier_min_claims {
        return None;
    }
    let median = usual.median?;
    is_outlier(medfee_sumamt, median, thresholds.amount_outlier_factor).then_some(Evidence::Outlier {
        medfee_sumamt,
        median,
        claims: usual.claims,
        days: thresholds.amount_outlier_days,
        factor: thresholds.amount_outlier_factor,
    })
}

/// Whether `total` is above `factor` basis points of `median`, exactly: `total *
/// 10000 > median * factor`, in `i128` (no rounding, no overflow).
pub fn is_outlier(total: Fen, median: Fen, factor: u32) -> bool {
    i128::from(total.get()) * 10_000 > i128::from(median.get()) * i128::from(factor)
}

/// `duplicate_visit`: the other claims that bill `visit` again.
pub fn duplicate_visits(visit: &Visit, others: &[OtherClaim]) -> Option<Evidence> {
    let ids = setl_ids(others.iter().filter(|o| visit.duplicates(&o.visit)));
    (!ids.is_empty()).then_some(Evidence::OtherClaims { setl_ids: ids })
}

/// The median of `values` (reordered in place): the middle value, or for an even
/// count the mean of the two middle values rounded half up to whole fen; none for no
/// values. Linear time (selection, not a sort).
pub fn median(values: &mut [i64]) -> Option<Fen> {
    let n = values.len();
    if n == 0 {
        return None;
    }
    let (below, middle, _) = values.select_nth_unstable(n / 2);
    let upper = *middle;
    if n % 2 == 1 {
        return Some(Fen(upper));
    }
    // `below` holds the n/2 smallest values: its largest is the lower middle.
    let lower = below.iter().copied().max()?;
    let mean = (i128::from(lower) + i128::from(upper) + 1).div_euclid(2);
    Some(Fen(i64::try_from(mean).unwrap_or(upper)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use chrono::Duration;
    use proptest::prelude::*;
    use serde_json::json;

    /// 2027-03-10 08:00 in China.
    fn base() -> NaiveDateTime {
        NaiveDate::from_ymd_opt(2027, 3, 10).unwrap().and_hms_opt(0, 0, 0).unwrap()
    }

    fn at(hours: i64) -> NaiveDateTime {
        base() + Duration::hours(hours)
    }

    fn visit(clinic: &str, ipt: &str, med_type: MedType, from: i64, to: i64) -> Visit {
        Visit { clinic: clinic.into(), ipt_otp_no: ipt.into(), med_type, admitted_at: at(from), discharged_at: at(to) }
    }

    fn other(id: &str, v: Visit) -> OtherClaim {
        OtherClaim { setl_id: SetlId::from(id), visit: v }
    }

    fn codes(flags: &[FraudFlag]) -> Vec<&'static str> {
        flags.iter().map(|f| f.code.code()).collect()
    }

    const A: &str = "H21080400001";
    const B: &str = "H21080400002";
    use MedType::{ChronicOutpatient as Chronic, Inpatient, Outpatient};

    fn thresholds() -> FraudThresholds {
        FraudThresholds::default()
    }

    #[test]
    fn a_clean_claim_fires_nothing() {
        let v = visit(A, "ZY1", Inpatient, 0, 48);
        let facts = Facts {
            others: vec![other("s1", visit(B, "ZY9", Inpatient, 48, 72))],
            premium_paid_at: Some(at(-100)),
            card_activated_at: Some(at(-200)),
            card_lost_at: None,
            institution: AmountStatistic { claims: 100, median: Some(Fen(100_000)) },
        };
        assert_eq!(judge(&v, Fen(500_000), &facts, &thresholds()), vec![]);
    }

    #[test]
    fn overlapping_stays_at_any_institution_and_their_near_misses() {
        let v = visit(A, "ZY1", Inpatient, 0, 48);
        let overlapping = [
            visit(B, "Z2", Inpatient, 47, 60),  // starts an hour before the discharge
            visit(B, "Z3", Inpatient, -10, 1),  // ends an hour after the admission
            visit(A, "Z4", Inpatient, 10, 20),  // inside, at the same institution
            visit(B, "Z5", Inpatient, -10, 60), // around
            visit(B, "Z6", Inpatient, 0, 0),    // the same moment of admission
        ];
        for o in overlapping {
            assert!(v.overlaps(&o) && o.overlaps(&v), "{o:?}");
        }
        let apart = [
            visit(B, "Z7", Inpatient, 48, 60),    // admitted at the discharge: a transfer
            visit(B, "Z8", Inpatient, -10, 0),    // discharged at the admission
            visit(B, "Z9", Outpatient, 10, 10),   // an outpatient visit during the stay
            visit(B, "Z10", Chronic, 0, 0),       // not a stay
            visit(B, "Z11", Inpatient, 100, 120), // later
        ];
        for o in apart {
            assert!(!v.overlaps(&o) && !o.overlaps(&v), "{o:?}");
        }
        let others =
            vec![other("s2", visit(B, "Z2", Inpatient, 47, 60)), other("s1", visit(B, "Z7", Inpatient, 48, 60))];
        assert_eq!(overlapping_stays(&v, &others), Some(Evidence::OtherClaims { setl_ids: vec!["s2".into()] }));
        assert_eq!(overlapping_stays(&v, &others[1..]), None);
        // Zero-length stays at different moments inside no other stay never overlap.
        assert!(!visit(A, "a", Inpatient, 5, 5).overlaps(&visit(B, "b", Inpatient, 6, 6)));
    }

    #[test]
    fn before_enrollment_by_premium_or_activation() {
        let v = visit(A, "ZY1", Inpatient, 0, 48);
        let facts = |paid: i64, activated: i64| Facts {
            premium_paid_at: Some(at(paid)),
            card_activated_at: Some(at(activated)),
            ..Facts::default()
        };
        assert_eq!(before_enrollment(&v, &facts(-1, -1)), None);
        // Paid at the very moment of admission: eligible then.
        assert_eq!(before_enrollment(&v, &facts(0, 0)), None);
        assert_eq!(
            before_enrollment(&v, &facts(1, -1)),
            Some(Evidence::NotYetEligible { premium_paid_at: Some(at(1).and_utc()), card_activated_at: None })
        );
        assert_eq!(
            serde_json::to_value(before_enrollment(&v, &facts(-5, 2)).unwrap()).unwrap(),
            json!({"card_activated_at": "2027-03-10T02:00:00Z"})
        );
        let both = before_enrollment(&v, &facts(3, 2)).unwrap();
        assert_eq!(
            serde_json::to_value(both).unwrap(),
            json!({"premium_paid_at": "2027-03-10T03:00:00Z", "card_activated_at": "2027-03-10T02:00:00Z"})
        );
        // Facts unknown fire nothing.
        assert_eq!(before_enrollment(&v, &Facts::default()), None);
    }

    #[test]
    fn after_card_lost_from_the_report_on() {
        let v = visit(A, "ZY1", Inpatient, 0, 48);
        let lost = |h: i64| Facts { card_lost_at: Some(at(h)), ..Facts::default() };
        assert_eq!(after_card_lost(&v, &lost(-3)), Some(Evidence::CardLost { card_lost_at: at(-3).and_utc() }));
        assert!(after_card_lost(&v, &lost(0)).is_some());
        assert_eq!(after_card_lost(&v, &lost(1)), None);
        assert_eq!(after_card_lost(&v, &Facts::default()), None);
    }

    #[test]
    fn more_than_n_outpatient_claims_on_one_day() {
        // 2027-03-10 in China runs from 16:00 UTC the day before to 16:00 UTC.
        let v = visit(A, "MZ9", Outpatient, 2, 2);
        let same_day = |id: &str, h: i64| other(id, visit(B, id, Outpatient, h, h));
        let others = vec![same_day("s1", -8), same_day("s2", 7), same_day("s3", 1)];
        let limit = 3;
        let e = outpatient_frequency(&v, &others, limit).unwrap();
        assert_eq!(
            e,
            Evidence::Frequency {
                date: NaiveDate::from_ymd_opt(2027, 3, 10).unwrap(),
                count: 4,
                limit,
                setl_ids: vec!["s1".into(), "s2".into(), "s3".into()]
            }
        );
        // Exactly N: no flag.
        assert_eq!(outpatient_frequency(&v, &others[..2], limit), None);
        // The day before in China (15:59 UTC), a chronic visit, an admission: not counted.
        let not_counted = vec![
            same_day("s1", -8),
            same_day("s2", 7),
            other("x1", visit(B, "x1", Outpatient, -9, -9)),
            other("x2", visit(B, "x2", Chronic, 3, 3)),
            other("x3", visit(B, "x3", Inpatient, 3, 30)),
        ];
        assert_eq!(outpatient_frequency(&v, &not_counted, limit), None);
        assert_eq!(outpatient_frequency(&v, &not_counted, 2).map(|_| ()), Some(()));
        // The rule is about outpatient claims only.
        assert_eq!(outpatient_frequency(&visit(A, "c", Chronic, 2, 2), &others, 1), None);
    }

    #[test]
    fn an_outlier_needs_m_claims_and_more_than_k_times_the_median() {
        let t = FraudThresholds {
            amount_outlier_factor: 50_000,
            amount_outlier_min_claims: 20,
            amount_outlier_days: 90,
            ..FraudThresholds::default()
        };
        let usual = AmountStatistic { claims: 20, median: Some(Fen(100_000)) };
        assert_eq!(amount_outlier(Fen(500_000), usual, &t), None, "exactly five times");
        assert_eq!(
            amount_outlier(Fen(500_001), usual, &t),
            Some(Evidence::Outlier {
                medfee_sumamt: Fen(500_001),
                median: Fen(100_000),
                claims: 20,
                days: 90,
                factor: 50_000
            })
        );
        let few = AmountStatistic { claims: 19, ..usual };
        assert_eq!(amount_outlier(Fen(50_000_000), few, &t), None, "fewer than M claims");
        assert_eq!(amount_outlier(Fen(1), AmountStatistic::default(), &t), None);
        // A factor that is no whole multiple: 1.5 times 3 fen is 4.5 fen.
        assert!(!is_outlier(Fen(4), Fen(3), 15_000));
        assert!(is_outlier(Fen(5), Fen(3), 15_000));
        assert!(!is_outlier(Fen(i64::MAX), Fen(i64::MAX), 10_000));
        assert_eq!(
            serde_json::to_value(amount_outlier(Fen(500_001), usual, &t).unwrap()).unwrap(),
            json!({"medfee_sumamt": 500001, "median": 100000, "claims": 20, "days": 90, "factor": 50000})
        );
    }

    #[test]
    fn a_duplicate_is_the_same_institution_kind_and_dates_under_another_number() {
        let v = visit(A, "ZY1", Inpatient, 1, 30);
        // Other hours of the same days (China): 09:00 and 06:00 UTC are still those days.
        assert!(v.duplicates(&visit(A, "ZY2", Inpatient, 2, 29)));
        let misses = [
            visit(B, "ZY2", Inpatient, 1, 30),   // another institution
            visit(A, "ZY1", Inpatient, 1, 30),   // the same number: the same claim
            visit(A, "ZY2", Chronic, 1, 30),     // another kind of care
            visit(A, "ZY2", Inpatient, 1, 54),   // discharged a day later
            visit(A, "ZY2", Inpatient, -23, 30), // admitted the day before
        ];
        for m in misses {
            assert!(!v.duplicates(&m), "{m:?}");
        }
        let others =
            vec![other("s9", visit(A, "ZY3", Inpatient, 3, 31)), other("s1", visit(B, "ZY4", Inpatient, 1, 30))];
        assert_eq!(duplicate_visits(&v, &others), Some(Evidence::OtherClaims { setl_ids: vec!["s9".into()] }));
    }

    #[test]
    fn every_rule_that_fires_is_listed_with_its_evidence_and_switched_off_rules_are_not() {
        let v = visit(A, "MZ1", Outpatient, 2, 2);
        let facts = Facts {
            others: vec![other("s1", visit(A, "MZ0", Outpatient, 2, 2))],
            premium_paid_at: Some(at(3)),
            card_activated_at: Some(at(-30)),
            card_lost_at: Some(at(-1)),
            institution: AmountStatistic { claims: 30, median: Some(Fen(1_000)) },
        };
        let t = FraudThresholds { outpatient_claims_per_day: 1, ..FraudThresholds::default() };
        let flags = judge(&v, Fen(10_000), &facts, &t);
        assert_eq!(
            codes(&flags),
            ["before_enrollment", "after_card_lost", "outpatient_frequency", "amount_outlier", "duplicate_visit"]
        );
        assert_eq!(
            serde_json::to_value(&flags[2]).unwrap(),
            json!({"code": "outpatient_frequency",
                   "evidence": {"date": "2027-03-10", "count": 2, "limit": 1, "setl_ids": ["s1"]}})
        );
        assert_eq!(
            serde_json::to_value(&flags[4]).unwrap(),
            json!({"code": "duplicate_visit", "evidence": {"setl_ids": ["s1"]}})
        );
        let off: RuleSet = [FraudRule::AfterCardLost, FraudRule::AmountOutlier].into_iter().collect();
        let t = FraudThresholds { disabled_rules: off, ..t };
        assert_eq!(
            codes(&judge(&v, Fen(10_000), &facts, &t)),
            ["before_enrollment", "outpatient_frequency", "duplicate_visit"]
        );
        let all: RuleSet = FraudRule::ALL.into_iter().collect();
        assert_eq!(judge(&v, Fen(10_000), &facts, &FraudThresholds { disabled_rules: all, ..t }), vec![]);
    }

    #[test]
    fn rules_and_rule_sets_by_code() {
        for rule in FraudRule::ALL {
            assert_eq!(FraudRule::parse(rule.code()), Some(rule));
            assert_eq!(crate::domain::serialized(&rule), rule.code());
        }
        assert_eq!(FraudRule::parse("Overlapping_stay"), None);
        let set = RuleSet::EMPTY.with(FraudRule::DuplicateVisit).with(FraudRule::OverlappingStay);
        assert_eq!(serde_json::to_value(set).unwrap(), json!(["overlapping_stay", "duplicate_visit"]));
        assert!(RuleSet::EMPTY.is_empty() && !set.is_empty());
        assert_eq!(serde_json::to_value(RuleSet::EMPTY).unwrap(), json!([]));
    }

    #[test]
    fn the_median_of_odd_and_even_counts() {
        assert_eq!(median(&mut []), None);
        assert_eq!(median(&mut [7]), Some(Fen(7)));
        assert_eq!(median(&mut [9, 1, 5]), Some(Fen(5)));
        assert_eq!(median(&mut [4, 1, 3, 2]), Some(Fen(3)), "2.5 rounds half up");
        assert_eq!(median(&mut [10, 20]), Some(Fen(15)));
        assert_eq!(median(&mut [5, 5, 5, 100_000]), Some(Fen(5)));
        assert_eq!(median(&mut [i64::MAX, i64::MAX]), Some(Fen(i64::MAX)));
        assert_eq!(median(&mut [i64::MIN, i64::MAX]), Some(Fen(0)));
        assert_eq!(AmountStatistic::of(&mut [3, 1, 2]), AmountStatistic { claims: 3, median: Some(Fen(2)) });
    }

    proptest! {
        #[test]
        fn the_median_splits_the_values_in_half(mut values in prop::collection::vec(-1_000_000_i64..1_000_000, 1..200)) {
            let mut sorted = values.clone();
            sorted.sort_unstable();
            let n = sorted.len();
            let want = if n % 2 == 1 {
                sorted[n / 2]
            } else {
                (sorted[n / 2 - 1] + sorted[n / 2] + 1).div_euclid(2)
            };
            let got = median(&mut values).unwrap().get();
            prop_assert_eq!(got, want);
            prop_assert!(sorted[0] <= got && got <= sorted[n - 1]);
            prop_assert!(2 * sorted.iter().filter(|v| **v <= got).count() >= n);
            prop_assert!(2 * sorted.iter().filter(|v| **v >= got).count() >= n);
        }

        #[test]
        fn overlap_is_symmetric_and_a_duplicate_stay_overlaps(
            a in 0..200_i64, la in 0..100_i64, b in 0..200_i64, lb in 0..100_i64,
        ) {
            let x = visit(A, "x", Inpatient, a, a + la);
            let y = visit(B, "y", Inpatient, b, b + lb);
            prop_assert_eq!(x.overlaps(&y), y.overlaps(&x));
            prop_assert_eq!(x.overlaps(&y), a == b || (a < b + lb && b < a + la));
            let again = Visit { ipt_otp_no: "x2".into(), ..x.clone() };
            prop_assert!(x.duplicates(&again) && x.overlaps(&again));
        }

        #[test]
        fn a_higher_total_is_never_less_of_an_outlier(
            total in 0..=1_000_000_000_000_i64, more in 0..=1_000_000_i64,
            m in 0..=1_000_000_000_i64, factor in 10_000..=1_000_000_u32,
        ) {
            if is_outlier(Fen(total), Fen(m), factor) {
                prop_assert!(is_outlier(Fen(total + more), Fen(m), factor));
            }
            // The largest total not flagged is floor(median * factor / 10000).
            let limit = i128::from(m) * i128::from(factor) / 10_000;
            let limit = i64::try_from(limit).unwrap();
            prop_assert!(!is_outlier(Fen(limit), Fen(m), factor));
            prop_assert!(is_outlier(Fen(limit + 1), Fen(m), factor));
        }

        #[test]
        fn the_frequency_rule_fires_exactly_above_n(same_day in 0..10_usize, limit in 1..=10_u32) {
            let v = visit(A, "MZ", Outpatient, 2, 2);
            let others: Vec<OtherClaim> =
                (0..same_day).map(|i| other(&format!("s{i}"), visit(B, &format!("m{i}"), Outpatient, 3, 3))).collect();
            let fired = outpatient_frequency(&v, &others, limit).is_some();
            prop_assert_eq!(fired, same_day as u32 + 1 > limit);
        }
    }
}
