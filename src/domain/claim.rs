//! A clinic's settlement request (DOMAIN.md section 5), in the shape of the national
//! medical insurance platform's transaction 2207, and the reimbursement computed for it.
//!
//! Parse, don't validate: a [`ClaimDraft`] is what the clinic's HIS sent, every member
//! optional and every amount a plain `i64`, so that a missing member or an amount out
//! of range reaches [`Claim::parse`] and gets its precise code; a [`Claim`] holds only
//! values that passed every check. [`Claim::parse`] reports every problem at once.
//!
//! Every date rule is judged in China Standard Time ([`china_time`]): the platform's
//! times (`yyyy-MM-dd HH:mm:ss`) are wall-clock times in China, and "not in the future"
//! compares them with the caller's `now` seen in China.
//!
//! [`compute`] is the reimbursement formula, exact in integer fen:
//! `hifp_pay = min(cap_left, round_half_up((inscp_scp_amt - deductible)+ * ratio /
//! 10000))`, `act_pay_dedc = min(inscp_scp_amt, deductible)`; its answer shows every
//! term. Which policy version and which cap use apply is the caller's business.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Utc};
use serde::{Deserialize, Serialize, Serializer};

use super::china_time;
use super::money::Fen;
use super::pan::{Pan, PanError};
use super::policy::{BasisPoints, ClaimTerms, InstitutionLevel, MAX_AMOUNT, MedType, YEARS};

/// `mdtrt_cert_type` of the health card (the only certificate the scheme settles on).
pub const CERT_TYPE_CARD: &str = "03";

/// `insutype` of the urban-rural resident basic medical insurance, which NCMS became.
pub const INSUTYPE_RESIDENT: &str = "390";

/// Most characters of `ipt_otp_no`.
pub const IPT_OTP_NO_MAX_CHARS: usize = 30;

/// Why a member of a claim was refused; [`ClaimErrorCode::code`] is what clients see.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimErrorCode {
    /// A required member is absent, `null` or blank: `field_missing`.
    FieldMissing,
    /// `msgid` is not 12 institution characters, a real `yyyyMMddHHmmss` and 4 digits:
    /// `msgid_invalid`.
    MsgidInvalid,
    /// `msgid` starts with another institution's code: `msgid_of_another_institution`.
    MsgidOfAnotherInstitution,
    /// `ipt_otp_no` is longer than 30 characters or holds control characters:
    /// `ipt_otp_no_invalid`.
    IptOtpNoInvalid,
    /// `mdtrt_cert_type` is not `03` (the card): `cert_type_unsupported`.
    CertTypeUnsupported,
    /// `mdtrt_cert_no` is not a card number: the codes of [`PanError`]
    /// (`card_no_invalid_length`, `card_no_invalid_chars`, `card_no_bad_checksum`).
    CardNo(PanError),
    /// `insutype` is not `390`: `insutype_unsupported`.
    InsutypeUnsupported,
    /// `med_type` is not `11`, `14` or `21`: `med_type_unknown`.
    MedTypeUnknown,
    /// `level` is not an institution level: `level_unknown`.
    LevelUnknown,
    /// A time is not a real `yyyy-MM-dd HH:mm:ss` within the scheme's years:
    /// `time_invalid`.
    TimeInvalid,
    /// `endtime` is before `begntime`: `discharge_before_admission`.
    DischargeBeforeAdmission,
    /// `begntime` is later than now in China: `admission_in_future`.
    AdmissionInFuture,
    /// `endtime` is later than now in China: `discharge_in_future`.
    DischargeInFuture,
    /// An amount below zero: `amount_negative`.
    AmountNegative,
    /// An amount above [`MAX_AMOUNT`] (10^12 fen): `amount_too_large`.
    AmountTooLarge,
    /// The four parts do not add up to `medfee_sumamt`: `parts_do_not_add_up`.
    PartsDoNotAddUp,
}

impl ClaimErrorCode {
    /// Every code, for documentation and tests.
    pub const ALL: [ClaimErrorCode; 18] = [
        ClaimErrorCode::FieldMissing,
        ClaimErrorCode::MsgidInvalid,
        ClaimErrorCode::MsgidOfAnotherInstitution,
        ClaimErrorCode::IptOtpNoInvalid,
        ClaimErrorCode::CertTypeUnsupported,
        ClaimErrorCode::CardNo(PanError::InvalidLength),
        ClaimErrorCode::CardNo(PanError::InvalidChars),
        ClaimErrorCode::CardNo(PanError::BadChecksum),
        ClaimErrorCode::InsutypeUnsupported,
        ClaimErrorCode::MedTypeUnknown,
        ClaimErrorCode::LevelUnknown,
        ClaimErrorCode::TimeInvalid,
        ClaimErrorCode::DischargeBeforeAdmission,
        ClaimErrorCode::AdmissionInFuture,
        ClaimErrorCode::DischargeInFuture,
        ClaimErrorCode::AmountNegative,
        ClaimErrorCode::AmountTooLarge,
        ClaimErrorCode::PartsDoNotAddUp,
    ];

    /// The stable machine-readable code.
    pub fn code(self) -> &'static str {
        match self {
            ClaimErrorCode::FieldMissing => "field_missing",
            ClaimErrorCode::MsgidInvalid => "msgid_invalid",
            ClaimErrorCode::MsgidOfAnotherInstitution => "msgid_of_another_institution",
            ClaimErrorCode::IptOtpNoInvalid => "ipt_otp_no_invalid",
            ClaimErrorCode::CertTypeUnsupported => "cert_type_unsupported",
            ClaimErrorCode::CardNo(e) => e.code(),
            ClaimErrorCode::InsutypeUnsupported => "insutype_unsupported",
            ClaimErrorCode::MedTypeUnknown => "med_type_unknown",
            ClaimErrorCode::LevelUnknown => "level_unknown",
            ClaimErrorCode::TimeInvalid => "time_invalid",
            ClaimErrorCode::DischargeBeforeAdmission => "discharge_before_admission",
            ClaimErrorCode::AdmissionInFuture => "admission_in_future",
            ClaimErrorCode::DischargeInFuture => "discharge_in_future",
            ClaimErrorCode::AmountNegative => "amount_negative",
            ClaimErrorCode::AmountTooLarge => "amount_too_large",
            ClaimErrorCode::PartsDoNotAddUp => "parts_do_not_add_up",
        }
    }
}

crate::domain::serialize_as_code!(ClaimErrorCode);

/// One problem of a draft: the member (by its platform name), its code and a message
/// for people. Messages never repeat what was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClaimFieldError {
    pub field: String,
    pub code: ClaimErrorCode,
    pub message: String,
}

/// What a clinic sent as a settlement request, before any check. Unknown members are
/// refused when the body is read; everything else, missing members included, is left
/// to [`Claim::parse`] so that all problems are reported together.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ClaimDraft {
    /// The clinic's message id: institution code (12), `yyyyMMddHHmmss`, sequence (4).
    pub msgid: Option<String>,
    /// The clinic's admission or outpatient number.
    pub ipt_otp_no: Option<String>,
    /// Certificate type: `03`, the card.
    pub mdtrt_cert_type: Option<String>,
    /// Certificate number: the card number (a PAN).
    pub mdtrt_cert_no: Option<String>,
    /// Insurance type: `390`.
    pub insutype: Option<String>,
    /// `11` outpatient, `14` chronic or special outpatient, `21` inpatient.
    pub med_type: Option<String>,
    /// Institution level: `village`, `township`, `county`, `municipal`, `provincial`.
    pub level: Option<String>,
    /// Admission (or visit), `yyyy-MM-dd HH:mm:ss` in China Standard Time.
    pub begntime: Option<String>,
    /// Discharge (or end of visit), `yyyy-MM-dd HH:mm:ss` in China Standard Time.
    pub endtime: Option<String>,
    /// Total, in fen.
    pub medfee_sumamt: Option<i64>,
    /// Items the scheme never pays.
    pub fulamt_ownpay_amt: Option<i64>,
    /// Above price limits.
    pub overlmt_selfpay: Option<i64>,
    /// Self-paid share of partly covered items.
    pub preselfpay_amt: Option<i64>,
    /// In scope.
    pub inscp_scp_amt: Option<i64>,
    /// Cancer, HIV/STD, psychiatric and similar: disclosed without institution.
    /// Absent means `false`.
    pub confidential: Option<bool>,
}

