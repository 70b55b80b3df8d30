//! A county's reimbursement policy for one year (DOMAIN.md section 5): per
//! institution level the deductible per admission and the ratio, the inpatient annual
//! cap, the outpatient (`med_type` 11) and chronic or special outpatient (14) terms,
//! the premium and subsidy per person, and the thresholds of the fraud rules.
//!
//! Parse, don't validate: a [`PolicyDraft`] is what a client sent, with every number
//! kept as it came so that an out-of-range value reaches [`Policy::parse`] instead of
//! failing deserialisation; a [`Policy`] holds only terms that passed every check.
//! [`Policy::parse`] reports every problem at once, each with the path of its field and
//! a stable code, so a provincial admin fixes a policy in one round trip.
//!
//! Versions and their dates are storage's business (`settlement::policies`); the one
//! date rule that needs no storage is [`check_effective_from`].

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;

use chrono::{Datelike, NaiveDate};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::fraud::{FraudRule, RuleSet};
use super::money::Fen;

/// Largest amount a policy term may hold: 10^12 fen (10 billion yuan), far above any
/// real cap, low enough that sums of a year's claims cannot overflow an `i64`.
pub const MAX_AMOUNT: Fen = Fen(1_000_000_000_000);

/// Policy years the scheme can have: NCMS began in 2003.
pub const YEARS: RangeInclusive<i32> = 2003..=2100;

/// The level of the institution that treated a patient; the deductible and ratio of an
/// admission depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InstitutionLevel {
    /// Village clinic (村卫生室).
    Village,
    /// Township health centre (乡镇卫生院).
    Township,
    /// County hospital.
    County,
    /// Municipal (prefecture-level city) hospital.
    Municipal,
    /// Provincial hospital, and any institution out of the province.
    Provincial,
}

impl InstitutionLevel {
    /// Every level, from the most local to the farthest.
    pub const ALL: [InstitutionLevel; 5] = [
        InstitutionLevel::Village,
        InstitutionLevel::Township,
        InstitutionLevel::County,
        InstitutionLevel::Municipal,
        InstitutionLevel::Provincial,
    ];

    /// The name used in JSON (`village`, `township`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            InstitutionLevel::Village => "village",
            InstitutionLevel::Township => "township",
            InstitutionLevel::County => "county",
            InstitutionLevel::Municipal => "municipal",
            InstitutionLevel::Provincial => "provincial",
        }
    }

    /// The level named `name` exactly as [`InstitutionLevel::as_str`] writes it.
    pub fn parse(name: &str) -> Option<InstitutionLevel> {
        InstitutionLevel::ALL.into_iter().find(|l| l.as_str() == name)
    }
}

impl fmt::Display for InstitutionLevel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The kind of treatment of a claim, by the national platform's `med_type` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MedType {
    /// `11`: ordinary outpatient visit.
    Outpatient,
    /// `14`: chronic or special disease outpatient visit.
    ChronicOutpatient,
    /// `21`: inpatient admission.
    Inpatient,
}

impl MedType {
    /// The platform's code: `11`, `14` or `21`.
    pub fn code(self) -> &'static str {
        match self {
            MedType::Outpatient => "11",
            MedType::ChronicOutpatient => "14",
            MedType::Inpatient => "21",
        }
    }

    /// The cap a claim of this med type counts against.
    pub fn care(self) -> super::eligibility::Care {
        match self {
            MedType::Outpatient => super::eligibility::Care::Outpatient,
            MedType::ChronicOutpatient => super::eligibility::Care::Chronic,
            MedType::Inpatient => super::eligibility::Care::Inpatient,
        }
    }

    /// The med type of a platform code; `None` for codes the scheme does not settle.
    pub fn parse(code: &str) -> Option<MedType> {
        match code.trim() {
            "11" => Some(MedType::Outpatient),
            "14" => Some(MedType::ChronicOutpatient),
            "21" => Some(MedType::Inpatient),
            _ => None,
        }
    }
}

impl Serialize for MedType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for MedType {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let code = String::deserialize(deserializer)?;
        MedType::parse(&code).ok_or_else(|| de::Error::custom(format!("unknown med_type {code:?}: use 11, 14 or 21")))
    }
}

/// A ratio in basis points (1/10000): `8500` is 85 %. Always within `0..=10000`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct BasisPoints(u16);

impl BasisPoints {
    /// 100 %.
    pub const FULL: BasisPoints = BasisPoints(10_000);
    /// 0 %.
    pub const ZERO: BasisPoints = BasisPoints(0);

    /// The ratio of `value` basis points, or `None` outside `0..=10000`.
    pub fn new(value: i64) -> Option<BasisPoints> {
        u16::try_from(value).ok().filter(|v| *v <= 10_000).map(BasisPoints)
    }

    /// The basis points.
    pub const fn get(self) -> u16 {
        self.0
    }

    /// `amount * self / 10000`, rounded half away from zero (half up for the
    /// non-negative amounts of the reimbursement formula). The result never exceeds
    /// `amount` in magnitude, so it cannot overflow.
    pub fn of(self, amount: Fen) -> Fen {
        let product = i128::from(amount.get()) * i128::from(self.0);
        let half = if product < 0 { -5_000 } else { 5_000 };
        let rounded = (product + half) / 10_000;
        // |rounded| <= |amount| because self <= 10000.
        Fen(i64::try_from(rounded).unwrap_or(amount.get()))
    }
}

/// The terms of an admission at one institution level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct LevelTerms {
    /// Deductible per admission: the patient bears this much of the in-scope amount.
    pub deductible: Fen,
    /// Share of the in-scope amount above the deductible the fund pays.
    pub ratio: BasisPoints,
}

/// The terms of every institution level; every level is always present.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Levels {
    pub village: LevelTerms,
    pub township: LevelTerms,
    pub county: LevelTerms,
    pub municipal: LevelTerms,
    pub provincial: LevelTerms,
}

