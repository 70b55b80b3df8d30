//! Turning raw rows into stored records: each row is checked (domain rules), its
//! citizen ID encrypted and hashed, and each chunk is checked for duplicates (same
//! citizen or NCMS number in this batch, in another open batch) with one query per
//! chunk, then inserted with one statement.

use std::collections::HashMap;

use chrono::NaiveDate;
use serde::Serialize;

use super::repo::{self, RecordRow};
use crate::db::{DbConnection, now};
use crate::domain::normalize::normalize_text;
use crate::domain::record::{self, Checked, FieldIssue, RawRecord};
use crate::domain::{BatchId, CountyCode, RecordId, RecordState, UploadId};
use crate::http::ApiError;
use crate::pii::PiiKeys;

/// Records per chunk: one transaction with one duplicate query per key and one insert
/// (fewer, larger statements: each carries a fixed cost in both processes).
pub const CHUNK: usize = 5000;
/// Row errors kept per part (the counts are always complete).
pub const MAX_REPORTED_ERRORS: usize = 1000;

/// One problem of one row of a part, as the county sees it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct RowError {
    pub row: u64,
    pub field: String,
    pub code: String,
    pub message: String,
}

/// Where the rows of one upload go.
pub struct Intake {
    pub pii: PiiKeys,
    pub batch_id: BatchId,
    pub batch_county: CountyCode,
    /// Counties the submitting office may submit for.
    pub allowed_counties: Vec<String>,
    pub part_no: i32,
    pub upload_id: UploadId,
    pub today: NaiveDate,
}

fn json<T: Serialize>(value: &T) -> Result<String, ApiError> {
    serde_json::to_string(value).map_err(ApiError::internal)
}

impl Intake {
    /// Checks one raw row and builds its record (valid as `received`, otherwise
    /// `format_invalid` with every issue).
    pub fn build(&self, row_no: u64, raw: &RawRecord) -> Result<RecordRow, ApiError> {
        let mut checked: Checked = record::check(raw, &self.batch_county, self.today);
        if let Ok(valid) = &checked
            && !self.allowed_counties.iter().any(|c| c == valid.county_code.as_str())
        {
            checked = Err(vec![FieldIssue {
                field: "county_code".into(),
                code: "county_not_allowed".into(),
                message: "this office may not submit for that county".into(),
            }]);
        }
        let at = now();
        let submitted_enc = self.pii.encrypt(&json(raw)?).map_err(ApiError::internal)?;
        let base = RecordRow {
            id: RecordId::new(),
            batch_id: self.batch_id.clone(),
            part_no: self.part_no,
            upload_id: self.upload_id.clone(),
            row_no: row_no as i64,
            county_code: self.batch_county.as_str().to_string(),
            village: normalize_text(raw.get("village")).chars().take(record::MAX_VILLAGE_CHARS).collect(),
            version: 1,
            state: RecordState::FormatInvalid,
            id_hash: None,
            id_enc: None,
            id_masked: None,
            name: normalize_text(raw.get("name")).chars().take(60).collect(),
            sex: None,
            birth_date: None,
            ethnicity: None,
            ncms_number: None,
            submitted_enc,
            issues: "[]".into(),
            warnings: "[]".into(),
            reasons: "[]".into(),
            created_at: at,
            state_changed_at: at,
        };
        Ok(match checked {
            Err(issues) => RecordRow { issues: json(&issues)?, ..base },
            Ok(valid) => RecordRow {
                state: RecordState::Received,
                county_code: valid.county_code.as_str().to_string(),
                village: valid.village.clone(),
                id_hash: Some(self.pii.hash(valid.id.as_str())),
                id_enc: Some(self.pii.encrypt(valid.id.as_str()).map_err(ApiError::internal)?),
                id_masked: Some(valid.id.mask()),
                name: valid.name.as_str().to_string(),
                sex: Some(valid.sex.code().to_string()),
                birth_date: Some(valid.birth_date),
                ethnicity: Some(valid.ethnicity.code().to_string()),
                ncms_number: Some(valid.ncms_number.as_str().to_string()),
                warnings: json(&valid.warnings)?,
                ..base
            },
        })
    }

    /// Marks duplicates in `rows` (against live records and earlier rows of the chunk)
    /// and inserts them. `dry_run` checks without inserting.
    pub fn store_chunk(&self, conn: &mut DbConnection, rows: &mut [RecordRow], dry_run: bool) -> Result<(), ApiError> {
        self.mark_duplicates(conn, rows)?;
        if !dry_run {
            repo::insert_records(conn, rows)?;
        }
        Ok(())
    }

