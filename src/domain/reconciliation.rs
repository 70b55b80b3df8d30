//! Daily reconciliation with a clinic, in the national platform's terms: the totals of a
//! period (3201) and its settlements one by one (3202).
//!
//! What is reconciled: the clinic's settlements (2207), by the day they were made, in
//! China Standard Time ([`china_time`]); a period is whole days, both ends included, at
//! most [`MAX_PERIOD_DAYS`], not after today. A settlement that has been cancelled
//! (2208 or 2601) keeps its period and its own amounts and carries `refd_setl_flag`
//! `1`; the negated record of the cancel is not reconciled on its own. So the totals
//! are those of the settlements of the period that stand (`refd_setl_flag` `0`), the
//! same figures the clinic's detail rows add up to, and a cancel counts against the
//! period of the settlement it cancels, not the day it was made. `clr_type` narrows the
//! settlements by `med_type` ([`ClearingType`]).
//!
//! Parse, don't validate: a request's members arrive as text (or `i64` where JSON has
//! a number) and come out as a [`Period`], a [`ClearingType`], [`Figures`] or a
//! [`DetailRow`] the service trusts, or as every problem with them at once.

use chrono::{NaiveDate, NaiveDateTime, NaiveTime, TimeDelta};
use serde::Serialize;

use super::china_time;
use super::claim::INSUTYPE_RESIDENT;
use super::money::Fen;
use super::policy::{MAX_AMOUNT, MedType};
use super::{PersonNo, SetlId};

/// Longest period, in days (both ends counted).
pub const MAX_PERIOD_DAYS: i64 = 31;
/// Longest `mdtrt_id` or `psn_no`, in characters.
pub const MAX_ID_CHARS: usize = 64;
/// `stmt_rslt` of a reconciliation: the two sides agree.
pub const AGREE: &str = "0";
/// `stmt_rslt` of a reconciliation: they do not.
pub const DIFFER: &str = "1";

/// Why a member of a reconciliation request was refused; [`ReconciliationErrorCode::code`]
/// is what clients see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReconciliationErrorCode {
    /// A required member is absent, `null` or blank: `field_missing`.
    FieldMissing,
    /// A date that is not a real `yyyy-MM-dd`: `date_invalid`.
    DateInvalid,
    /// `stmt_enddate` before `stmt_begndate`: `period_reversed`.
    PeriodReversed,
    /// `stmt_enddate` after today in China: `period_in_future`.
    PeriodInFuture,
    /// More than [`MAX_PERIOD_DAYS`] days: `period_too_long`.
    PeriodTooLong,
    /// `insutype` is not `390`: `insutype_unsupported`.
    InsutypeUnsupported,
    /// `clr_type` is not `11`, `21` or `99`: `clr_type_unknown`.
    ClrTypeUnknown,
    /// An amount that is not a whole number of fen: `amount_invalid`.
    AmountInvalid,
    /// An amount below zero: `amount_negative`.
    AmountNegative,
    /// A row's amount above a claim's largest: `amount_too_large`.
    AmountTooLarge,
    /// `fixmedins_setl_cnt` below zero: `count_negative`.
    CountNegative,
    /// `setl_id` is not a settlement id as this scheme makes them: `setl_id_invalid`.
    SetlIdInvalid,
    /// `mdtrt_id` longer than [`MAX_ID_CHARS`] or with control characters:
    /// `mdtrt_id_invalid`.
    MdtrtIdInvalid,
    /// `psn_no` likewise: `psn_no_invalid`.
    PsnNoInvalid,
    /// `refd_setl_flag` is not `0` or `1`: `refd_setl_flag_invalid`.
    RefdSetlFlagInvalid,
}