/// A clinic's message id: the 12-character institution code, the moment it was sent
/// (`yyyyMMddHHmmss`, China time, a real date-time) and a 4-digit sequence; 30 ASCII
/// characters in all. Serialised as its text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Msgid {
    text: String,
    sent_at: NaiveDateTime,
}

impl Msgid {
    /// Characters of a message id.
    pub const LEN: usize = 30;
    /// Characters of the institution code at its start.
    pub const INSTITUTION_LEN: usize = 12;

    /// The message id `input` spells (surrounding whitespace dropped), or `None`. The
    /// institution code is upper-case ASCII letters and digits, as the platform
    /// assigns them.
    pub fn parse(input: &str) -> Option<Msgid> {
        let text = input.trim();
        if text.len() != Msgid::LEN || !text.is_ascii() {
            return None;
        }
        let institution = text.get(..Msgid::INSTITUTION_LEN)?;
        let stamp = text.get(Msgid::INSTITUTION_LEN..Msgid::INSTITUTION_LEN + 14)?;
        let sequence = text.get(Msgid::INSTITUTION_LEN + 14..)?;
        if !institution.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
            return None;
        }
        if sequence.len() != 4 || !sequence.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let sent_at = compact_time(stamp)?;
        Some(Msgid { text: text.to_string(), sent_at })
    }

    /// The whole message id.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The institution code the message id starts with.
    pub fn institution(&self) -> &str {
        self.text.get(..Msgid::INSTITUTION_LEN).unwrap_or_default()
    }

    /// When the clinic sent it, China time.
    pub fn sent_at(&self) -> NaiveDateTime {
        self.sent_at
    }

    /// The 4-digit sequence at its end.
    pub fn sequence(&self) -> &str {
        self.text.get(Msgid::INSTITUTION_LEN + 14..).unwrap_or_default()
    }
}

impl std::fmt::Display for Msgid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Msgid {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

/// `yyyyMMddHHmmss` as a real date-time; `None` otherwise.
fn compact_time(s: &str) -> Option<NaiveDateTime> {
    if s.len() != 14 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = |from: usize, to: usize| s.get(from..to).and_then(|p| p.parse::<u32>().ok());
    let year = i32::try_from(n(0, 4)?).ok()?;
    NaiveDate::from_ymd_opt(year, n(4, 6)?, n(6, 8)?)?.and_hms_opt(n(8, 10)?, n(10, 12)?, n(12, 14)?)
}

/// A platform time, `yyyy-MM-dd HH:mm:ss` exactly (surrounding whitespace dropped), as
/// a real date-time; `None` otherwise. No year range is applied here.
pub fn parse_platform_time(input: &str) -> Option<NaiveDateTime> {
    let s = input.trim();
    let shaped = s.len() == 19
        && s.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b' ',
            13 | 16 => b == b':',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    compact_time(&digits)
}

/// A time as the platform writes it: `yyyy-MM-dd HH:mm:ss`.
pub fn format_platform_time(at: NaiveDateTime) -> String {
    at.format("%Y-%m-%d %H:%M:%S").to_string()
}

/// The amounts of a claim: a total and its four parts, each within `0..=`[`MAX_AMOUNT`],
/// the parts adding up to the total. Serialised with the platform's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct ClaimAmounts {
    medfee_sumamt: Fen,
    fulamt_ownpay_amt: Fen,
    overlmt_selfpay: Fen,
    preselfpay_amt: Fen,
    inscp_scp_amt: Fen,
}

impl ClaimAmounts {
    /// The amounts, or `None` if one is out of range or the parts do not add up to the
    /// total ([`Claim::parse`] says which).
    pub fn new(
        medfee_sumamt: Fen,
        fulamt_ownpay_amt: Fen,
        overlmt_selfpay: Fen,
        preselfpay_amt: Fen,
        inscp_scp_amt: Fen,
    ) -> Option<ClaimAmounts> {
        let all = [medfee_sumamt, fulamt_ownpay_amt, overlmt_selfpay, preselfpay_amt, inscp_scp_amt];
        if !all.iter().all(|a| amount_problem(*a).is_none()) {
            return None;
        }
        let sum = fulamt_ownpay_amt
            .checked_add(overlmt_selfpay)
            .and_then(|s| s.checked_add(preselfpay_amt))
            .and_then(|s| s.checked_add(inscp_scp_amt))?;
        (sum == medfee_sumamt).then_some(ClaimAmounts {
            medfee_sumamt,
            fulamt_ownpay_amt,
            overlmt_selfpay,
            preselfpay_amt,
            inscp_scp_amt,
        })
    }

    /// Total.
    pub fn medfee_sumamt(&self) -> Fen {
        self.medfee_sumamt
    }

    /// Items the scheme never pays.
    pub fn fulamt_ownpay_amt(&self) -> Fen {
        self.fulamt_ownpay_amt
    }

    /// Above price limits.
    pub fn overlmt_selfpay(&self) -> Fen {
        self.overlmt_selfpay
    }

    /// Self-paid share of partly covered items.
    pub fn preselfpay_amt(&self) -> Fen {
        self.preselfpay_amt
    }

    /// In scope: what the formula works on.
    pub fn inscp_scp_amt(&self) -> Fen {
        self.inscp_scp_amt
    }
}

/// The range problem of one amount, if any.
fn amount_problem(amount: Fen) -> Option<ClaimErrorCode> {
    if amount.is_negative() {
        Some(ClaimErrorCode::AmountNegative)
    } else if amount > MAX_AMOUNT {
        Some(ClaimErrorCode::AmountTooLarge)
    } else {
        None
    }
}

/// A settlement request that passed every check of [`Claim::parse`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    msgid: Msgid,
    ipt_otp_no: String,
    card_no: Pan,
    med_type: MedType,
    level: InstitutionLevel,
    admitted_at: NaiveDateTime,
    discharged_at: NaiveDateTime,
    amounts: ClaimAmounts,
    confidential: bool,
}

