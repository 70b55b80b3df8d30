//! What a verified record sends to card making: the card's fields, normalised by the
//! same domain rules that accepted the record, encrypted with the shared key.

use super::repo::RecordRow;
use crate::contracts::messages::{CardFields, Registration};
use crate::domain::CountyCode;
use crate::domain::record::{self, RawRecord};
use crate::http::ApiError;
use crate::pii::PiiKeys;

/// Registrations per message.
pub const PER_MESSAGE: usize = 250;

/// The registration of one verified record.
pub fn of(row: &RecordRow, pii: &PiiKeys) -> Result<Registration, ApiError> {
    let id_hash = row.id_hash.clone().ok_or_else(|| ApiError::internal("verified record without citizen ID"))?;
    let raw: RawRecord = serde_json::from_str(&pii.decrypt(&row.submitted_enc).map_err(ApiError::internal)?)
        .map_err(ApiError::internal)?;
    let county = CountyCode::parse(&row.county_code).map_err(ApiError::internal)?;
    // The record passed these checks when it came in or was corrected.
    let valid = record::check(&raw, &county, crate::db::now().date())
        .map_err(|issues| ApiError::internal(format!("verified record fails its checks: {} issues", issues.len())))?;
    let fields = CardFields {
        name: valid.name.as_str().to_string(),
        sex: valid.sex.code().to_string(),
        ethnicity: valid.ethnicity.code().to_string(),
        birth_date: valid.birth_date,
        citizen_id: valid.id.as_str().to_string(),
        address: valid.address,
        ncms_number: valid.ncms_number.as_str().to_string(),
        phone: valid.phone.map(|p| p.as_str().to_string()),
        county_code: valid.county_code.as_str().to_string(),
        village: valid.village,
    };
    let fields_json = serde_json::to_string(&fields).map_err(ApiError::internal)?;
    Ok(Registration {
        record_id: row.id.clone(),
        version: row.version,
        batch_id: row.batch_id.clone(),
        county_code: row.county_code.clone(),
        village: row.village.clone(),
        id_hash,
        fields_enc: pii.encrypt(&fields_json).map_err(ApiError::internal)?,
    })
}