impl ReconciliationErrorCode {
    pub fn code(self) -> &'static str {
        match self {
            ReconciliationErrorCode::FieldMissing => "field_missing",
            ReconciliationErrorCode::DateInvalid => "date_invalid",
            ReconciliationErrorCode::PeriodReversed => "period_reversed",
            ReconciliationErrorCode::PeriodInFuture => "period_in_future",
            ReconciliationErrorCode::PeriodTooLong => "period_too_long",
            ReconciliationErrorCode::InsutypeUnsupported => "insutype_unsupported",
            ReconciliationErrorCode::ClrTypeUnknown => "clr_type_unknown",
            ReconciliationErrorCode::AmountInvalid => "amount_invalid",
            ReconciliationErrorCode::AmountNegative => "amount_negative",
            ReconciliationErrorCode::AmountTooLarge => "amount_too_large",
            ReconciliationErrorCode::CountNegative => "count_negative",
            ReconciliationErrorCode::SetlIdInvalid => "setl_id_invalid",
            ReconciliationErrorCode::MdtrtIdInvalid => "mdtrt_id_invalid",
            ReconciliationErrorCode::PsnNoInvalid => "psn_no_invalid",
            ReconciliationErrorCode::RefdSetlFlagInvalid => "refd_setl_flag_invalid",
        }
    }
}

/// One problem with one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReconciliationFieldError {
    pub field: &'static str,
    pub code: ReconciliationErrorCode,
    pub message: String,
}

fn problem(field: &'static str, code: ReconciliationErrorCode, message: impl Into<String>) -> ReconciliationFieldError {
    ReconciliationFieldError { field, code, message: message.into() }
}

/// The text of a member, trimmed; `None` (and a `field_missing`) when it is absent or blank.
fn required<'a>(
    field: &'static str,
    value: Option<&'a str>,
    errors: &mut Vec<ReconciliationFieldError>,
) -> Option<&'a str> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        Some(v) => Some(v),
        None => {
            errors.push(problem(field, ReconciliationErrorCode::FieldMissing, "required"));
            None
        }
    }
}

/// The days reconciled: from `begin` to `end`, both included, in China.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Period {
    begin: NaiveDate,
    end: NaiveDate,
}

impl Period {
    /// The period of `stmt_begndate` and `stmt_enddate` (`yyyy-MM-dd`), judged on
    /// `today` in China: not reversed, not after today, at most [`MAX_PERIOD_DAYS`].
    pub fn parse(
        begin: Option<&str>,
        end: Option<&str>,
        today: NaiveDate,
    ) -> Result<Period, Vec<ReconciliationFieldError>> {
        let mut errors = Vec::new();
        let begin = date_member("stmt_begndate", begin, &mut errors);
        let end = date_member("stmt_enddate", end, &mut errors);
        let (Some(begin), Some(end)) = (begin, end) else {
            return Err(errors);
        };
        if end < begin {
            errors.push(problem(
                "stmt_enddate",
                ReconciliationErrorCode::PeriodReversed,
                "stmt_enddate is before stmt_begndate",
            ));
        } else if end > today {
            errors.push(problem(
                "stmt_enddate",
                ReconciliationErrorCode::PeriodInFuture,
                format!("the period ends after today ({today}) in China"),
            ));
        } else if (end - begin).num_days() + 1 > MAX_PERIOD_DAYS {
            errors.push(problem(
                "stmt_enddate",
                ReconciliationErrorCode::PeriodTooLong,
                format!("at most {MAX_PERIOD_DAYS} days, both ends counted"),
            ));
        }
        if errors.is_empty() { Ok(Period { begin, end }) } else { Err(errors) }
    }

    pub fn begin(&self) -> NaiveDate {
        self.begin
    }

    pub fn end(&self) -> NaiveDate {
        self.end
    }

    /// The stored (UTC) times the period spans: from midnight at its start in China,
    /// included, to midnight after its last day, excluded.
    pub fn stored_bounds(&self) -> (NaiveDateTime, NaiveDateTime) {
        let midnight = |d: NaiveDate| china_time::to_utc(d.and_time(NaiveTime::MIN));
        // The day after a real date within the scheme's years exists; stay total anyway.
        let after = self.end.succ_opt().map_or_else(|| midnight(self.end) + TimeDelta::days(1), midnight);
        (midnight(self.begin), after)
    }
}

fn date_member(
    field: &'static str,
    value: Option<&str>,
    errors: &mut Vec<ReconciliationFieldError>,
) -> Option<NaiveDate> {
    let text = required(field, value, errors)?;
    let date = parse_date(text);
    if date.is_none() {
        errors.push(problem(field, ReconciliationErrorCode::DateInvalid, "a real date, yyyy-MM-dd"));
    }
    date
}