impl Claim {
    /// The claim that `draft` describes, sent by the institution whose platform code is
    /// `institution`, judged at `now`; or every problem with it, in the order of the
    /// members.
    pub fn parse(draft: ClaimDraft, institution: &str, now: DateTime<Utc>) -> Result<Claim, Vec<ClaimFieldError>> {
        let mut check = Checker::default();
        let now_in_china = now.with_timezone(&china_time::offset()).naive_local();

        let msgid = check.msgid(draft.msgid, institution);
        let ipt_otp_no = check.ipt_otp_no(draft.ipt_otp_no);
        let cert_type = check.text("mdtrt_cert_type", draft.mdtrt_cert_type).and_then(|t| {
            check.expect(
                "mdtrt_cert_type",
                t == CERT_TYPE_CARD,
                ClaimErrorCode::CertTypeUnsupported,
                "only 03, the health card, is settled",
            )
        });
        let card_no = check.text("mdtrt_cert_no", draft.mdtrt_cert_no).and_then(|t| match Pan::parse(&t) {
            Ok(pan) => Some(pan),
            Err(e) => {
                check.push("mdtrt_cert_no", ClaimErrorCode::CardNo(e), e.to_string());
                None
            }
        });
        let insutype = check.text("insutype", draft.insutype).and_then(|t| {
            check.expect(
                "insutype",
                t == INSUTYPE_RESIDENT,
                ClaimErrorCode::InsutypeUnsupported,
                "only 390, resident basic medical insurance, is settled",
            )
        });
        let med_type = check.text("med_type", draft.med_type).and_then(|t| {
            let m = MedType::parse(&t);
            if m.is_none() {
                check.push("med_type", ClaimErrorCode::MedTypeUnknown, "use 11, 14 or 21");
            }
            m
        });
        let level = check.text("level", draft.level).and_then(|t| {
            let l = InstitutionLevel::parse(&t);
            if l.is_none() {
                check.push(
                    "level",
                    ClaimErrorCode::LevelUnknown,
                    "use village, township, county, municipal or provincial",
                );
            }
            l
        });
        let admission = check.time("begntime", draft.begntime);
        let admitted_at = admission.filter(|at| {
            let in_future = *at > now_in_china;
            if in_future {
                check.push("begntime", ClaimErrorCode::AdmissionInFuture, "the admission is later than now in China");
            }
            !in_future
        });
        let discharged_at = check.time("endtime", draft.endtime).and_then(|at| {
            let mut ok = true;
            if admission.is_some_and(|admitted| at < admitted) {
                check.push(
                    "endtime",
                    ClaimErrorCode::DischargeBeforeAdmission,
                    "the discharge is before the admission",
                );
                ok = false;
            }
            if at > now_in_china {
                check.push("endtime", ClaimErrorCode::DischargeInFuture, "the discharge is later than now in China");
                ok = false;
            }
            ok.then_some(at)
        });
        let total = check.amount("medfee_sumamt", draft.medfee_sumamt);
        let fulamt = check.amount("fulamt_ownpay_amt", draft.fulamt_ownpay_amt);
        let overlmt = check.amount("overlmt_selfpay", draft.overlmt_selfpay);
        let preselfpay = check.amount("preselfpay_amt", draft.preselfpay_amt);
        let inscp = check.amount("inscp_scp_amt", draft.inscp_scp_amt);
        let amounts = match (total, fulamt, overlmt, preselfpay, inscp) {
            (Some(t), Some(f), Some(o), Some(p), Some(i)) => {
                let a = ClaimAmounts::new(t, f, o, p, i);
                if a.is_none() {
                    check.push(
                        "medfee_sumamt",
                        ClaimErrorCode::PartsDoNotAddUp,
                        "fulamt_ownpay_amt + overlmt_selfpay + preselfpay_amt + inscp_scp_amt must equal medfee_sumamt",
                    );
                }
                a
            }
            _ => None,
        };

        match (msgid, ipt_otp_no, cert_type, card_no, insutype, med_type, level, admitted_at, discharged_at, amounts) {
            (
                Some(msgid),
                Some(ipt_otp_no),
                Some(()),
                Some(card_no),
                Some(()),
                Some(med_type),
                Some(level),
                Some(admitted_at),
                Some(discharged_at),
                Some(amounts),
            ) if check.errors.is_empty() => Ok(Claim {
                msgid,
                ipt_otp_no,
                card_no,
                med_type,
                level,
                admitted_at,
                discharged_at,
                amounts,
                confidential: draft.confidential.unwrap_or(false),
            }),
            _ => Err(check.errors),
        }
    }

    /// The clinic's message id (kept as `medins_setl_id`).
    pub fn msgid(&self) -> &Msgid {
        &self.msgid
    }

    /// The clinic's admission or outpatient number, trimmed.
    pub fn ipt_otp_no(&self) -> &str {
        &self.ipt_otp_no
    }

    /// The card the claim is settled on.
    pub fn card_no(&self) -> &Pan {
        &self.card_no
    }

    pub fn med_type(&self) -> MedType {
        self.med_type
    }

    pub fn level(&self) -> InstitutionLevel {
        self.level
    }

    /// Admission (or visit), China time.
    pub fn admitted_at(&self) -> NaiveDateTime {
        self.admitted_at
    }

    /// Discharge (or end of visit), China time; never before the admission.
    pub fn discharged_at(&self) -> NaiveDateTime {
        self.discharged_at
    }

    /// The day of admission in China: the policy version in force on it applies.
    pub fn admission_date(&self) -> NaiveDate {
        self.admitted_at.date()
    }

    /// The year of admission in China: the policy year and the year of the cap.
    pub fn year(&self) -> i32 {
        self.admitted_at.year()
    }

    pub fn amounts(&self) -> &ClaimAmounts {
        &self.amounts
    }

    pub fn medfee_sumamt(&self) -> Fen {
        self.amounts.medfee_sumamt
    }

    pub fn fulamt_ownpay_amt(&self) -> Fen {
        self.amounts.fulamt_ownpay_amt
    }

    pub fn overlmt_selfpay(&self) -> Fen {
        self.amounts.overlmt_selfpay
    }

    pub fn preselfpay_amt(&self) -> Fen {
        self.amounts.preselfpay_amt
    }

    pub fn inscp_scp_amt(&self) -> Fen {
        self.amounts.inscp_scp_amt
    }

    /// Whether the clinic marked the claim confidential.
    pub fn confidential(&self) -> bool {
        self.confidential
    }

    /// [`compute`] for this claim's amounts.
    pub fn reimbursement(&self, terms: ClaimTerms, used_before: Fen) -> Reimbursement {
        compute(terms, &self.amounts, used_before)
    }
}

/// Collects the errors of one draft while its members are checked in order.
#[derive(Default)]
struct Checker {
    errors: Vec<ClaimFieldError>,
}

impl Checker {
    fn push(&mut self, field: &str, code: ClaimErrorCode, message: impl Into<String>) {
        self.errors.push(ClaimFieldError { field: field.to_string(), code, message: message.into() });
    }

    fn required<T>(&mut self, field: &str, value: Option<T>) -> Option<T> {
        if value.is_none() {
            self.push(field, ClaimErrorCode::FieldMissing, "required");
        }
        value
    }

    /// A text member, trimmed; blank counts as missing.
    fn text(&mut self, field: &str, value: Option<String>) -> Option<String> {
        let trimmed = value.map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        self.required(field, trimmed)
    }

    /// `Some(())` if `ok`, else `None` with the error.
    fn expect(&mut self, field: &str, ok: bool, code: ClaimErrorCode, message: &str) -> Option<()> {
        if !ok {
            self.push(field, code, message);
        }
        ok.then_some(())
    }

    fn msgid(&mut self, value: Option<String>, institution: &str) -> Option<Msgid> {
        let text = self.text("msgid", value)?;
        let Some(msgid) = Msgid::parse(&text) else {
            self.push(
                "msgid",
                ClaimErrorCode::MsgidInvalid,
                "30 characters: the 12-character institution code, yyyyMMddHHmmss and a 4-digit sequence",
            );
            return None;
        };
        if msgid.institution() != institution {
            self.push(
                "msgid",
                ClaimErrorCode::MsgidOfAnotherInstitution,
                "the message id must start with the sending institution's code",
            );
            return None;
        }
        Some(msgid)
    }

    fn ipt_otp_no(&mut self, value: Option<String>) -> Option<String> {
        let text = self.text("ipt_otp_no", value)?;
        let ok = text.chars().count() <= IPT_OTP_NO_MAX_CHARS && !text.chars().any(char::is_control);
        if !ok {
            self.push(
                "ipt_otp_no",
                ClaimErrorCode::IptOtpNoInvalid,
                format!("1 to {IPT_OTP_NO_MAX_CHARS} printable characters"),
            );
        }
        ok.then_some(text)
    }

    fn time(&mut self, field: &str, value: Option<String>) -> Option<NaiveDateTime> {
        let text = self.text(field, value)?;
        let at = parse_platform_time(&text).filter(|at| YEARS.contains(&at.year()));
        if at.is_none() {
            self.push(
                field,
                ClaimErrorCode::TimeInvalid,
                format!(
                    "a real time yyyy-MM-dd HH:mm:ss in China Standard Time, years {} to {}",
                    YEARS.start(),
                    YEARS.end()
                ),
            );
        }
        at
    }