impl Levels {
    /// The terms of `level`.
    pub fn get(&self, level: InstitutionLevel) -> LevelTerms {
        match level {
            InstitutionLevel::Village => self.village,
            InstitutionLevel::Township => self.township,
            InstitutionLevel::County => self.county,
            InstitutionLevel::Municipal => self.municipal,
            InstitutionLevel::Provincial => self.provincial,
        }
    }
}

/// Ordinary outpatient (`med_type` 11) terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct OutpatientTerms {
    pub ratio: BasisPoints,
    pub deductible_per_visit: Fen,
    /// Most the fund pays one resident for outpatient visits in the year.
    pub annual_cap: Fen,
}

/// Chronic and special disease outpatient (`med_type` 14) terms: no deductible.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ChronicTerms {
    pub ratio: BasisPoints,
    /// Most the fund pays one resident for these visits in the year.
    pub annual_cap: Fen,
}

/// Thresholds of the fraud rules that flag a claim for review by the county.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct FraudThresholds {
    /// More outpatient claims than this by one resident on one day is flagged (N).
    pub outpatient_claims_per_day: u32,
    /// A claim whose total exceeds this multiple of the institution's median total is
    /// flagged (k), in basis points of the median: `50000` is five times.
    pub amount_outlier_factor: u32,
    /// The median is taken over the institution's claims of this many days (D).
    pub amount_outlier_days: u32,
    /// The outlier rule applies only once the institution has this many claims in
    /// those days (M), so that a new clinic's first claims are not all outliers.
    pub amount_outlier_min_claims: u32,
    /// Rules the county does not apply (none by default).
    pub disabled_rules: RuleSet,
}

impl FraudThresholds {
    /// Limits of each threshold, in the order of the fields.
    const OUTPATIENT_CLAIMS_PER_DAY: RangeInclusive<i64> = 1..=100;
    const AMOUNT_OUTLIER_FACTOR: RangeInclusive<i64> = 10_000..=1_000_000;
    const AMOUNT_OUTLIER_DAYS: RangeInclusive<i64> = 1..=3660;
    const AMOUNT_OUTLIER_MIN_CLAIMS: RangeInclusive<i64> = 1..=1_000_000;
}

impl Default for FraudThresholds {
    fn default() -> Self {
        FraudThresholds {
            outpatient_claims_per_day: 3,
            amount_outlier_factor: 50_000,
            amount_outlier_days: 90,
            amount_outlier_min_claims: 20,
            disabled_rules: RuleSet::EMPTY,
        }
    }
}

/// The terms that compute one claim: `hifp_pay = min(cap_left, round_half_up((inscp -
/// deductible)+ * ratio / 10000))`, where `cap_left` is `annual_cap` minus what the
/// resident was already paid that year under the same cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClaimTerms {
    pub deductible: Fen,
    pub ratio: BasisPoints,
    pub annual_cap: Fen,
}

/// A county's policy for one year: terms that passed every check of [`Policy::parse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Policy {
    levels: Levels,
    inpatient_annual_cap: Fen,
    outpatient: OutpatientTerms,
    chronic: ChronicTerms,
    premium_per_person: Fen,
    subsidy_per_person: Fen,
    fraud_thresholds: FraudThresholds,
}

impl Policy {
    /// The terms of an admission at `level`.
    pub fn level(&self, level: InstitutionLevel) -> LevelTerms {
        self.levels.get(level)
    }

    /// Every level's terms.
    pub fn levels(&self) -> &Levels {
        &self.levels
    }

    /// The terms a claim of `med_type` at an institution of `level` is computed with:
    /// inpatient claims take the level's deductible and ratio and the inpatient cap;
    /// outpatient and chronic claims their own terms whatever the level.
    pub fn terms(&self, med_type: MedType, level: InstitutionLevel) -> ClaimTerms {
        match med_type {
            MedType::Inpatient => {
                let l = self.levels.get(level);
                ClaimTerms { deductible: l.deductible, ratio: l.ratio, annual_cap: self.inpatient_annual_cap }
            }
            MedType::Outpatient => ClaimTerms {
                deductible: self.outpatient.deductible_per_visit,
                ratio: self.outpatient.ratio,
                annual_cap: self.outpatient.annual_cap,
            },
            MedType::ChronicOutpatient => {
                ClaimTerms { deductible: Fen::ZERO, ratio: self.chronic.ratio, annual_cap: self.chronic.annual_cap }
            }
        }
    }

    /// Most the fund pays one resident in the year for `care`.
    pub fn annual_cap(&self, care: super::eligibility::Care) -> Fen {
        match care {
            super::eligibility::Care::Inpatient => self.inpatient_annual_cap(),
            super::eligibility::Care::Outpatient => self.outpatient().annual_cap,
            super::eligibility::Care::Chronic => self.chronic().annual_cap,
        }
    }

    /// Most the fund reimburses one resident for inpatient care in the year.
    pub fn inpatient_annual_cap(&self) -> Fen {
        self.inpatient_annual_cap
    }

    pub fn outpatient(&self) -> OutpatientTerms {
        self.outpatient
    }

    pub fn chronic(&self) -> ChronicTerms {
        self.chronic
    }

    /// The premium each enrolled resident pays for the year (what a debit run pulls).
    pub fn premium_per_person(&self) -> Fen {
        self.premium_per_person
    }

    /// The government subsidy per enrolled resident.
    pub fn subsidy_per_person(&self) -> Fen {
        self.subsidy_per_person
    }

    pub fn fraud_thresholds(&self) -> FraudThresholds {
        self.fraud_thresholds
    }