/// `yyyy-MM-dd` exactly, a real date.
fn parse_date(text: &str) -> Option<NaiveDate> {
    let shaped = text.len() == 10
        && text.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() });
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

/// Checks `insutype`: only `390` is settled, so only `390` is reconciled.
pub fn check_insutype(value: Option<&str>) -> Result<(), ReconciliationFieldError> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Err(problem("insutype", ReconciliationErrorCode::FieldMissing, "required")),
        Some(INSUTYPE_RESIDENT) => Ok(()),
        Some(_) => Err(problem(
            "insutype",
            ReconciliationErrorCode::InsutypeUnsupported,
            "only 390, resident basic medical insurance, is settled",
        )),
    }
}

/// The platform's clearing type (`clr_type`): which settlements a reconciliation takes,
/// by their `med_type`. The platform's `41` (pharmacy purchases) and the provinces' own
/// codes are not settled by the scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClearingType {
    /// `11`: outpatient, `med_type` `11` and `14` (chronic or special disease
    /// outpatient is cleared as outpatient).
    Outpatient,
    /// `21`: inpatient, `med_type` `21`.
    Inpatient,
    /// `99`: every settlement.
    All,
}

impl ClearingType {
    pub fn parse(value: Option<&str>) -> Result<ClearingType, ReconciliationFieldError> {
        match value.map(str::trim).filter(|v| !v.is_empty()) {
            None => Err(problem("clr_type", ReconciliationErrorCode::FieldMissing, "required")),
            Some("11") => Ok(ClearingType::Outpatient),
            Some("21") => Ok(ClearingType::Inpatient),
            Some("99") => Ok(ClearingType::All),
            Some(_) => Err(problem(
                "clr_type",
                ReconciliationErrorCode::ClrTypeUnknown,
                "use 11 (outpatient), 21 (inpatient) or 99 (all)",
            )),
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            ClearingType::Outpatient => "11",
            ClearingType::Inpatient => "21",
            ClearingType::All => "99",
        }
    }

    /// The med types of the settlements it takes.
    pub fn med_types(self) -> &'static [MedType] {
        match self {
            ClearingType::Outpatient => &[MedType::Outpatient, MedType::ChronicOutpatient],
            ClearingType::Inpatient => &[MedType::Inpatient],
            ClearingType::All => &[MedType::Outpatient, MedType::ChronicOutpatient, MedType::Inpatient],
        }
    }
}

/// The totals of a set of settlements, with the platform's names.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Figures {
    pub medfee_sumamt: Fen,
    pub fund_pay_sumamt: Fen,
    pub fixmedins_setl_cnt: i64,
}

impl Figures {
    /// The totals a clinic sent (3201): amounts in fen and a count, none below zero.
    pub fn parse(
        medfee_sumamt: Option<i64>,
        fund_pay_sumamt: Option<i64>,
        fixmedins_setl_cnt: Option<i64>,
    ) -> Result<Figures, Vec<ReconciliationFieldError>> {
        let mut errors = Vec::new();
        let mut amount = |field: &'static str, value: Option<i64>| match value {
            None => {
                errors.push(problem(field, ReconciliationErrorCode::FieldMissing, "required"));
                None
            }
            Some(v) if v < 0 => {
                errors.push(problem(field, ReconciliationErrorCode::AmountNegative, "an amount in fen, 0 or more"));
                None
            }
            Some(v) => Some(Fen(v)),
        };
        let medfee = amount("medfee_sumamt", medfee_sumamt);
        let fund = amount("fund_pay_sumamt", fund_pay_sumamt);
        let count = match fixmedins_setl_cnt {
            None => {
                errors.push(problem("fixmedins_setl_cnt", ReconciliationErrorCode::FieldMissing, "required"));
                None
            }
            Some(n) if n < 0 => {
                errors.push(problem("fixmedins_setl_cnt", ReconciliationErrorCode::CountNegative, "0 or more"));
                None
            }
            Some(n) => Some(n),
        };
        match (medfee, fund, count) {
            (Some(medfee_sumamt), Some(fund_pay_sumamt), Some(fixmedins_setl_cnt)) => {
                Ok(Figures { medfee_sumamt, fund_pay_sumamt, fixmedins_setl_cnt })
            }
            _ => Err(errors),
        }
    }

    /// The names of the figures in which `self` and `other` differ, in the platform's
    /// order.
    pub fn differing(&self, other: &Figures) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.medfee_sumamt != other.medfee_sumamt {
            out.push("medfee_sumamt");
        }
        if self.fund_pay_sumamt != other.fund_pay_sumamt {
            out.push("fund_pay_sumamt");
        }
        if self.fixmedins_setl_cnt != other.fixmedins_setl_cnt {
            out.push("fixmedins_setl_cnt");
        }
        out
    }
}