    /// Turns rows whose citizen or NCMS number is already held by a live record (or
    /// by an earlier row of `rows`) into `format_invalid`, saying where. A record is
    /// never its own duplicate (a correction checks against everything else).
    pub fn mark_duplicates(&self, conn: &mut DbConnection, rows: &mut [RecordRow]) -> Result<(), ApiError> {
        let hashes: Vec<String> = rows.iter().filter_map(|r| r.id_hash.clone()).collect();
        let mut by_hash: HashMap<String, String> = HashMap::new();
        // Citizens whose record is registered for a card (or further along).
        let mut registered: HashMap<String, String> = HashMap::new();
        for h in repo::holders(conn, repo::HeldKey::Citizens(&hashes), &self.batch_id, self.part_no, &self.upload_id)? {
            if let Some(key) = h.key.clone() {
                if h.state.is_registered() {
                    registered.entry(key.clone()).or_insert_with(|| self.where_held(&h));
                }
                by_hash.entry(key).or_insert_with(|| self.where_held(&h));
            }
        }
        let mut by_ncms: HashMap<(String, String), String> = HashMap::new();
        let mut counties: Vec<&str> = rows.iter().map(|r| r.county_code.as_str()).collect();
        counties.sort_unstable();
        counties.dedup();
        for county in counties {
            let numbers: Vec<String> =
                rows.iter().filter(|r| r.county_code == county).filter_map(|r| r.ncms_number.clone()).collect();
            for h in repo::holders(
                conn,
                repo::HeldKey::NcmsNumbers { county, numbers: &numbers },
                &self.batch_id,
                self.part_no,
                &self.upload_id,
            )? {
                if let Some(key) = h.key.clone() {
                    by_ncms.entry((county.to_string(), key)).or_insert_with(|| self.where_held(&h));
                }
            }
        }
        for row in rows.iter_mut() {
            if row.state != RecordState::Received {
                continue;
            }
            let mut issues = Vec::new();
            let own = format!("batch:{}:{}:{}", row.batch_id, row.part_no, row.row_no);
            if let Some(hash) = &row.id_hash {
                match by_hash.get(hash).filter(|place| **place != own) {
                    Some(_) if registered.get(hash).is_some_and(|place| *place != own) => {
                        let place = registered.get(hash).map(String::as_str).unwrap_or_default();
                        issues.push(FieldIssue {
                            field: "id_number".into(),
                            code: "already_registered".into(),
                            message: format!("the citizen is already registered for a card ({})", describe(place)),
                        });
                    }
                    Some(place) => issues.push(duplicate_issue("id_number", place, &self.batch_id)),
                    None => {
                        by_hash.insert(hash.clone(), own.clone());
                    }
                }
            }
            if let Some(number) = &row.ncms_number {
                let key = (row.county_code.clone(), number.clone());
                match by_ncms.get(&key).filter(|place| **place != own) {
                    Some(place) => issues.push(FieldIssue {
                        field: "ncms_number".into(),
                        code: "ncms_number_duplicate".into(),
                        message: format!("NCMS number already used in this county ({})", describe(place)),
                    }),
                    None => {
                        by_ncms.insert(key, own.clone());
                    }
                }
            }
            if !issues.is_empty() {
                row.state = RecordState::FormatInvalid;
                row.issues = json(&issues)?;
            }
        }
        Ok(())
    }

    fn where_held(&self, h: &repo::Holder) -> String {
        format!("batch:{}:{}:{}", h.batch_id, h.part_no, h.row_no)
    }
}

fn describe(place: &str) -> String {
    let mut it = place.splitn(4, ':').skip(1);
    match (it.next(), it.next(), it.next()) {
        (Some(batch), Some(part), Some(row)) => format!("batch {batch}, part {part}, row {row}"),
        _ => place.to_string(),
    }
}

fn duplicate_issue(field: &str, place: &str, this_batch: &BatchId) -> FieldIssue {
    let same_batch = place.split(':').nth(1) == Some(this_batch.as_str());
    FieldIssue {
        field: field.into(),
        code: if same_batch { "duplicate_in_batch" } else { "duplicate_in_open_batch" }.into(),
        message: format!("the same citizen is already in {}", describe(place)),
    }
}

/// The row errors of a stored record, for the part's answer.
pub fn row_errors(row: &RecordRow) -> Vec<RowError> {
    let issues: Vec<FieldIssue> = serde_json::from_str(&row.issues).unwrap_or_default();
    issues
        .into_iter()
        .map(|i| RowError { row: row.row_no as u64, field: i.field, code: i.code, message: i.message })
        .collect()
}