    /// The policy that `draft` describes, or every problem with it.
    pub fn parse(draft: PolicyDraft) -> Result<Policy, Vec<PolicyFieldError>> {
        let mut check = Checker::default();
        let levels = check.levels(draft.levels);
        let inpatient_annual_cap = check.amount("inpatient_annual_cap", draft.inpatient_annual_cap);
        let outpatient = check.required("outpatient", draft.outpatient).and_then(|o| {
            let ratio = check.ratio("outpatient.ratio", o.ratio);
            let deductible = check.amount("outpatient.deductible_per_visit", o.deductible_per_visit);
            let cap = check.amount("outpatient.annual_cap", o.annual_cap);
            Some(OutpatientTerms { ratio: ratio?, deductible_per_visit: deductible?, annual_cap: cap? })
        });
        let chronic = check.required("chronic", draft.chronic).and_then(|c| {
            let ratio = check.ratio("chronic.ratio", c.ratio);
            let cap = check.amount("chronic.annual_cap", c.annual_cap);
            Some(ChronicTerms { ratio: ratio?, annual_cap: cap? })
        });
        let premium_per_person = check.amount("premium_per_person", draft.premium_per_person);
        let subsidy_per_person = check.amount("subsidy_per_person", draft.subsidy_per_person);
        let fraud_thresholds = check.thresholds(draft.fraud_thresholds.unwrap_or_default());
        match (
            levels,
            inpatient_annual_cap,
            outpatient,
            chronic,
            premium_per_person,
            subsidy_per_person,
            fraud_thresholds,
        ) {
            (
                Some(levels),
                Some(cap),
                Some(outpatient),
                Some(chronic),
                Some(premium),
                Some(subsidy),
                Some(thresholds),
            ) if check.errors.is_empty() => Ok(Policy {
                levels,
                inpatient_annual_cap: cap,
                outpatient,
                chronic,
                premium_per_person: premium,
                subsidy_per_person: subsidy,
                fraud_thresholds: thresholds,
            }),
            _ => Err(check.errors),
        }
    }
}

/// What a client sent as a policy's terms, before any check. Unknown members are
/// refused when the body is read; everything else, missing members included, is left
/// to [`Policy::parse`] so that all problems are reported together.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyDraft {
    /// Keyed by level name; a map rather than five members so that a missing or an
    /// unknown level is a precise field error and not an unreadable body.
    #[serde(default)]
    pub levels: Option<BTreeMap<String, Option<LevelDraft>>>,
    #[serde(default)]
    pub inpatient_annual_cap: Option<DraftNumber>,
    #[serde(default)]
    pub outpatient: Option<OutpatientDraft>,
    #[serde(default)]
    pub chronic: Option<ChronicDraft>,
    #[serde(default)]
    pub premium_per_person: Option<DraftNumber>,
    #[serde(default)]
    pub subsidy_per_person: Option<DraftNumber>,
    /// Absent: the defaults of [`FraudThresholds`].
    #[serde(default)]
    pub fraud_thresholds: Option<FraudThresholdsDraft>,
}

/// One level's terms as sent.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelDraft {
    #[serde(default)]
    pub deductible: Option<DraftNumber>,
    #[serde(default)]
    pub ratio: Option<DraftNumber>,
}

/// Outpatient terms as sent.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutpatientDraft {
    #[serde(default)]
    pub ratio: Option<DraftNumber>,
    #[serde(default)]
    pub deductible_per_visit: Option<DraftNumber>,
    #[serde(default)]
    pub annual_cap: Option<DraftNumber>,
}

/// Chronic outpatient terms as sent.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChronicDraft {
    #[serde(default)]
    pub ratio: Option<DraftNumber>,
    #[serde(default)]
    pub annual_cap: Option<DraftNumber>,
}

/// Fraud thresholds as sent; each one absent takes its default.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FraudThresholdsDraft {
    #[serde(default)]
    pub outpatient_claims_per_day: Option<DraftNumber>,
    #[serde(default)]
    pub amount_outlier_factor: Option<DraftNumber>,
    #[serde(default)]
    pub amount_outlier_days: Option<DraftNumber>,
    #[serde(default)]
    pub amount_outlier_min_claims: Option<DraftNumber>,
    /// Codes of the rules not to apply ([`FraudRule::code`]).
    #[serde(default)]
    pub disabled_rules: Option<Vec<String>>,
}

/// A JSON value where a policy expects an integer, kept as it came so that a value
/// out of any range still gets its precise error.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DraftNumber {
    /// An integer that fits an `i64` (also `1e3`-style numbers with no fraction).
    Integer(i64),
    /// An integer beyond the `i64` range, with its sign.
    Huge { negative: bool },
    /// A number with a fractional part.
    Fraction,
    /// Not a number at all (a string, a boolean, an object, ...).
    NotANumber,
}

impl From<i64> for DraftNumber {
    fn from(value: i64) -> Self {
        DraftNumber::Integer(value)
    }
}

impl<'de> Deserialize<'de> for DraftNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(DraftNumberVisitor)
    }
}

struct DraftNumberVisitor;