/// One of the clinic's detail rows as sent, every member as text (a CSV cell, or a JSON
/// string or number), before any check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DetailRowDraft<'a> {
    pub setl_id: Option<&'a str>,
    pub mdtrt_id: Option<&'a str>,
    pub psn_no: Option<&'a str>,
    pub medfee_sumamt: Option<&'a str>,
    pub fund_pay_sumamt: Option<&'a str>,
    pub refd_setl_flag: Option<&'a str>,
}

/// A clinic's detail row the service trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DetailRow {
    /// Lower-case, hyphenated: as the scheme made it.
    pub setl_id: SetlId,
    pub mdtrt_id: String,
    pub psn_no: PersonNo,
    pub medfee_sumamt: Fen,
    pub fund_pay_sumamt: Fen,
    /// `refd_setl_flag` `1`: the settlement was cancelled.
    pub cancelled: bool,
}

impl DetailRow {
    /// The row `draft` describes, or every problem with it in the order of the members.
    pub fn parse(draft: DetailRowDraft<'_>) -> Result<DetailRow, Vec<ReconciliationFieldError>> {
        let mut errors = Vec::new();
        let setl_id = required("setl_id", draft.setl_id, &mut errors).and_then(|text| {
            let id = parse_setl_id(text);
            if id.is_none() {
                errors.push(problem(
                    "setl_id",
                    ReconciliationErrorCode::SetlIdInvalid,
                    "a setl_id as the settlement answered it: a UUID, 36 characters with hyphens",
                ));
            }
            id
        });
        let mdtrt_id = id_text("mdtrt_id", draft.mdtrt_id, ReconciliationErrorCode::MdtrtIdInvalid, &mut errors);
        let psn_no = id_text("psn_no", draft.psn_no, ReconciliationErrorCode::PsnNoInvalid, &mut errors);
        let medfee = row_amount("medfee_sumamt", draft.medfee_sumamt, &mut errors);
        let fund = row_amount("fund_pay_sumamt", draft.fund_pay_sumamt, &mut errors);
        let cancelled = required("refd_setl_flag", draft.refd_setl_flag, &mut errors).and_then(|text| match text {
            "0" => Some(false),
            "1" => Some(true),
            _ => {
                errors.push(problem(
                    "refd_setl_flag",
                    ReconciliationErrorCode::RefdSetlFlagInvalid,
                    "0 (standing) or 1 (cancelled)",
                ));
                None
            }
        });
        match (setl_id, mdtrt_id, psn_no, medfee, fund, cancelled) {
            (
                Some(setl_id),
                Some(mdtrt_id),
                Some(psn_no),
                Some(medfee_sumamt),
                Some(fund_pay_sumamt),
                Some(cancelled),
            ) if errors.is_empty() => Ok(DetailRow {
                setl_id,
                mdtrt_id: mdtrt_id.to_string(),
                psn_no: PersonNo::from(psn_no),
                medfee_sumamt,
                fund_pay_sumamt,
                cancelled,
            }),
            _ => Err(errors),
        }
    }
}

/// A settlement id as the scheme makes them: a UUID in its hyphenated form (either
/// case), given back lower-case.
fn parse_setl_id(text: &str) -> Option<SetlId> {
    if text.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(text).ok().map(|id| SetlId::from(id.hyphenated().to_string()))
}