    fn amount(&mut self, field: &str, value: Option<i64>) -> Option<Fen> {
        let amount = Fen(self.required(field, value)?);
        match amount_problem(amount) {
            None => Some(amount),
            Some(code) => {
                let message = match code {
                    ClaimErrorCode::AmountNegative => "an amount in fen may not be negative".to_string(),
                    _ => format!("at most {} fen", MAX_AMOUNT.get()),
                };
                self.push(field, code, message);
                None
            }
        }
    }
}

/// The reimbursement of one claim with every term of the formula, in fen; field names
/// are the platform's where it has one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Reimbursement {
    /// The deductible of the claim's terms (per admission or per visit).
    pub deductible: Fen,
    /// The share of the in-scope amount above the deductible the fund pays.
    pub ratio: BasisPoints,
    /// The annual cap the claim counts against.
    pub cap: Fen,
    /// What the resident was already paid this year under that cap.
    pub used_before: Fen,
    /// `max(0, cap - used_before)`: what the cap still allowed before this claim.
    pub left_before: Fen,
    /// `max(0, inscp_scp_amt - deductible)`: the in-scope amount above the deductible.
    pub above_deductible: Fen,
    /// `round_half_up(above_deductible * ratio / 10000)`: the fund's share before the cap.
    pub before_cap: Fen,
    /// `min(inscp_scp_amt, deductible)`: the deductible borne in this claim.
    pub act_pay_dedc: Fen,
    /// `min(left_before, before_cap)`: paid by the pooled fund.
    pub hifp_pay: Fen,
    /// `above_deductible - hifp_pay`: the in-scope share above the deductible the patient
    /// pays, including what the cap cut.
    pub pool_prop_selfpay: Fen,
    /// `hifp_pay`: everything funds pay (the pooled fund is the only one).
    pub fund_pay_sumamt: Fen,
    /// `medfee_sumamt - fund_pay_sumamt`: the patient's part.
    pub psn_part_amt: Fen,
    /// Paid from a personal account: always 0, the scheme has none.
    pub acct_pay: Fen,
    /// `psn_part_amt`: what the patient pays in cash.
    pub psn_cash_pay: Fen,
}

/// The reimbursement of a claim with `amounts` under `terms`, for a resident already
/// paid `used_before` this year under the same cap.
///
/// Exact integer arithmetic: every step is done in `i128`, where sums and differences
/// of a few `i64` cannot overflow, and results are brought back to `i64` saturating
/// (for amounts within [`MAX_AMOUNT`] nothing saturates). Never panics.
pub fn compute(terms: ClaimTerms, amounts: &ClaimAmounts, used_before: Fen) -> Reimbursement {
    let wide = |f: Fen| i128::from(f.get());
    let inscp = wide(amounts.inscp_scp_amt);
    let deductible = wide(terms.deductible);
    let above_deductible = narrow((inscp - deductible).max(0));
    let before_cap = terms.ratio.of(above_deductible);
    let left_before = narrow((wide(terms.annual_cap) - wide(used_before)).max(0));
    let hifp_pay = before_cap.min(left_before);
    let act_pay_dedc = narrow(inscp.min(deductible));
    let pool_prop_selfpay = narrow(wide(above_deductible) - wide(hifp_pay));
    let psn_part_amt = narrow(wide(amounts.medfee_sumamt) - wide(hifp_pay));
    Reimbursement {
        deductible: terms.deductible,
        ratio: terms.ratio,
        cap: terms.annual_cap,
        used_before,
        left_before,
        above_deductible,
        before_cap,
        act_pay_dedc,
        hifp_pay,
        pool_prop_selfpay,
        fund_pay_sumamt: hifp_pay,
        psn_part_amt,
        acct_pay: Fen::ZERO,
        psn_cash_pay: psn_part_amt,
    }
}