impl<'de> Visitor<'de> for DraftNumberVisitor {
    type Value = DraftNumber;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<DraftNumber, E> {
        Ok(DraftNumber::Integer(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<DraftNumber, E> {
        Ok(i64::try_from(v).map(DraftNumber::Integer).unwrap_or(DraftNumber::Huge { negative: false }))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<DraftNumber, E> {
        Ok(i64::try_from(v).map(DraftNumber::Integer).unwrap_or(DraftNumber::Huge { negative: v < 0 }))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<DraftNumber, E> {
        Ok(i64::try_from(v).map(DraftNumber::Integer).unwrap_or(DraftNumber::Huge { negative: false }))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<DraftNumber, E> {
        // 2^63 as f64; every f64 in [-2^63, 2^63) with no fraction is an i64.
        const LIMIT: f64 = 9_223_372_036_854_775_808.0;
        if !v.is_finite() || v.fract() != 0.0 {
            return Ok(DraftNumber::Fraction);
        }
        if !(-LIMIT..LIMIT).contains(&v) {
            return Ok(DraftNumber::Huge { negative: v < 0.0 });
        }
        Ok(DraftNumber::Integer(v as i64))
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<DraftNumber, E> {
        Ok(DraftNumber::NotANumber)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<DraftNumber, E> {
        Ok(DraftNumber::NotANumber)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<DraftNumber, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(DraftNumber::NotANumber)
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<DraftNumber, A::Error> {
        while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
        Ok(DraftNumber::NotANumber)
    }
}

/// Why a policy field was refused; [`PolicyErrorCode::code`] is what clients see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyErrorCode {
    /// A required member is absent or `null`.
    FieldMissing,
    /// One of the five institution levels is absent.
    LevelMissing,
    /// `levels` names something that is not an institution level.
    LevelUnknown,
    /// Not an integer.
    NotAnInteger,
    /// A ratio outside `0..=10000` basis points.
    RatioOutOfRange,
    /// An amount below zero.
    AmountNegative,
    /// An amount above [`MAX_AMOUNT`].
    AmountTooLarge,
    /// A fraud threshold outside its range.
    ThresholdOutOfRange,
    /// `fraud_thresholds.disabled_rules` names something that is not a fraud rule.
    RuleUnknown,
}

impl PolicyErrorCode {
    /// The stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            PolicyErrorCode::FieldMissing => "field_missing",
            PolicyErrorCode::LevelMissing => "level_missing",
            PolicyErrorCode::LevelUnknown => "level_unknown",
            PolicyErrorCode::NotAnInteger => "not_an_integer",
            PolicyErrorCode::RatioOutOfRange => "ratio_out_of_range",
            PolicyErrorCode::AmountNegative => "amount_negative",
            PolicyErrorCode::AmountTooLarge => "amount_too_large",
            PolicyErrorCode::ThresholdOutOfRange => "threshold_out_of_range",
            PolicyErrorCode::RuleUnknown => "rule_unknown",
        }
    }
}

crate::domain::serialize_as_code!(PolicyErrorCode);

/// One problem of a draft: the path of the field (`levels.county.ratio`), its code
/// and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PolicyFieldError {
    pub field: String,
    pub code: PolicyErrorCode,
    pub message: String,
}

/// Collects the errors of one draft while its fields are checked in document order.
#[derive(Default)]
struct Checker {
    errors: Vec<PolicyFieldError>,
}

impl Checker {
    fn push(&mut self, field: &str, code: PolicyErrorCode, message: impl Into<String>) {
        self.errors.push(PolicyFieldError { field: field.to_string(), code, message: message.into() });
    }

    fn required<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.push(field, PolicyErrorCode::FieldMissing, "required");
        }
        value
    }

    /// The integer of a field that must hold one; `None` (with its error) otherwise.
    /// Values beyond `i64` come back as the extreme of their sign, so that range checks
    /// give them the same code as any other value out of range.
    fn integer(&mut self, field: &str, value: Option<DraftNumber>) -> Option<i64> {
        match self.required(field, value)? {
            DraftNumber::Integer(v) => Some(v),
            DraftNumber::Huge { negative: true } => Some(i64::MIN),
            DraftNumber::Huge { negative: false } => Some(i64::MAX),
            DraftNumber::Fraction | DraftNumber::NotANumber => {
                self.push(field, PolicyErrorCode::NotAnInteger, "must be an integer");
                None
            }
        }
    }

    fn amount(&mut self, field: &str, value: Option<DraftNumber>) -> Option<Fen> {
        let v = self.integer(field, value)?;
        if v < 0 {
            self.push(field, PolicyErrorCode::AmountNegative, "an amount in fen may not be negative");
            None
        } else if v > MAX_AMOUNT.get() {
            self.push(field, PolicyErrorCode::AmountTooLarge, format!("at most {} fen", MAX_AMOUNT.get()));
            None
        } else {
            Some(Fen(v))
        }
    }

    fn ratio(&mut self, field: &str, value: Option<DraftNumber>) -> Option<BasisPoints> {
        let v = self.integer(field, value)?;
        let ratio = BasisPoints::new(v);
        if ratio.is_none() {
            self.push(field, PolicyErrorCode::RatioOutOfRange, "a ratio in basis points, 0 to 10000");
        }
        ratio
    }

    fn levels(&mut self, draft: Option<BTreeMap<String, Option<LevelDraft>>>) -> Option<Levels> {
        let mut draft = self.required("levels", draft)?;
        let mut take = |check: &mut Checker, level: InstitutionLevel| -> Option<LevelTerms> {
            let path = format!("levels.{level}");
            let Some(terms) = draft.remove(level.as_str()).flatten() else {
                check.push(&path, PolicyErrorCode::LevelMissing, format!("the terms of level {level} are required"));
                return None;
            };
            let deductible = check.amount(&format!("{path}.deductible"), terms.deductible);
            let ratio = check.ratio(&format!("{path}.ratio"), terms.ratio);
            Some(LevelTerms { deductible: deductible?, ratio: ratio? })
        };
        let village = take(self, InstitutionLevel::Village);
        let township = take(self, InstitutionLevel::Township);
        let county = take(self, InstitutionLevel::County);
        let municipal = take(self, InstitutionLevel::Municipal);
        let provincial = take(self, InstitutionLevel::Provincial);
        // What is left names no level. The name is clipped so that an error message
        // cannot be made arbitrarily long by the request.
        for name in draft.keys() {
            let shown: String = name.chars().take(64).collect();
            self.push(
                &format!("levels.{shown}"),
                PolicyErrorCode::LevelUnknown,
                "not an institution level: use village, township, county, municipal or provincial",
            );
        }
        Some(Levels {
            village: village?,
            township: township?,
            county: county?,
            municipal: municipal?,
            provincial: provincial?,
        })
    }

    fn threshold(&mut self, field: &str, value: Option<DraftNumber>, range: RangeInclusive<i64>, default: u32) -> u32 {
        let Some(value) = value else {
            return default;
        };
        let Some(v) = self.integer(field, Some(value)) else {
            return default;
        };
        match u32::try_from(v) {
            Ok(t) if range.contains(&v) => t,
            _ => {
                self.push(
                    field,
                    PolicyErrorCode::ThresholdOutOfRange,
                    format!("between {} and {}", range.start(), range.end()),
                );
                default
            }
        }
    }

    /// The rules named by `codes`; each name that is no rule is an error of its own
    /// (by its position, so that the message need not repeat what was sent).
    fn rules(&mut self, codes: Vec<String>) -> RuleSet {
        let mut set = RuleSet::EMPTY;
        for (i, code) in codes.iter().enumerate() {
            match FraudRule::parse(code) {
                Some(rule) => set = set.with(rule),
                None => {
                    let known: Vec<&str> = FraudRule::ALL.iter().map(|r| r.code()).collect();
                    self.push(
                        &format!("fraud_thresholds.disabled_rules.{i}"),
                        PolicyErrorCode::RuleUnknown,
                        format!("not a fraud rule: use {}", known.join(", ")),
                    );
                }
            }
        }
        set
    }

    fn thresholds(&mut self, draft: FraudThresholdsDraft) -> Option<FraudThresholds> {
        let d = FraudThresholds::default();
        let before = self.errors.len();
        let t = FraudThresholds {
            outpatient_claims_per_day: self.threshold(
                "fraud_thresholds.outpatient_claims_per_day",
                draft.outpatient_claims_per_day,
                FraudThresholds::OUTPATIENT_CLAIMS_PER_DAY,
                d.outpatient_claims_per_day,
            ),
            amount_outlier_factor: self.threshold(
                "fraud_thresholds.amount_outlier_factor",
                draft.amount_outlier_factor,
                FraudThresholds::AMOUNT_OUTLIER_FACTOR,
                d.amount_outlier_factor,
            ),
            amount_outlier_days: self.threshold(
                "fraud_thresholds.amount_outlier_days",
                draft.amount_outlier_days,
                FraudThresholds::AMOUNT_OUTLIER_DAYS,
                d.amount_outlier_days,
            ),
            amount_outlier_min_claims: self.threshold(
                "fraud_thresholds.amount_outlier_min_claims",
                draft.amount_outlier_min_claims,
                FraudThresholds::AMOUNT_OUTLIER_MIN_CLAIMS,
                d.amount_outlier_min_claims,
            ),
            disabled_rules: self.rules(draft.disabled_rules.unwrap_or_default()),
        };
        (self.errors.len() == before).then_some(t)
    }
}

/// Why an effective date does not fit its policy year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EffectiveFromError {
    /// The date is after the policy year, or (for a later version) not within it, or
    /// (for the first version) more than a year early.
    #[error(
        "a version of the {year} policy takes effect within {year} (the first version may be published from {earliest} on)"
    )]
    OutsideYear { year: i32, earliest: i32 },
    /// A new version may not take effect before the version it follows.
    #[error("takes effect before the previous version, which took effect on {previous}")]
    BeforePrevious { previous: NaiveDate },
}