fn id_text<'a>(
    field: &'static str,
    value: Option<&'a str>,
    code: ReconciliationErrorCode,
    errors: &mut Vec<ReconciliationFieldError>,
) -> Option<&'a str> {
    let text = required(field, value, errors)?;
    if text.chars().count() > MAX_ID_CHARS || text.chars().any(char::is_control) {
        errors.push(problem(field, code, format!("1 to {MAX_ID_CHARS} printable characters")));
        return None;
    }
    Some(text)
}

/// An amount of a row: a whole number of fen, `0..=`[`MAX_AMOUNT`] (one claim's).
fn row_amount(field: &'static str, value: Option<&str>, errors: &mut Vec<ReconciliationFieldError>) -> Option<Fen> {
    let text = required(field, value, errors)?;
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        errors.push(problem(field, ReconciliationErrorCode::AmountInvalid, "a whole number of fen"));
        return None;
    }
    // All digits: only a number too long for i64 fails to parse, and that is too large.
    let value = digits.parse::<i64>().unwrap_or(i64::MAX);
    if negative && value > 0 {
        errors.push(problem(field, ReconciliationErrorCode::AmountNegative, "an amount in fen, 0 or more"));
        return None;
    }
    if value > MAX_AMOUNT.get() {
        errors.push(problem(
            field,
            ReconciliationErrorCode::AmountTooLarge,
            format!("at most {} fen", MAX_AMOUNT.get()),
        ));
        return None;
    }
    Some(Fen(value))
}

/// How a settlement differs between the scheme and the clinic (`stmt_rslt` of a
/// detail difference).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DifferenceKind {
    /// `1`: the scheme has it, the clinic's list does not.
    OnlyScheme,
    /// `2`: the clinic's list has it, the scheme does not (in this period and
    /// clearing type).
    OnlyClinic,
    /// `3`: both have it, and an amount, the cancel flag, `mdtrt_id` or `psn_no` differ.
    Differs,
}

impl DifferenceKind {
    pub const ALL: [DifferenceKind; 3] =
        [DifferenceKind::OnlyScheme, DifferenceKind::OnlyClinic, DifferenceKind::Differs];

    pub fn code(self) -> &'static str {
        match self {
            DifferenceKind::OnlyScheme => "1",
            DifferenceKind::OnlyClinic => "2",
            DifferenceKind::Differs => "3",
        }
    }

    pub fn parse(code: &str) -> Option<DifferenceKind> {
        DifferenceKind::ALL.into_iter().find(|k| k.code() == code.trim())
    }
}

/// One side's view of a settlement in a detail reconciliation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettlementFacts {
    pub mdtrt_id: String,
    pub psn_no: String,
    pub medfee_sumamt: Fen,
    pub fund_pay_sumamt: Fen,
    /// `0` standing, `1` cancelled.
    pub refd_setl_flag: String,
}

impl SettlementFacts {
    /// The members in which the two sides differ, in the platform's order.
    pub fn differing(&self, other: &SettlementFacts) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.mdtrt_id != other.mdtrt_id {
            out.push("mdtrt_id");
        }
        if self.psn_no != other.psn_no {
            out.push("psn_no");
        }
        if self.medfee_sumamt != other.medfee_sumamt {
            out.push("medfee_sumamt");
        }
        if self.fund_pay_sumamt != other.fund_pay_sumamt {
            out.push("fund_pay_sumamt");
        }
        if self.refd_setl_flag != other.refd_setl_flag {
            out.push("refd_setl_flag");
        }
        out
    }
}

