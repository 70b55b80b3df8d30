//! Domain types of the health card: the fields of a submitted record, parsed
//! into values the rest of the service can trust ("parse, don't validate").
//!
//! Everything here is pure: no I/O, no clock (callers pass `today`), no panics
//! on any input. Each parse function normalises first (see [`normalize`]) and
//! reports failures with an error enum whose `code()` is the stable
//! machine-readable code of DOMAIN.md section 1; soft findings that do not
//! reject a record are a [`Warning`].
#![deny(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

/// Implements `serde::Serialize` for an error enum as its `code()` string, so
/// an error reaches clients as e.g. `"id_bad_checksum"`.
macro_rules! serialize_as_code {
    ($ty:ty) => {
        impl serde::Serialize for $ty {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.code())
            }
        }
    };
}
pub(crate) use serialize_as_code;

pub mod batch;
pub mod card;
pub mod card_order;
pub mod china_time;
pub mod citizen_id;
pub mod claim;
pub mod claim_state;
pub mod debit;
pub mod eligibility;
pub mod ethnicity;
pub mod fraud;
pub mod fund_summary;
pub mod ids;
pub mod ledger;
pub mod money;
pub mod month;
pub mod name;
pub mod ncms;
pub mod normalize;
pub mod pan;
pub mod party;
pub mod phone;
pub mod policy;
pub mod reconciliation;
pub mod record;
pub mod record_state;
pub mod region;
pub mod register_import;
pub mod sex;
pub mod state;
pub mod warning;

pub use batch::BatchState;
pub use card::{CardStage, CardState};
pub use card_order::OrderState;
pub use citizen_id::{CitizenId, CitizenIdError, ParsedCitizenId};
pub use claim::{Claim, ClaimAmounts, ClaimDraft, ClaimErrorCode, ClaimFieldError, Msgid, Reimbursement};
pub use ethnicity::{Ethnicity, EthnicityError};
pub use ids::{
    BatchId, CardNo, ClientId, DebitRunId, EnvelopeId, ImportId, InstructionId, LeaseId, OrderId, PaymentId, PersonNo,
    ReconciliationId, RecordId, SetlId, UploadId,
};
pub use money::Fen;
pub use name::{NameError, ParsedName, PersonName};
pub use ncms::{NcmsNumber, NcmsNumberError};
pub use pan::{Pan, PanError};
pub use phone::{PhoneError, PhoneKind, PhoneNumber};
pub use record_state::RecordState;
pub use region::{CountyCode, CountyCodeError};
pub use register_import::ImportState;
pub use sex::{Sex, SexError};
pub use state::{StateMachine, Transition, TransitionRefused, UnknownState};
pub use warning::Warning;

/// Test helper: what a value serialises to, via serde's own `Serializer` for
/// `fmt::Formatter` (strings, integers and unit variants print as such; so a
/// JSON serializer would write the same text, quoted for strings).
#[cfg(test)]
pub(crate) fn serialized<T: serde::Serialize>(value: &T) -> String {
    struct Probe<'a, T>(&'a T);
    impl<T: serde::Serialize> std::fmt::Display for Probe<'_, T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            self.0.serialize(f)
        }
    }
    Probe(value).to_string()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    #[test]
    fn errors_and_warnings_serialise_as_their_codes() {
        let all: Vec<(String, &str)> = vec![
            (serialized(&CitizenIdError::InvalidLength), "id_invalid_length"),
            (serialized(&CitizenIdError::InvalidChars), "id_invalid_chars"),
            (serialized(&CitizenIdError::BadChecksum), "id_bad_checksum"),
            (serialized(&CitizenIdError::BadBirthDate), "id_bad_birth_date"),
            (serialized(&CitizenIdError::RegionUnknown), "id_region_unknown"),
            (serialized(&SexError::Invalid), "sex_invalid"),
            (serialized(&SexError::IdMismatch), "sex_id_mismatch"),
            (serialized(&EthnicityError::Unknown), "ethnicity_unknown"),
            (serialized(&NameError::Empty), "name_empty"),
            (serialized(&NameError::TooLong), "name_too_long"),
            (serialized(&NameError::InvalidChars), "name_invalid_chars"),
            (serialized(&PhoneError::Invalid), "phone_invalid"),
            (serialized(&NcmsNumberError::Invalid), "ncms_number_invalid"),
            (serialized(&CountyCodeError::InvalidFormat), "county_code_invalid"),
            (serialized(&CountyCodeError::UnknownProvince), "county_code_invalid"),
            (serialized(&CountyCodeError::NotCountyLevel), "county_code_invalid"),
            (serialized(&Warning::IdUpgradedFrom15), "id_upgraded_from_15"),
            (serialized(&Warning::NameTruncatedOnCard), "name_truncated_on_card"),
        ];
        for (got, want) in all {
            assert_eq!(got, want);
        }
    }

    #[test]
    fn values_serialise_as_their_canonical_form() {
        let today = NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
        let id = CitizenId::parse("11010519491231002x", today).unwrap().into_id();
        assert_eq!(serialized(&id), "11010519491231002X");
        assert_eq!(serialized(&Sex::Male), "male");
        assert_eq!(serialized(&Sex::Female), "female");
        assert_eq!(serialized(&Ethnicity::parse("回族").unwrap()), "03");
        let name = PersonName::parse("阿依古丽 • 买买提").unwrap().into_name();
        assert_eq!(serialized(&name), "阿依古丽·买买提");
        assert_eq!(serialized(&PhoneNumber::parse("+86 138-1234-5678").unwrap()), "13812345678");
        assert_eq!(serialized(&PhoneKind::Landline), "landline");
        assert_eq!(serialized(&CountyCode::parse("２１０８０４").unwrap()), "210804");
        assert_eq!(serialized(&NcmsNumber::parse("nh01").unwrap()), "NH01");
        assert_eq!(serialized(&Fen(-12345)), "-12345");
    }
}