impl EffectiveFromError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            EffectiveFromError::OutsideYear { .. } => "effective_from_outside_year",
            EffectiveFromError::BeforePrevious { .. } => "effective_from_before_previous",
        }
    }
}

crate::domain::serialize_as_code!(EffectiveFromError);

/// Whether a new version of the `year` policy may take effect on `date`, given the
/// effective date of the version it follows (`None` for the first).
///
/// A year's first version covers the year from its first day whatever its date, so it
/// may be dated up to a year ahead (policies are published before the premium is
/// collected, in the autumn before); later versions change the rules mid-year and must
/// fall within the year, on or after the previous version's date (a version on the same
/// date corrects the one before it).
pub fn check_effective_from(year: i32, date: NaiveDate, previous: Option<NaiveDate>) -> Result<(), EffectiveFromError> {
    let earliest = if previous.is_none() { year.saturating_sub(1) } else { year };
    if date.year() < earliest || date.year() > year {
        return Err(EffectiveFromError::OutsideYear { year, earliest });
    }
    match previous {
        Some(previous) if date < previous => Err(EffectiveFromError::BeforePrevious { previous }),
        _ => Ok(()),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    fn sample() -> Value {
        json!({
            "levels": {
                "village": {"deductible": 10000, "ratio": 8500},
                "township": {"deductible": 10000, "ratio": 8500},
                "county": {"deductible": 30000, "ratio": 7500},
                "municipal": {"deductible": 60000, "ratio": 6000},
                "provincial": {"deductible": 100000, "ratio": 5000}
            },
            "inpatient_annual_cap": 15_000_000,
            "outpatient": {"ratio": 5000, "deductible_per_visit": 0, "annual_cap": 40000},
            "chronic": {"ratio": 6000, "annual_cap": 300_000},
            "premium_per_person": 38000,
            "subsidy_per_person": 61000
        })
    }

    fn draft(value: Value) -> PolicyDraft {
        serde_json::from_value(value).unwrap()
    }

    fn errors(value: Value) -> Vec<(String, &'static str)> {
        Policy::parse(draft(value)).unwrap_err().into_iter().map(|e| (e.field, e.code.code())).collect()
    }

    fn with(mut value: Value, pointer: &str, new: Value) -> Value {
        *value.pointer_mut(pointer).unwrap() = new;
        value
    }

    fn without(mut value: Value, pointer: &str) -> Value {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        value.pointer_mut(parent).unwrap().as_object_mut().unwrap().remove(key).unwrap();
        value
    }

    #[test]
    fn a_complete_draft_parses_with_default_thresholds() {
        let p = Policy::parse(draft(sample())).unwrap();
        assert_eq!(p.level(InstitutionLevel::County), LevelTerms { deductible: Fen(30000), ratio: BasisPoints(7500) });
        assert_eq!(p.level(InstitutionLevel::Provincial).deductible, Fen(100000));
        assert_eq!(p.inpatient_annual_cap(), Fen(15_000_000));
        assert_eq!(p.outpatient().annual_cap, Fen(40000));
        assert_eq!(p.chronic().ratio, BasisPoints(6000));
        assert_eq!(p.premium_per_person(), Fen(38000));
        assert_eq!(p.subsidy_per_person(), Fen(61000));
        assert_eq!(p.fraud_thresholds(), FraudThresholds::default());
        let d = FraudThresholds::default();
        assert_eq!(
            (d.outpatient_claims_per_day, d.amount_outlier_factor, d.amount_outlier_days, d.amount_outlier_min_claims),
            (3, 50_000, 90, 20)
        );
    }

    #[test]
    fn terms_per_med_type_and_level() {
        let p = Policy::parse(draft(sample())).unwrap();
        let inpatient = p.terms(MedType::Inpatient, InstitutionLevel::Municipal);
        assert_eq!(
            inpatient,
            ClaimTerms { deductible: Fen(60000), ratio: BasisPoints(6000), annual_cap: Fen(15_000_000) }
        );
        for level in InstitutionLevel::ALL {
            assert_eq!(
                p.terms(MedType::Outpatient, level),
                ClaimTerms { deductible: Fen(0), ratio: BasisPoints(5000), annual_cap: Fen(40000) }
            );
            assert_eq!(
                p.terms(MedType::ChronicOutpatient, level),
                ClaimTerms { deductible: Fen(0), ratio: BasisPoints(6000), annual_cap: Fen(300_000) }
            );
            assert_eq!(p.terms(MedType::Inpatient, level).deductible, p.level(level).deductible);
        }
    }

    #[test]
    fn serialises_in_the_shape_it_was_sent_in_plus_thresholds() {
        let p = Policy::parse(draft(sample())).unwrap();
        let mut expected = sample();
        expected["fraud_thresholds"] = json!({
            "outpatient_claims_per_day": 3, "amount_outlier_factor": 50000,
            "amount_outlier_days": 90, "amount_outlier_min_claims": 20, "disabled_rules": []
        });
        assert_eq!(serde_json::to_value(&p).unwrap(), expected);
        // What is stored reads back to the same policy.
        let back = Policy::parse(draft(serde_json::to_value(&p).unwrap())).unwrap();
        assert_eq!(back, p);
    }

    #[test]
    fn the_four_bad_inputs_of_the_issue_each_have_their_code() {
        assert_eq!(
            errors(with(sample(), "/levels/county/ratio", json!(12000))),
            [("levels.county.ratio".to_string(), "ratio_out_of_range")]
        );
        assert_eq!(
            errors(with(sample(), "/outpatient/annual_cap", json!(-1))),
            [("outpatient.annual_cap".to_string(), "amount_negative")]
        );
        assert_eq!(
            errors(with(sample(), "/inpatient_annual_cap", json!(1_000_000_000_001_i64))),
            [("inpatient_annual_cap".to_string(), "amount_too_large")]
        );
        assert_eq!(errors(without(sample(), "/levels/municipal")), [("levels.municipal".to_string(), "level_missing")]);
    }

    #[test]
    fn every_problem_is_reported_in_document_order() {
        let mut v = with(sample(), "/levels/village/ratio", json!(-5));
        v = with(v, "/levels/village/deductible", json!(2e12));
        v = without(v, "/levels/provincial");
        v["levels"]["hamlet"] = json!({"deductible": 1, "ratio": 1});
        v = without(v, "/inpatient_annual_cap");
        v = with(v, "/outpatient/ratio", json!(50.5));
        v = with(v, "/chronic/annual_cap", json!("300000"));
        v = with(v, "/premium_per_person", json!(18446744073709551615_u64));
        v = with(v, "/subsidy_per_person", json!(null));
        v["fraud_thresholds"] = json!({"outpatient_claims_per_day": 0, "amount_outlier_days": 90});
        let got = errors(v);
        let want = [
            ("levels.village.deductible", "amount_too_large"),
            ("levels.village.ratio", "ratio_out_of_range"),
            ("levels.provincial", "level_missing"),
            ("levels.hamlet", "level_unknown"),
            ("inpatient_annual_cap", "field_missing"),
            ("outpatient.ratio", "not_an_integer"),
            ("chronic.annual_cap", "not_an_integer"),
            ("premium_per_person", "amount_too_large"),
            ("subsidy_per_person", "field_missing"),
            ("fraud_thresholds.outpatient_claims_per_day", "threshold_out_of_range"),
        ];
        let want: Vec<(String, &str)> = want.iter().map(|(f, c)| (f.to_string(), *c)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn missing_sections_and_members() {
        assert_eq!(errors(json!({})), {
            let want =
                ["levels", "inpatient_annual_cap", "outpatient", "chronic", "premium_per_person", "subsidy_per_person"];
            want.iter().map(|f| (f.to_string(), "field_missing")).collect::<Vec<_>>()
        });
        let v = with(sample(), "/levels/township", json!({"ratio": 8500}));
        assert_eq!(errors(v), [("levels.township.deductible".to_string(), "field_missing")]);
        let v = with(sample(), "/levels/township", json!(null));
        assert_eq!(errors(v), [("levels.township".to_string(), "level_missing")]);
        let v = with(sample(), "/levels", json!({}));
        let got = errors(v);
        assert_eq!(got.len(), 5);
        assert!(got.iter().all(|(f, c)| f.starts_with("levels.") && *c == "level_missing"));
        let v = with(sample(), "/chronic", json!({}));
        assert_eq!(
            errors(v),
            [("chronic.ratio".to_string(), "field_missing"), ("chronic.annual_cap".to_string(), "field_missing")]
        );
    }

    #[test]
    fn unknown_members_are_refused_when_read() {
        let mut v = sample();
        v["copay"] = json!(1);
        assert!(serde_json::from_value::<PolicyDraft>(v).is_err());
        let mut v = sample();
        v["outpatient"]["cap"] = json!(1);
        assert!(serde_json::from_value::<PolicyDraft>(v).is_err());
        let mut v = sample();
        v["levels"]["county"]["extra"] = json!(1);
        assert!(serde_json::from_value::<PolicyDraft>(v).is_err());
    }

    #[test]
    fn thresholds_can_be_set_and_are_checked() {
        let mut v = sample();
        v["fraud_thresholds"] = json!({"outpatient_claims_per_day": 5, "amount_outlier_factor": 30000,
                                       "amount_outlier_days": 30, "amount_outlier_min_claims": 50});
        let t = Policy::parse(draft(v)).unwrap().fraud_thresholds();
        assert_eq!(
            t,
            FraudThresholds {
                outpatient_claims_per_day: 5,
                amount_outlier_factor: 30000,
                amount_outlier_days: 30,
                amount_outlier_min_claims: 50,
                disabled_rules: RuleSet::EMPTY,
            }
        );
        let mut v = sample();
        v["fraud_thresholds"] = json!({"amount_outlier_factor": 9999, "amount_outlier_days": -1,
                                       "amount_outlier_min_claims": 1e30});
        assert_eq!(
            errors(v),
            [
                ("fraud_thresholds.amount_outlier_factor".to_string(), "threshold_out_of_range"),
                ("fraud_thresholds.amount_outlier_days".to_string(), "threshold_out_of_range"),
                ("fraud_thresholds.amount_outlier_min_claims".to_string(), "threshold_out_of_range"),
            ]
        );
    }

    #[test]
    fn rules_can_be_switched_off_by_code() {
        let mut v = sample();
        v["fraud_thresholds"] = json!({"disabled_rules": ["duplicate_visit", "overlapping_stay", "duplicate_visit"]});
        let p = Policy::parse(draft(v)).unwrap();
        let off = p.fraud_thresholds().disabled_rules;
        assert_eq!(off.rules().collect::<Vec<_>>(), [FraudRule::OverlappingStay, FraudRule::DuplicateVisit]);
        assert_eq!(p.fraud_thresholds().outpatient_claims_per_day, 3, "the others keep their defaults");
        let back = serde_json::to_value(&p).unwrap();
        assert_eq!(back["fraud_thresholds"]["disabled_rules"], json!(["overlapping_stay", "duplicate_visit"]));
        assert_eq!(Policy::parse(draft(back)).unwrap(), p);
        let mut v = sample();
        v["fraud_thresholds"] = json!({"disabled_rules": ["amount_outlier", "Amount_Outlier", "x"]});
        assert_eq!(
            errors(v),
            [
                ("fraud_thresholds.disabled_rules.1".to_string(), "rule_unknown"),
                ("fraud_thresholds.disabled_rules.2".to_string(), "rule_unknown"),
            ]
        );
        let mut v = sample();
        v["fraud_thresholds"] = json!({"disabled_rules": "amount_outlier"});
        assert!(serde_json::from_value::<PolicyDraft>(v).is_err(), "a list, not a string");
    }

    #[test]
    fn bounds_are_inclusive() {
        let v = with(sample(), "/levels/village/ratio", json!(10000));
        let v = with(v, "/levels/township/ratio", json!(0));
        let v = with(v, "/inpatient_annual_cap", json!(1_000_000_000_000_i64));
        let v = with(v, "/premium_per_person", json!(0));
        let p = Policy::parse(draft(v)).unwrap();
        assert_eq!(p.level(InstitutionLevel::Village).ratio, BasisPoints::FULL);
        assert_eq!(p.level(InstitutionLevel::Township).ratio, BasisPoints::ZERO);
        assert_eq!(p.inpatient_annual_cap(), MAX_AMOUNT);
        let v = with(sample(), "/levels/village/ratio", json!(10001));
        assert_eq!(errors(v)[0].1, "ratio_out_of_range");
    }

    #[test]
    fn numbers_are_read_as_they_came() {
        let read = |text: &str| serde_json::from_str::<DraftNumber>(text).unwrap();
        assert_eq!(read("12"), DraftNumber::Integer(12));
        assert_eq!(read("-12"), DraftNumber::Integer(-12));
        assert_eq!(read("1e3"), DraftNumber::Integer(1000));
        assert_eq!(read("1.5"), DraftNumber::Fraction);
        assert_eq!(read("9223372036854775808"), DraftNumber::Huge { negative: false });
        assert_eq!(read("-1e300"), DraftNumber::Huge { negative: true });
        assert_eq!(read("\"5\""), DraftNumber::NotANumber);
        assert_eq!(read("true"), DraftNumber::NotANumber);
        assert_eq!(read("[1]"), DraftNumber::NotANumber);
        assert_eq!(read("{\"a\": 1}"), DraftNumber::NotANumber);
    }

    #[test]
    fn levels_and_med_types_by_name() {
        for level in InstitutionLevel::ALL {
            assert_eq!(InstitutionLevel::parse(level.as_str()), Some(level));
            assert_eq!(serde_json::to_value(level).unwrap(), json!(level.as_str()));
        }
        assert_eq!(InstitutionLevel::parse("Village"), None);
        for m in [MedType::Outpatient, MedType::ChronicOutpatient, MedType::Inpatient] {
            assert_eq!(MedType::parse(m.code()), Some(m));
            assert_eq!(serde_json::from_value::<MedType>(json!(m.code())).unwrap(), m);
        }
        assert_eq!(MedType::parse("41"), None);
        assert!(serde_json::from_value::<MedType>(json!("41")).is_err());
    }

    #[test]
    fn ratio_of_an_amount_rounds_half_up() {
        let bp = |v| BasisPoints::new(v).unwrap();
        assert_eq!(bp(8500).of(Fen(100)), Fen(85));
        assert_eq!(bp(5000).of(Fen(1)), Fen(1)); // 0.5 rounds up
        assert_eq!(bp(4999).of(Fen(1)), Fen(0));
        assert_eq!(bp(7500).of(Fen(3)), Fen(2)); // 2.25
        assert_eq!(bp(5000).of(Fen(-1)), Fen(-1)); // half away from zero
        assert_eq!(BasisPoints::FULL.of(Fen(i64::MAX)), Fen(i64::MAX));
        assert_eq!(BasisPoints::FULL.of(Fen(i64::MIN)), Fen(i64::MIN));
    }

    #[test]
    fn effective_dates_fit_the_year() {
        let d = |y, m, day| NaiveDate::from_ymd_opt(y, m, day).unwrap();
        assert_eq!(check_effective_from(2027, d(2027, 1, 1), None), Ok(()));
        assert_eq!(check_effective_from(2027, d(2026, 10, 1), None), Ok(()));
        assert_eq!(check_effective_from(2027, d(2027, 12, 31), None), Ok(()));
        assert_eq!(
            check_effective_from(2027, d(2025, 12, 31), None).unwrap_err().code(),
            "effective_from_outside_year"
        );
        assert_eq!(check_effective_from(2027, d(2028, 1, 1), None).unwrap_err().code(), "effective_from_outside_year");
        let prev = Some(d(2027, 3, 1));
        assert_eq!(check_effective_from(2027, d(2027, 3, 1), prev), Ok(()));
        assert_eq!(check_effective_from(2027, d(2027, 7, 1), prev), Ok(()));
        assert_eq!(
            check_effective_from(2027, d(2027, 2, 28), prev),
            Err(EffectiveFromError::BeforePrevious { previous: d(2027, 3, 1) })
        );
        // A later version may not be dated in the year before, even after a first
        // version that was.
        let err = check_effective_from(2027, d(2026, 12, 1), Some(d(2026, 11, 1))).unwrap_err();
        assert_eq!(err.code(), "effective_from_outside_year");
    }

    fn level_json(deductible: i64, ratio: i64) -> Value {
        json!({"deductible": deductible, "ratio": ratio})
    }

    fn any_level() -> impl Strategy<Value = InstitutionLevel> {
        prop::sample::select(InstitutionLevel::ALL.to_vec())
    }

    /// JSON pointers of every amount of the sample.
    const AMOUNTS: [&str; 11] = [
        "/levels/village/deductible",
        "/levels/township/deductible",
        "/levels/county/deductible",
        "/levels/municipal/deductible",
        "/levels/provincial/deductible",
        "/inpatient_annual_cap",
        "/outpatient/deductible_per_visit",
        "/outpatient/annual_cap",
        "/chronic/annual_cap",
        "/premium_per_person",
        "/subsidy_per_person",
    ];
    const RATIOS: [&str; 7] = [
        "/levels/village/ratio",
        "/levels/township/ratio",
        "/levels/county/ratio",
        "/levels/municipal/ratio",
        "/levels/provincial/ratio",
        "/outpatient/ratio",
        "/chronic/ratio",
    ];

    fn path_of(pointer: &str) -> String {
        pointer.trim_start_matches('/').replace('/', ".")
    }

    proptest! {
        #[test]
        fn any_ratio_outside_the_range_is_refused(
            at in prop::sample::select(RATIOS.to_vec()),
            v in prop_oneof![i64::MIN..0, 10_001..i64::MAX],
        ) {
            prop_assert_eq!(errors(with(sample(), at, json!(v))), vec![(path_of(at), "ratio_out_of_range")]);
        }

        #[test]
        fn any_ratio_in_the_range_is_accepted(at in prop::sample::select(RATIOS.to_vec()), v in 0..=10_000_i64) {
            prop_assert!(Policy::parse(draft(with(sample(), at, json!(v)))).is_ok());
        }

        #[test]
        fn any_amount_in_the_range_is_accepted_and_kept(
            at in prop::sample::select(AMOUNTS.to_vec()),
            v in 0..=MAX_AMOUNT.get(),
        ) {
            let p = Policy::parse(draft(with(sample(), at, json!(v)))).unwrap();
            let back = serde_json::to_value(&p).unwrap();
            prop_assert_eq!(back.pointer(at), Some(&json!(v)));
        }

        #[test]
        fn any_negative_amount_is_refused(at in prop::sample::select(AMOUNTS.to_vec()), v in i64::MIN..0) {
            prop_assert_eq!(errors(with(sample(), at, json!(v))), vec![(path_of(at), "amount_negative")]);
        }

        #[test]
        fn any_amount_over_the_limit_is_refused(
            at in prop::sample::select(AMOUNTS.to_vec()),
            v in MAX_AMOUNT.get() + 1..=i64::MAX,
        ) {
            prop_assert_eq!(errors(with(sample(), at, json!(v))), vec![(path_of(at), "amount_too_large")]);
        }

        #[test]
        fn any_missing_level_is_named(missing in prop::collection::btree_set(any_level(), 1..=5)) {
            let mut v = sample();
            for level in &missing {
                v["levels"].as_object_mut().unwrap().remove(level.as_str());
            }
            let want: Vec<(String, &str)> = InstitutionLevel::ALL
                .iter()
                .filter(|l| missing.contains(l))
                .map(|l| (format!("levels.{l}"), "level_missing"))
                .collect();
            prop_assert_eq!(errors(v), want);
        }

        #[test]
        fn a_valid_level_gives_back_its_terms(
            level in any_level(),
            deductible in 0..=MAX_AMOUNT.get(),
            ratio in 0..=10_000_i64,
        ) {
            let mut v = sample();
            v["levels"][level.as_str()] = level_json(deductible, ratio);
            let p = Policy::parse(draft(v)).unwrap();
            let want = LevelTerms { deductible: Fen(deductible), ratio: BasisPoints::new(ratio).unwrap() };
            prop_assert_eq!(p.level(level), want);
            prop_assert_eq!(p.terms(MedType::Inpatient, level).deductible, Fen(deductible));
        }

        #[test]
        fn basis_points_exist_exactly_within_the_range(v in any::<i64>()) {
            prop_assert_eq!(BasisPoints::new(v).is_some(), (0..=10_000).contains(&v));
        }

        #[test]
        fn a_share_never_exceeds_the_amount(amount in 0..=MAX_AMOUNT.get(), bp in 0..=10_000_i64) {
            let share = BasisPoints::new(bp).unwrap().of(Fen(amount));
            prop_assert!(share >= Fen::ZERO && share <= Fen(amount));
            let exact = i128::from(amount) * i128::from(bp);
            prop_assert!((i128::from(share.get()) * 10_000 - exact).abs() <= 5_000);
        }
    }
}