/// `refd_setl_flag` as the platform writes it.
pub fn refd_setl_flag(cancelled: bool) -> &'static str {
    if cancelled { "1" } else { "0" }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn codes(errors: &[ReconciliationFieldError]) -> Vec<(&'static str, &'static str)> {
        errors.iter().map(|e| (e.field, e.code.code())).collect()
    }

    #[test]
    fn a_period_is_whole_days_in_china_not_after_today_at_most_31() {
        let today = day("2026-12-20");
        let p = Period::parse(Some("2026-12-01"), Some("2026-12-20"), today).unwrap();
        assert_eq!((p.begin(), p.end()), (day("2026-12-01"), day("2026-12-20")));
        let (from, to) = p.stored_bounds();
        assert_eq!(from.to_string(), "2026-11-30 16:00:00");
        assert_eq!(to.to_string(), "2026-12-20 16:00:00");
        assert!(Period::parse(Some("2026-11-20"), Some("2026-12-20"), today).is_ok(), "31 days");
        let e = Period::parse(Some("2026-11-19"), Some("2026-12-20"), today).unwrap_err();
        assert_eq!(codes(&e), [("stmt_enddate", "period_too_long")]);
        let e = Period::parse(Some("2026-12-20"), Some("2026-12-21"), today).unwrap_err();
        assert_eq!(codes(&e), [("stmt_enddate", "period_in_future")]);
        let e = Period::parse(Some("2026-12-02"), Some("2026-12-01"), today).unwrap_err();
        assert_eq!(codes(&e), [("stmt_enddate", "period_reversed")]);
        let e = Period::parse(Some("2026-02-30"), None, today).unwrap_err();
        assert_eq!(codes(&e), [("stmt_begndate", "date_invalid"), ("stmt_enddate", "field_missing")]);
        for bad in ["2026-1-01", "20261201", "2026/12/01", " ", "2026-12-01 00:00:00"] {
            let e = Period::parse(Some(bad), Some("2026-12-01"), today).unwrap_err();
            assert_eq!(e[0].field, "stmt_begndate", "{bad}");
        }
    }

    #[test]
    fn clearing_types_take_their_med_types() {
        assert_eq!(
            ClearingType::parse(Some("11")).unwrap().med_types(),
            &[MedType::Outpatient, MedType::ChronicOutpatient]
        );
        assert_eq!(ClearingType::parse(Some(" 21 ")).unwrap().med_types(), &[MedType::Inpatient]);
        assert_eq!(ClearingType::parse(Some("99")).unwrap().med_types().len(), 3);
        assert_eq!(ClearingType::parse(Some("41")).unwrap_err().code, ReconciliationErrorCode::ClrTypeUnknown);
        assert_eq!(ClearingType::parse(None).unwrap_err().code, ReconciliationErrorCode::FieldMissing);
        assert!(check_insutype(Some("390")).is_ok());
        assert_eq!(check_insutype(Some("310")).unwrap_err().code.code(), "insutype_unsupported");
    }

    #[test]
    fn totals_are_not_negative_and_differences_are_named() {
        let f = Figures::parse(Some(100), Some(40), Some(2)).unwrap();
        assert_eq!(f.differing(&f), Vec::<&str>::new());
        let other = Figures { fixmedins_setl_cnt: 3, medfee_sumamt: Fen(101), ..f };
        assert_eq!(f.differing(&other), ["medfee_sumamt", "fixmedins_setl_cnt"]);
        let e = Figures::parse(Some(-1), None, Some(-2)).unwrap_err();
        assert_eq!(
            codes(&e),
            [
                ("medfee_sumamt", "amount_negative"),
                ("fund_pay_sumamt", "field_missing"),
                ("fixmedins_setl_cnt", "count_negative")
            ]
        );
    }

    fn draft<'a>(setl_id: &'a str) -> DetailRowDraft<'a> {
        DetailRowDraft {
            setl_id: Some(setl_id),
            mdtrt_id: Some("019a9a103b4c7d5e8f61718293a4b5c6"),
            psn_no: Some("019a8f41-2c3d-7e4f-8a5b-6c7d8e9f0a1b"),
            medfee_sumamt: Some("1000000"),
            fund_pay_sumamt: Some("652500"),
            refd_setl_flag: Some("1"),
        }
    }

    #[test]
    fn a_detail_row_is_read_as_the_scheme_wrote_it() {
        let row = DetailRow::parse(draft(" 019A9A10-3B4C-7D5E-8F60-718293A4B5C6 ")).unwrap();
        assert_eq!(row.setl_id.as_str(), "019a9a10-3b4c-7d5e-8f60-718293a4b5c6");
        assert_eq!((row.medfee_sumamt, row.fund_pay_sumamt, row.cancelled), (Fen(1_000_000), Fen(652_500), true));
        assert_eq!(row.psn_no.as_str(), "019a8f41-2c3d-7e4f-8a5b-6c7d8e9f0a1b");
    }

    #[test]
    fn every_problem_of_a_row_is_reported() {
        for bad in [
            "019a9a103b4c7d5e8f60718293a4b5c6",
            "{019a9a10-3b4c-7d5e-8f60-718293a4b5c6}",
            "S0001",
            "019a9a10-3b4c-7d5e-8f60-718293a4b5cg",
        ] {
            let e = DetailRow::parse(draft(bad)).unwrap_err();
            assert_eq!(codes(&e), [("setl_id", "setl_id_invalid")], "{bad}");
        }
        let long = "x".repeat(MAX_ID_CHARS + 1);
        let row = DetailRowDraft {
            setl_id: None,
            mdtrt_id: Some(&long),
            psn_no: Some("a\u{7}b"),
            medfee_sumamt: Some("12.50"),
            fund_pay_sumamt: Some("-3"),
            refd_setl_flag: Some("2"),
        };
        assert_eq!(
            codes(&DetailRow::parse(row).unwrap_err()),
            [
                ("setl_id", "field_missing"),
                ("mdtrt_id", "mdtrt_id_invalid"),
                ("psn_no", "psn_no_invalid"),
                ("medfee_sumamt", "amount_invalid"),
                ("fund_pay_sumamt", "amount_negative"),
                ("refd_setl_flag", "refd_setl_flag_invalid"),
            ]
        );
        let huge = DetailRowDraft {
            medfee_sumamt: Some("99999999999999999999999"),
            ..draft("019a9a10-3b4c-7d5e-8f60-718293a4b5c6")
        };
        assert_eq!(codes(&DetailRow::parse(huge).unwrap_err()), [("medfee_sumamt", "amount_too_large")]);
        let zero = DetailRowDraft { fund_pay_sumamt: Some("-0"), ..draft("019a9a10-3b4c-7d5e-8f60-718293a4b5c6") };
        assert_eq!(DetailRow::parse(zero).unwrap().fund_pay_sumamt, Fen(0));
    }

    #[test]
    fn differing_facts_are_named() {
        let ours = SettlementFacts {
            mdtrt_id: "m".into(),
            psn_no: "p".into(),
            medfee_sumamt: Fen(10),
            fund_pay_sumamt: Fen(5),
            refd_setl_flag: refd_setl_flag(false).into(),
        };
        assert!(ours.differing(&ours.clone()).is_empty());
        let theirs =
            SettlementFacts { medfee_sumamt: Fen(11), refd_setl_flag: refd_setl_flag(true).into(), ..ours.clone() };
        assert_eq!(ours.differing(&theirs), ["medfee_sumamt", "refd_setl_flag"]);
        assert_eq!(DifferenceKind::parse("3"), Some(DifferenceKind::Differs));
        assert_eq!(DifferenceKind::parse("4"), None);
    }

    proptest! {
        /// Every amount in range reads back as itself, in any spelling of a whole number.
        #[test]
        fn row_amounts_read_back(v in 0i64..=MAX_AMOUNT.get(), zeros in 0usize..3) {
            let text = format!("{}{v}", "0".repeat(zeros));
            let mut errors = Vec::new();
            prop_assert_eq!(row_amount("medfee_sumamt", Some(&text), &mut errors), Some(Fen(v)));
            prop_assert!(errors.is_empty());
        }

        /// A period is accepted exactly when it is ordered, ends by today and spans at
        /// most 31 days.
        #[test]
        fn periods_follow_the_three_rules(start in 0i64..400, len in 0i64..40, back in -3i64..400) {
            let today = day("2027-06-30");
            let begin = today - TimeDelta::days(back) - TimeDelta::days(start % 60);
            let end = begin + TimeDelta::days(len);
            let ok = Period::parse(Some(&begin.to_string()), Some(&end.to_string()), today).is_ok();
            prop_assert_eq!(ok, end <= today && len < MAX_PERIOD_DAYS);
        }
    }
}