/// `v` as fen, saturating at the ends of `i64`.
fn narrow(v: i128) -> Fen {
    Fen(i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX }))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::domain::pan::check_digit;
    use proptest::prelude::*;
    use serde_json::{Value, json};

    const INSTITUTION: &str = "H11010500001";

    /// 2024-07-01 12:00 in China.
    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2024-07-01T04:00:00Z").unwrap().to_utc()
    }

    fn sample() -> Value {
        json!({
            "msgid": "H11010500001202406300815300001",
            "ipt_otp_no": "ZY2024000123",
            "mdtrt_cert_type": "03",
            "mdtrt_cert_no": "6217000010001234569",
            "insutype": "390",
            "med_type": "21",
            "level": "county",
            "begntime": "2024-06-20 09:30:00",
            "endtime": "2024-06-30 08:00:00",
            "medfee_sumamt": 1_000_000,
            "fulamt_ownpay_amt": 50_000,
            "overlmt_selfpay": 20_000,
            "preselfpay_amt": 30_000,
            "inscp_scp_amt": 900_000,
        })
    }

    fn draft(v: Value) -> ClaimDraft {
        serde_json::from_value(v).unwrap()
    }

    fn with(mut v: Value, member: &str, value: Value) -> Value {
        v[member] = value;
        v
    }

    fn without(mut v: Value, member: &str) -> Value {
        v.as_object_mut().unwrap().remove(member);
        v
    }

    fn parse(v: Value) -> Result<Claim, Vec<ClaimFieldError>> {
        Claim::parse(draft(v), INSTITUTION, now())
    }

    fn errors(v: Value) -> Vec<(String, &'static str)> {
        parse(v).unwrap_err().into_iter().map(|e| (e.field, e.code.code())).collect()
    }

    fn one(field: &str, code: &'static str) -> Vec<(String, &'static str)> {
        vec![(field.to_string(), code)]
    }

    fn dt(s: &str) -> NaiveDateTime {
        parse_platform_time(s).unwrap()
    }

    #[test]
    fn the_sample_card_number_is_valid() {
        assert_eq!(check_digit("621700001000123456"), Some('9'));
    }

    #[test]
    fn a_valid_claim_keeps_every_value() {
        let c = parse(sample()).unwrap();
        assert_eq!(c.msgid().as_str(), "H11010500001202406300815300001");
        assert_eq!(c.msgid().institution(), INSTITUTION);
        assert_eq!(c.msgid().sent_at(), dt("2024-06-30 08:15:30"));
        assert_eq!(c.msgid().sequence(), "0001");
        assert_eq!(c.ipt_otp_no(), "ZY2024000123");
        assert_eq!(c.card_no().as_str(), "6217000010001234569");
        assert_eq!(c.med_type(), MedType::Inpatient);
        assert_eq!(c.level(), InstitutionLevel::County);
        assert_eq!(c.admitted_at(), dt("2024-06-20 09:30:00"));
        assert_eq!(c.discharged_at(), dt("2024-06-30 08:00:00"));
        assert_eq!(c.admission_date(), NaiveDate::from_ymd_opt(2024, 6, 20).unwrap());
        assert_eq!(c.year(), 2024);
        assert_eq!(c.medfee_sumamt(), Fen(1_000_000));
        assert_eq!(c.fulamt_ownpay_amt(), Fen(50_000));
        assert_eq!(c.overlmt_selfpay(), Fen(20_000));
        assert_eq!(c.preselfpay_amt(), Fen(30_000));
        assert_eq!(c.inscp_scp_amt(), Fen(900_000));
        assert!(!c.confidential());
        assert!(parse(with(sample(), "confidential", json!(true))).unwrap().confidential());
        assert!(!parse(with(sample(), "confidential", json!(false))).unwrap().confidential());
        assert!(!parse(with(sample(), "confidential", Value::Null)).unwrap().confidential());
    }

    #[test]
    fn text_members_are_trimmed() {
        let mut v = sample();
        v["msgid"] = json!("  H11010500001202406300815300001\t");
        v["ipt_otp_no"] = json!(" ZY 2024 ");
        v["mdtrt_cert_type"] = json!(" 03 ");
        v["mdtrt_cert_no"] = json!(" 6217 0000 1000 1234 569 ");
        v["insutype"] = json!("390 ");
        v["med_type"] = json!(" 11");
        v["level"] = json!(" village ");
        v["begntime"] = json!(" 2024-06-20 09:30:00 ");
        let c = parse(v).unwrap();
        assert_eq!(c.msgid().as_str(), "H11010500001202406300815300001");
        assert_eq!(c.ipt_otp_no(), "ZY 2024");
        assert_eq!(c.card_no().as_str(), "6217000010001234569");
        assert_eq!(c.med_type(), MedType::Outpatient);
        assert_eq!(c.level(), InstitutionLevel::Village);
        assert_eq!(c.admitted_at(), dt("2024-06-20 09:30:00"));
    }

    #[test]
    fn every_med_type_and_level_is_read() {
        for (code, m) in [("11", MedType::Outpatient), ("14", MedType::ChronicOutpatient), ("21", MedType::Inpatient)] {
            assert_eq!(parse(with(sample(), "med_type", json!(code))).unwrap().med_type(), m);
        }
        for level in InstitutionLevel::ALL {
            assert_eq!(parse(with(sample(), "level", json!(level.as_str()))).unwrap().level(), level);
        }
        assert_eq!(errors(with(sample(), "med_type", json!("41"))), one("med_type", "med_type_unknown"));
        assert_eq!(errors(with(sample(), "level", json!("Village"))), one("level", "level_unknown"));
        assert_eq!(errors(with(sample(), "level", json!("hamlet"))), one("level", "level_unknown"));
    }

    #[test]
    fn every_member_but_confidential_is_required() {
        let required = [
            "msgid",
            "ipt_otp_no",
            "mdtrt_cert_type",
            "mdtrt_cert_no",
            "insutype",
            "med_type",
            "level",
            "begntime",
            "endtime",
            "medfee_sumamt",
            "fulamt_ownpay_amt",
            "overlmt_selfpay",
            "preselfpay_amt",
            "inscp_scp_amt",
        ];
        let want: Vec<_> = required.iter().map(|f| (f.to_string(), "field_missing")).collect();
        assert_eq!(errors(json!({})), want);
        assert_eq!(errors(json!({"confidential": true})), want);
        for member in required {
            assert_eq!(errors(without(sample(), member)), one(member, "field_missing"), "{member}");
            assert_eq!(errors(with(sample(), member, Value::Null)), one(member, "field_missing"), "{member}");
        }
        assert!(parse(without(sample(), "confidential")).is_ok());
    }

    #[test]
    fn blank_text_counts_as_missing() {
        for member in ["msgid", "ipt_otp_no", "mdtrt_cert_type", "mdtrt_cert_no", "insutype", "med_type", "level"] {
            assert_eq!(errors(with(sample(), member, json!(""))), one(member, "field_missing"), "{member}");
            assert_eq!(errors(with(sample(), member, json!("  \t"))), one(member, "field_missing"), "{member}");
        }
        assert_eq!(errors(with(sample(), "begntime", json!(" "))), one("begntime", "field_missing"));
    }

    #[test]
    fn unknown_members_and_wrong_json_types_are_refused_when_read() {
        assert!(serde_json::from_value::<ClaimDraft>(with(sample(), "psn_no", json!("1"))).is_err());
        assert!(serde_json::from_value::<ClaimDraft>(with(sample(), "medfee_sumamt", json!("100"))).is_err());
        assert!(serde_json::from_value::<ClaimDraft>(with(sample(), "medfee_sumamt", json!(1.5))).is_err());
        assert!(serde_json::from_value::<ClaimDraft>(with(sample(), "confidential", json!("yes"))).is_err());
        // Out of range but an i64: reaches validation.
        let d = draft(with(sample(), "medfee_sumamt", json!(i64::MAX)));
        assert_eq!(d.medfee_sumamt, Some(i64::MAX));
    }

    #[test]
    fn msgid_must_be_well_formed() {
        for bad in [
            "H1101050000120240630081530000",   // 29 characters
            "H110105000012024063008153000012", // 31
            "h11010500001202406300815300001",  // lower case
            "H1101050000-202406300815300001",  // not alphanumeric
            "H11010500001202402300815300001",  // 30 February
            "H11010500001202413010815300001",  // month 13
            "H11010500001202406302415300001",  // hour 24
            "H11010500001202406300860300001",  // minute 60
            "H11010500001202406300815600001",  // second 60
            "H1101050000120240630081530000A",  // sequence not digits
            "H11010500001２0240630081530000",  // full-width digit
            "H11010500001 02406300815300001",
        ] {
            assert_eq!(errors(with(sample(), "msgid", json!(bad))), one("msgid", "msgid_invalid"), "{bad}");
        }
        assert_eq!(Msgid::parse("H11010500001202402290000000000").unwrap().sent_at(), dt("2024-02-29 00:00:00"));
    }

    #[test]
    fn msgid_must_be_the_senders() {
        let v = with(sample(), "msgid", json!("H11010500002202406300815300001"));
        assert_eq!(errors(v.clone()), one("msgid", "msgid_of_another_institution"));
        assert!(Claim::parse(draft(v), "H11010500002", now()).is_ok());
        // A malformed msgid is only malformed.
        assert_eq!(errors(with(sample(), "msgid", json!("X"))), one("msgid", "msgid_invalid"));
        // Compared exactly.
        assert_eq!(
            Claim::parse(draft(sample()), "h11010500001", now()).unwrap_err()[0].code,
            ClaimErrorCode::MsgidOfAnotherInstitution
        );
    }

    #[test]
    fn ipt_otp_no_is_short_and_printable() {
        let max = "住".repeat(30);
        assert_eq!(parse(with(sample(), "ipt_otp_no", json!(max))).unwrap().ipt_otp_no(), max);
        let too_long = "1".repeat(31);
        assert_eq!(errors(with(sample(), "ipt_otp_no", json!(too_long))), one("ipt_otp_no", "ipt_otp_no_invalid"));
        assert_eq!(errors(with(sample(), "ipt_otp_no", json!("ZY\u{7}1"))), one("ipt_otp_no", "ipt_otp_no_invalid"));
        assert_eq!(errors(with(sample(), "ipt_otp_no", json!("ZY\n1"))), one("ipt_otp_no", "ipt_otp_no_invalid"));
    }

    #[test]
    fn only_the_card_and_resident_insurance_are_settled() {
        for bad in ["01", "02", "3", "003"] {
            assert_eq!(
                errors(with(sample(), "mdtrt_cert_type", json!(bad))),
                one("mdtrt_cert_type", "cert_type_unsupported")
            );
        }
        for bad in ["310", "391", "39"] {
            assert_eq!(errors(with(sample(), "insutype", json!(bad))), one("insutype", "insutype_unsupported"));
        }
    }

    #[test]
    fn the_card_number_gets_pans_codes() {
        let e = |n: &str| errors(with(sample(), "mdtrt_cert_no", json!(n)));
        assert_eq!(e("6217000010001234568"), one("mdtrt_cert_no", "card_no_bad_checksum"));
        assert_eq!(e("621700001000"), one("mdtrt_cert_no", "card_no_invalid_length"));
        assert_eq!(e("62170000100012345x"), one("mdtrt_cert_no", "card_no_invalid_chars"));
    }

    #[test]
    fn times_must_be_real_platform_times() {
        for bad in [
            "2024-06-20T09:30:00",
            "2024-06-20 09:30",
            "2024-6-20 09:30:00",
            "2024/06/20 09:30:00",
            "2024-02-30 09:30:00",
            "2024-06-20 24:00:00",
            "2024-06-20 09:30:60",
            "+2024-06-20 09:30:00",
            "2002-12-31 23:59:59", // before the scheme
            "20240620093000",
            "２024-06-20 09:30:00",
        ] {
            assert_eq!(errors(with(sample(), "begntime", json!(bad))), one("begntime", "time_invalid"), "{bad}");
            assert_eq!(errors(with(sample(), "endtime", json!(bad))), one("endtime", "time_invalid"), "{bad}");
        }
        assert_eq!(parse_platform_time("2024-02-29 23:59:59"), Some(dt("2024-02-29 23:59:59")));
        assert_eq!(format_platform_time(dt("2024-02-29 23:59:59")), "2024-02-29 23:59:59");
    }

    #[test]
    fn discharge_is_not_before_admission() {
        let v = with(sample(), "endtime", json!("2024-06-20 09:29:59"));
        assert_eq!(errors(v), one("endtime", "discharge_before_admission"));
        // The same instant is an outpatient visit of no length: allowed.
        let c = parse(with(sample(), "endtime", json!("2024-06-20 09:30:00"))).unwrap();
        assert_eq!(c.discharged_at(), c.admitted_at());
    }

    #[test]
    fn the_future_is_judged_in_china() {
        // 2024-07-01T04:00:00Z is 12:00 in China.
        let v = with(sample(), "endtime", json!("2024-07-01 12:00:00"));
        assert!(parse(v.clone()).is_ok());
        let v = with(v, "begntime", json!("2024-07-01 12:00:00"));
        assert!(parse(v.clone()).is_ok());
        let v = with(v, "endtime", json!("2024-07-01 12:00:01"));
        assert_eq!(errors(v.clone()), one("endtime", "discharge_in_future"));
        let v = with(v, "begntime", json!("2024-07-01 12:00:01"));
        assert_eq!(
            errors(v),
            [("begntime".to_string(), "admission_in_future"), ("endtime".to_string(), "discharge_in_future")]
        );
        // Just after midnight in China is still the previous day in UTC.
        let at = DateTime::parse_from_rfc3339("2024-12-31T16:00:30Z").unwrap().to_utc();
        let v = with(sample(), "begntime", json!("2025-01-01 00:00:10"));
        let v = with(v, "endtime", json!("2025-01-01 00:00:20"));
        let c = Claim::parse(draft(v.clone()), INSTITUTION, at).unwrap();
        assert_eq!(c.year(), 2025);
        assert_eq!(c.admission_date(), NaiveDate::from_ymd_opt(2025, 1, 1).unwrap());
        let earlier = DateTime::parse_from_rfc3339("2024-12-31T16:00:00Z").unwrap().to_utc();
        let got: Vec<_> =
            Claim::parse(draft(v), INSTITUTION, earlier).unwrap_err().into_iter().map(|e| e.code.code()).collect();
        assert_eq!(got, ["admission_in_future", "discharge_in_future"]);
    }

    #[test]
    fn a_discharge_before_an_admission_in_the_future() {
        let v = with(sample(), "begntime", json!("2024-08-01 00:00:00"));
        let v = with(v, "endtime", json!("2024-07-30 00:00:00"));
        assert_eq!(
            errors(v),
            [
                ("begntime".to_string(), "admission_in_future"),
                ("endtime".to_string(), "discharge_before_admission"),
                ("endtime".to_string(), "discharge_in_future"),
            ]
        );
    }

    #[test]
    fn amounts_must_be_in_range() {
        for member in ["medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt"] {
            assert_eq!(errors(with(sample(), member, json!(-1))), one(member, "amount_negative"), "{member}");
            assert_eq!(errors(with(sample(), member, json!(i64::MIN))), one(member, "amount_negative"), "{member}");
            assert_eq!(
                errors(with(sample(), member, json!(1_000_000_000_001_i64))),
                one(member, "amount_too_large"),
                "{member}"
            );
            assert_eq!(errors(with(sample(), member, json!(i64::MAX))), one(member, "amount_too_large"), "{member}");
        }
        // 10^12 itself is allowed.
        let mut v = sample();
        v["medfee_sumamt"] = json!(1_000_000_000_000_i64);
        v["fulamt_ownpay_amt"] = json!(0);
        v["overlmt_selfpay"] = json!(0);
        v["preselfpay_amt"] = json!(0);
        v["inscp_scp_amt"] = json!(1_000_000_000_000_i64);
        assert_eq!(parse(v).unwrap().inscp_scp_amt(), MAX_AMOUNT);
    }

    #[test]
    fn the_parts_must_add_up_to_the_total() {
        assert_eq!(
            errors(with(sample(), "medfee_sumamt", json!(1_000_001))),
            one("medfee_sumamt", "parts_do_not_add_up")
        );
        assert_eq!(
            errors(with(sample(), "inscp_scp_amt", json!(899_999))),
            one("medfee_sumamt", "parts_do_not_add_up")
        );
        // Not judged while a part is itself refused.
        assert_eq!(errors(with(sample(), "preselfpay_amt", json!(-30_000))), one("preselfpay_amt", "amount_negative"));
        assert_eq!(ClaimAmounts::new(Fen(10), Fen(1), Fen(2), Fen(3), Fen(4)).map(|a| a.inscp_scp_amt()), Some(Fen(4)));
        assert_eq!(ClaimAmounts::new(Fen(11), Fen(1), Fen(2), Fen(3), Fen(4)), None);
        assert_eq!(ClaimAmounts::new(Fen(0), Fen(1), Fen(-1), Fen(0), Fen(0)), None);
    }

    #[test]
    fn every_problem_is_reported_in_member_order() {
        let v = json!({
            "msgid": "H11010500009202406300815300001",
            "ipt_otp_no": "x".repeat(40),
            "mdtrt_cert_type": "01",
            "mdtrt_cert_no": "4111111111111112",
            "insutype": "310",
            "med_type": "99",
            "level": "national",
            "begntime": "2024-06-31 00:00:00",
            "endtime": "2099-01-01 00:00:00",
            "medfee_sumamt": 10,
            "fulamt_ownpay_amt": -1,
            "overlmt_selfpay": 2_000_000_000_000_i64,
            "preselfpay_amt": 0,
            "confidential": true
        });
        let want = [
            ("msgid", "msgid_of_another_institution"),
            ("ipt_otp_no", "ipt_otp_no_invalid"),
            ("mdtrt_cert_type", "cert_type_unsupported"),
            ("mdtrt_cert_no", "card_no_bad_checksum"),
            ("insutype", "insutype_unsupported"),
            ("med_type", "med_type_unknown"),
            ("level", "level_unknown"),
            ("begntime", "time_invalid"),
            ("endtime", "discharge_in_future"),
            ("fulamt_ownpay_amt", "amount_negative"),
            ("overlmt_selfpay", "amount_too_large"),
            ("inscp_scp_amt", "field_missing"),
        ];
        let want: Vec<_> = want.iter().map(|(f, c)| (f.to_string(), *c)).collect();
        assert_eq!(errors(v), want);
    }

    #[test]
    fn errors_serialise_with_their_codes() {
        let e = parse(with(sample(), "insutype", json!("310"))).unwrap_err();
        assert_eq!(
            serde_json::to_value(&e).unwrap(),
            json!([{"field": "insutype", "code": "insutype_unsupported",
                    "message": "only 390, resident basic medical insurance, is settled"}])
        );
        let codes: std::collections::HashSet<_> = ClaimErrorCode::ALL.iter().map(|c| c.code()).collect();
        assert_eq!(codes.len(), ClaimErrorCode::ALL.len());
        for code in codes {
            assert!(code.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'), "{code}");
        }
        for code in ClaimErrorCode::ALL {
            assert_eq!(crate::domain::serialized(&code), code.code());
        }
        let m = Msgid::parse("H11010500001202406300815300001").unwrap();
        assert_eq!(serde_json::to_value(&m).unwrap(), json!("H11010500001202406300815300001"));
        assert_eq!(m.to_string(), m.as_str());
    }

    // The formula.

    fn terms(deductible: i64, ratio: i64, cap: i64) -> ClaimTerms {
        ClaimTerms { deductible: Fen(deductible), ratio: BasisPoints::new(ratio).unwrap(), annual_cap: Fen(cap) }
    }

    /// Amounts whose in-scope part is `inscp`, with 1000 fen outside the scope.
    fn amounts(inscp: i64) -> ClaimAmounts {
        ClaimAmounts::new(Fen(inscp + 1000), Fen(500), Fen(200), Fen(300), Fen(inscp)).unwrap()
    }

    #[test]
    fn an_ordinary_admission() {
        let c = parse(sample()).unwrap();
        let r = c.reimbursement(terms(30_000, 7_500, 15_000_000), Fen(100_000));
        let want = Reimbursement {
            deductible: Fen(30_000),
            ratio: BasisPoints::new(7_500).unwrap(),
            cap: Fen(15_000_000),
            used_before: Fen(100_000),
            left_before: Fen(14_900_000),
            above_deductible: Fen(870_000),
            before_cap: Fen(652_500),
            act_pay_dedc: Fen(30_000),
            hifp_pay: Fen(652_500),
            pool_prop_selfpay: Fen(217_500),
            fund_pay_sumamt: Fen(652_500),
            psn_part_amt: Fen(347_500),
            acct_pay: Fen(0),
            psn_cash_pay: Fen(347_500),
        };
        assert_eq!(r, want);
        assert_eq!(
            serde_json::to_value(r).unwrap(),
            json!({
                "deductible": 30000, "ratio": 7500, "cap": 15000000, "used_before": 100000,
                "left_before": 14900000, "above_deductible": 870000, "before_cap": 652500,
                "act_pay_dedc": 30000, "hifp_pay": 652500, "pool_prop_selfpay": 217500,
                "fund_pay_sumamt": 652500, "psn_part_amt": 347500, "acct_pay": 0, "psn_cash_pay": 347500
            })
        );
    }

    #[test]
    fn exactly_half_a_fen_rounds_up() {
        // (10010 - 10000) * 8500 / 10000 = 8.5
        let r = compute(terms(10_000, 8_500, 1_000_000), &amounts(10_010), Fen(0));
        assert_eq!(r.above_deductible, Fen(10));
        assert_eq!(r.before_cap, Fen(9));
        assert_eq!(r.hifp_pay, Fen(9));
        assert_eq!(r.pool_prop_selfpay, Fen(1));
        // 1.5 -> 2, 2.25 -> 2, 0.5 -> 1, 0.4999 -> 0
        assert_eq!(compute(terms(0, 7_500, 1_000_000), &amounts(2), Fen(0)).hifp_pay, Fen(2));
        assert_eq!(compute(terms(0, 7_500, 1_000_000), &amounts(3), Fen(0)).hifp_pay, Fen(2));
        assert_eq!(compute(terms(0, 5_000, 1_000_000), &amounts(1), Fen(0)).hifp_pay, Fen(1));
        assert_eq!(compute(terms(0, 4_999, 1_000_000), &amounts(1), Fen(0)).hifp_pay, Fen(0));
    }

    #[test]
    fn a_claim_below_the_deductible_pays_nothing() {
        let r = compute(terms(10_000, 8_500, 1_000_000), &amounts(9_999), Fen(0));
        assert_eq!(r.act_pay_dedc, Fen(9_999));
        assert_eq!(r.above_deductible, Fen(0));
        assert_eq!(r.before_cap, Fen(0));
        assert_eq!(r.hifp_pay, Fen(0));
        assert_eq!(r.pool_prop_selfpay, Fen(0));
        assert_eq!(r.psn_part_amt, Fen(10_999));
        assert_eq!(r.psn_cash_pay, Fen(10_999));
        // Exactly the deductible.
        let r = compute(terms(10_000, 8_500, 1_000_000), &amounts(10_000), Fen(0));
        assert_eq!((r.act_pay_dedc, r.hifp_pay), (Fen(10_000), Fen(0)));
        // Nothing in scope at all.
        let r = compute(terms(10_000, 8_500, 1_000_000), &amounts(0), Fen(0));
        assert_eq!((r.act_pay_dedc, r.hifp_pay, r.psn_part_amt), (Fen(0), Fen(0), Fen(1000)));
    }

    #[test]
    fn the_cap_reached_exactly() {
        // 20000 - 10000 = 10000 at 85 % = 8500, exactly what is left.
        let r = compute(terms(10_000, 8_500, 100_000), &amounts(20_000), Fen(91_500));
        assert_eq!(r.left_before, Fen(8_500));
        assert_eq!(r.before_cap, Fen(8_500));
        assert_eq!(r.hifp_pay, Fen(8_500));
        assert_eq!(r.pool_prop_selfpay, Fen(1_500));
        assert_eq!(r.psn_part_amt, Fen(21_000 - 8_500));
    }

    #[test]
    fn the_cap_crossed_mid_claim() {
        let r = compute(terms(10_000, 8_500, 100_000), &amounts(20_000), Fen(95_000));
        assert_eq!(r.left_before, Fen(5_000));
        assert_eq!(r.before_cap, Fen(8_500));
        assert_eq!(r.hifp_pay, Fen(5_000));
        assert_eq!(r.fund_pay_sumamt, Fen(5_000));
        assert_eq!(r.act_pay_dedc, Fen(10_000));
        assert_eq!(r.pool_prop_selfpay, Fen(5_000));
        assert_eq!(r.psn_part_amt, Fen(16_000));
    }

    #[test]
    fn nothing_is_left_once_the_cap_is_used_up_or_passed() {
        for used in [100_000, 100_001, 250_000] {
            let r = compute(terms(10_000, 8_500, 100_000), &amounts(20_000), Fen(used));
            assert_eq!(r.left_before, Fen(0));
            assert_eq!(r.hifp_pay, Fen(0));
            assert_eq!(r.pool_prop_selfpay, Fen(10_000));
            assert_eq!(r.psn_part_amt, Fen(21_000));
        }
    }

    #[test]
    fn compute_never_panics_at_the_extremes() {
        let extreme = ClaimTerms { deductible: Fen(i64::MIN), ratio: BasisPoints::FULL, annual_cap: Fen(i64::MAX) };
        let a = ClaimAmounts::new(MAX_AMOUNT, Fen(0), Fen(0), Fen(0), MAX_AMOUNT).unwrap();
        let r = compute(extreme, &a, Fen(i64::MIN));
        assert_eq!(r.left_before, Fen(i64::MAX));
        assert_eq!(r.above_deductible, Fen(i64::MAX));
        let r = compute(terms(0, 10_000, 0), &a, Fen(i64::MAX));
        assert_eq!(r.hifp_pay, Fen(0));
    }

    fn any_amounts() -> impl Strategy<Value = ClaimAmounts> {
        let part = 0..=MAX_AMOUNT.get() / 4;
        (part.clone(), part.clone(), part.clone(), part)
            .prop_map(|(f, o, p, i)| ClaimAmounts::new(Fen(f + o + p + i), Fen(f), Fen(o), Fen(p), Fen(i)).unwrap())
    }

    fn any_terms() -> impl Strategy<Value = ClaimTerms> {
        (0..=MAX_AMOUNT.get(), 0..=10_000_i64, 0..=MAX_AMOUNT.get()).prop_map(|(d, r, c)| terms(d, r, c))
    }

    /// Small amounts, so that deductibles, caps and halves are hit often.
    fn small_terms() -> impl Strategy<Value = ClaimTerms> {
        (0..=2_000_i64, 0..=10_000_i64, 0..=5_000_i64).prop_map(|(d, r, c)| terms(d, r, c))
    }

    fn small_amounts() -> impl Strategy<Value = ClaimAmounts> {
        (0..=500_i64, 0..=5_000_i64).prop_map(|(own, i)| amounts_of(own, i))
    }

    fn amounts_of(own: i64, inscp: i64) -> ClaimAmounts {
        ClaimAmounts::new(Fen(own + inscp), Fen(own), Fen(0), Fen(0), Fen(inscp)).unwrap()
    }

    fn check_invariants(t: ClaimTerms, a: &ClaimAmounts, used: Fen) -> Result<(), TestCaseError> {
        let r = compute(t, a, used);
        let inscp = a.inscp_scp_amt().get();
        prop_assert!(r.hifp_pay >= Fen::ZERO);
        prop_assert!(r.hifp_pay <= r.left_before);
        prop_assert!(r.hifp_pay <= r.before_cap);
        prop_assert!(r.hifp_pay <= a.inscp_scp_amt());
        prop_assert!(r.before_cap <= r.above_deductible);
        prop_assert_eq!(r.left_before.get(), (t.annual_cap.get() - used.get()).max(0));
        prop_assert_eq!(r.act_pay_dedc.get() + r.above_deductible.get(), inscp);
        prop_assert_eq!(r.act_pay_dedc.get(), inscp.min(t.deductible.get()));
        prop_assert_eq!(r.hifp_pay.get() + r.pool_prop_selfpay.get(), r.above_deductible.get());
        prop_assert!(r.pool_prop_selfpay >= Fen::ZERO);
        prop_assert_eq!(r.fund_pay_sumamt, r.hifp_pay);
        prop_assert_eq!(r.fund_pay_sumamt.get() + r.psn_part_amt.get(), a.medfee_sumamt().get());
        prop_assert_eq!(r.psn_cash_pay, r.psn_part_amt);
        prop_assert_eq!(r.acct_pay, Fen::ZERO);
        prop_assert_eq!((r.deductible, r.ratio, r.cap, r.used_before), (t.deductible, t.ratio, t.annual_cap, used));
        // The patient's part covers at least everything outside the scope and the
        // deductible.
        let outside = a.medfee_sumamt().get() - inscp;
        prop_assert!(r.psn_part_amt.get() >= outside + r.act_pay_dedc.get());
        // Rounding: half up, and the direction matters only at an exact half.
        let product = i128::from(r.above_deductible.get()) * i128::from(t.ratio.get());
        let (floor, rest) = (product / 10_000, product % 10_000);
        let half_up = if rest >= 5_000 { floor + 1 } else { floor };
        let half_down = if rest > 5_000 { floor + 1 } else { floor };
        prop_assert_eq!(i128::from(r.before_cap.get()), half_up);
        prop_assert_eq!(half_up != half_down, rest == 5_000);
        if r.left_before >= r.before_cap {
            prop_assert_eq!(r.hifp_pay, r.before_cap);
        } else {
            prop_assert_eq!(r.hifp_pay, r.left_before);
        }
        Ok(())
    }

    fn any_pan() -> impl Strategy<Value = String> {
        "[0-9]{12,18}".prop_map(|body| format!("{body}{}", check_digit(&body).unwrap()))
    }

    proptest! {
        #[test]
        fn invariants_hold_for_any_amounts(t in any_terms(), a in any_amounts(), used in 0..=MAX_AMOUNT.get()) {
            check_invariants(t, &a, Fen(used))?;
        }

        #[test]
        fn invariants_hold_near_deductibles_caps_and_halves(
            t in small_terms(),
            a in small_amounts(),
            used in 0..=6_000_i64,
        ) {
            check_invariants(t, &a, Fen(used))?;
        }

        #[test]
        fn more_used_before_never_pays_more(t in small_terms(), a in small_amounts(), u in 0..=6_000_i64, more in 0..=6_000_i64) {
            let r1 = compute(t, &a, Fen(u));
            let r2 = compute(t, &a, Fen(u + more));
            prop_assert!(r2.hifp_pay <= r1.hifp_pay);
            // Two claims never pay more together than the cap allows.
            let after = compute(t, &a, Fen(u + r1.hifp_pay.get()));
            prop_assert!(u + r1.hifp_pay.get() + after.hifp_pay.get() <= t.annual_cap.get().max(u));
        }

        #[test]
        fn more_in_scope_never_pays_less(t in small_terms(), own in 0..=500_i64, i in 0..=5_000_i64, more in 0..=5_000_i64, u in 0..=6_000_i64) {
            let r1 = compute(t, &amounts_of(own, i), Fen(u));
            let r2 = compute(t, &amounts_of(own, i + more), Fen(u));
            prop_assert!(r2.hifp_pay >= r1.hifp_pay);
        }

        #[test]
        fn any_well_formed_claim_is_accepted_and_kept(
            seq in 0..10_000_u32,
            pan in any_pan(),
            ipt in "[A-Z0-9]{1,30}",
            parts in (0..=MAX_AMOUNT.get() / 4, 0..=MAX_AMOUNT.get() / 4, 0..=MAX_AMOUNT.get() / 4, 0..=MAX_AMOUNT.get() / 4),
            minutes in 0..=100_000_i64,
            length in 0..=100_000_i64,
            confidential in any::<Option<bool>>(),
        ) {
            let n = now().with_timezone(&china_time::offset()).naive_local();
            let discharged = n - chrono::Duration::minutes(minutes);
            let admitted = discharged - chrono::Duration::minutes(length);
            let (f, o, p, i) = parts;
            let v = json!({
                "msgid": format!("{INSTITUTION}20240630081530{seq:04}"),
                "ipt_otp_no": ipt, "mdtrt_cert_type": "03", "mdtrt_cert_no": pan,
                "insutype": "390", "med_type": "14", "level": "township",
                "begntime": format_platform_time(admitted), "endtime": format_platform_time(discharged),
                "medfee_sumamt": f + o + p + i, "fulamt_ownpay_amt": f, "overlmt_selfpay": o,
                "preselfpay_amt": p, "inscp_scp_amt": i, "confidential": confidential,
            });
            let c = parse(v).unwrap();
            prop_assert_eq!(c.admitted_at(), admitted);
            prop_assert_eq!(c.discharged_at(), discharged);
            prop_assert_eq!(c.msgid().sequence(), format!("{seq:04}"));
            prop_assert_eq!(c.card_no().as_str(), pan);
            prop_assert_eq!(c.ipt_otp_no(), ipt);
            prop_assert_eq!(c.medfee_sumamt().get(), f + o + p + i);
            prop_assert_eq!(c.confidential(), confidential.unwrap_or(false));
        }

        #[test]
        fn any_mismatch_of_the_parts_is_refused(delta in prop_oneof![-900_000_i64..0, 1..1_000_000_i64]) {
            let v = with(sample(), "medfee_sumamt", json!(1_000_000 + delta));
            prop_assert_eq!(errors(v), one("medfee_sumamt", "parts_do_not_add_up"));
        }

        #[test]
        fn any_amount_out_of_range_is_refused(
            member in prop::sample::select(vec!["medfee_sumamt", "fulamt_ownpay_amt", "overlmt_selfpay", "preselfpay_amt", "inscp_scp_amt"]),
            v in prop_oneof![i64::MIN..0, MAX_AMOUNT.get() + 1..=i64::MAX],
        ) {
            let code = if v < 0 { "amount_negative" } else { "amount_too_large" };
            prop_assert_eq!(errors(with(sample(), member, json!(v))), one(member, code));
        }

        #[test]
        fn parse_never_panics(
            msgid in "\\PC{0,40}",
            ipt in "\\PC{0,40}",
            card in "\\PC{0,25}",
            time in "\\PC{0,25}",
            amount in any::<i64>(),
        ) {
            let mut v = sample();
            v["msgid"] = json!(msgid);
            v["ipt_otp_no"] = json!(ipt);
            v["mdtrt_cert_no"] = json!(card);
            v["begntime"] = json!(time.clone());
            v["endtime"] = json!(time);
            v["inscp_scp_amt"] = json!(amount);
            let _ = parse(v);
            let _ = Msgid::parse(&msgid);
        }
    }
}
