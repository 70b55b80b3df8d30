//! What premium debits ([`super::debits`]) and reimbursement payments
//! ([`super::payments`]) share with the bank: who sees an envelope, the `state` filter
//! of an envelope list, the bank's answers as one request of up to [`MAX_ANSWERS`]
//! (read and checked row by row), the judgement of an answer against the answer given
//! before (the same again is a repeat, another one a conflict), the all-or-nothing
//! refusal of a request, and a page written as CSV.

use actix_web::HttpResponse;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::auth::{Caller, Role};
use crate::http::{ApiError, FieldError};

/// Most answers in one results request.
pub const MAX_ANSWERS: usize = 10_000;
/// Largest results body: 10,000 answers with long references fit.
pub const MAX_RESULTS_BYTES: usize = 4 * 1024 * 1024;

/// Whether `caller` may see the envelopes of `bank`: that bank, and the province's
/// roles.
pub fn may_see(caller: &Caller, bank: &str) -> bool {
    match caller.role {
        Role::Bank => caller.scopes.iter().any(|s| s == bank),
        Role::ProvincialAdmin | Role::Auditor => true,
        _ => false,
    }
}

/// The `state` of an envelope list: `pending` (never pulled) is `true`, absent (all)
/// `false`.
pub fn unpulled_only(state: Option<&str>) -> Result<bool, ApiError> {
    match state {
        None => Ok(false),
        Some("pending") => Ok(true),
        Some(_) => Err(ApiError::validation(vec![FieldError::new(
            "state",
            "state_invalid",
            "state is pending (envelopes never pulled), or absent for all",
        )])),
    }
}

/// The outcome words of one kind of instruction: one success, and `failed`.
pub trait Outcome: Copy + Eq + DeserializeOwned {
    /// Whether this is the success (`collected`, `paid`).
    fn succeeded(self) -> bool;
}

/// One answer as the bank sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound = "O: Outcome")]
pub struct AnswerInput<O> {
    pub instruction_id: String,
    pub outcome: O,
    pub code: Option<String>,
    pub bank_reference: String,
}

/// `{results: [...]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
#[serde(bound = "O: Outcome")]
pub struct ResultsBody<O> {
    pub results: Vec<AnswerInput<O>>,
}

/// One answer, read: its row (from 1), the instruction, the outcome, the failure code
/// of a failure, the trimmed reference.
#[derive(Debug, Clone)]
pub struct Answer<O, F> {
    pub row: u64,
    pub instruction_id: String,
    pub outcome: O,
    pub failure: Option<F>,
    pub reference: String,
}

/// How the messages of [`read_answers`] name things: "a collected debit", "a failed
/// debit", and the failure codes there are.
pub struct Wording {
    pub succeeded: &'static str,
    pub failed: &'static str,
    pub codes: &'static str,
}

/// Reads and checks every answer: 1 to [`MAX_ANSWERS`] of them, each with a reference
/// of 1 to 64 characters, a failure with a known code and a success with none. Every
/// bad row is named, and then nothing is taken.
pub fn read_answers<O: Outcome, F: DeserializeOwned>(
    body: ResultsBody<O>,
    wording: &Wording,
) -> Result<Vec<Answer<O, F>>, ApiError> {
    if body.results.is_empty() || body.results.len() > MAX_ANSWERS {
        return Err(ApiError::validation(vec![FieldError::new(
            "results",
            "results_out_of_range",
            format!("send 1 to {MAX_ANSWERS} answers"),
        )]));
    }
    let mut errors = Vec::new();
    let mut answers = Vec::with_capacity(body.results.len());
    for (row, a) in (1_u64..).zip(body.results) {
        let reference = a.bank_reference.trim().to_string();
        if reference.is_empty() || reference.chars().count() > 64 {
            errors.push(FieldError::at_row(row, "bank_reference", "bank_reference_invalid", "1 to 64 characters"));
        }
        let code = a.code.as_deref().map(str::trim).filter(|c| !c.is_empty());
        let failure = match (a.outcome.succeeded(), code) {
            (true, None) => None,
            (true, Some(_)) => {
                errors.push(FieldError::at_row(
                    row,
                    "code",
                    "code_unexpected",
                    format!("{} has no failure code", wording.succeeded),
                ));
                None
            }
            (false, None) => {
                errors.push(FieldError::at_row(row, "code", "code_missing", format!("{} says why", wording.failed)));
                None
            }
            (false, Some(code)) => match serde_json::from_value::<F>(serde_json::Value::String(code.to_string())) {
                Ok(f) => Some(f),
                Err(_) => {
                    errors.push(FieldError::at_row(row, "code", "code_invalid", wording.codes));
                    None
                }
            },
        };
        answers.push(Answer { row, instruction_id: a.instruction_id, outcome: a.outcome, failure, reference });
    }
    if errors.is_empty() { Ok(answers) } else { Err(ApiError::validation(errors)) }
}

/// What an answer is, next to what was answered before.
#[derive(Debug, PartialEq, Eq)]
pub enum Judgement {
    /// Nothing answered before: a new answer.
    New,
    /// The same answer as before: a no-op.
    Repeat,
    /// Another answer for an answered instruction.
    Conflict(FieldError),
}

/// Judges `answer` against the answers recorded `before` for the same instruction
/// (none: new; one of them the same: a repeat; else a conflict, which names the state
/// the instruction was answered into).
pub fn judge<T: PartialEq>(row: u64, answer: &T, before: &[T], answered_as: impl std::fmt::Display) -> Judgement {
    if before.is_empty() {
        Judgement::New
    } else if before.contains(answer) {
        Judgement::Repeat
    } else {
        Judgement::Conflict(FieldError::at_row(
            row,
            "outcome",
            "instruction_already_answered",
            format!("the instruction was answered {answered_as} with another code or reference before"),
        ))
    }
}

/// A request's refused rows: unknown or withdrawn instructions (`422`), and answers
/// that contradict earlier ones (`409 instruction_already_answered`). Any of them
/// refuses the whole request.
#[derive(Debug, Default)]
pub struct Refusals {
    pub missing: Vec<FieldError>,
    pub conflicts: Vec<FieldError>,
}

impl Refusals {
    pub fn not_found(&mut self, row: u64) {
        self.missing.push(FieldError::at_row(
            row,
            "instruction_id",
            "instruction_not_found",
            "no instruction of yours by this id",
        ));
    }

    pub fn withdrawn(&mut self, row: u64, message: &str) {
        self.missing.push(FieldError::at_row(row, "instruction_id", "instruction_withdrawn", message));
    }

    /// `Ok` when nothing was refused.
    pub fn finish(self) -> Result<(), ApiError> {
        if !self.missing.is_empty() {
            return Err(ApiError::validation(self.missing));
        }
        if !self.conflicts.is_empty() {
            return Err(ApiError::RowConflicts { code: "instruction_already_answered", errors: self.conflicts });
        }
        Ok(())
    }
}

/// A page as CSV: the header, one record per item, and the next page's cursor in
/// `X-Next-Cursor`. Cells that hold what people typed must be neutralised by the
/// caller ([`crate::http::csv_output::neutralise`]).
pub fn csv_page(
    header: &[&str],
    records: impl IntoIterator<Item = Vec<String>>,
    next_cursor: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let mut out = csv::Writer::from_writer(Vec::new());
    out.write_record(header).map_err(ApiError::internal)?;
    for record in records {
        out.write_record(&record).map_err(ApiError::internal)?;
    }
    let body = out.into_inner().map_err(ApiError::internal)?;
    let mut response = HttpResponse::Ok();
    response.content_type("text/csv; charset=utf-8");
    if let Some(next) = next_cursor {
        response.insert_header(("X-Next-Cursor", next));
    }
    Ok(response.body(body))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_same_answer_is_a_repeat_and_another_a_conflict() {
        assert_eq!(judge(1, &"a", &[], "paid"), Judgement::New);
        assert_eq!(judge(1, &"a", &["b", "a"], "paid"), Judgement::Repeat);
        let Judgement::Conflict(e) = judge(3, &"c", &["a"], "paid") else { panic!("a conflict") };
        assert_eq!((e.row, e.code.as_str()), (Some(3), "instruction_already_answered"));
    }

    #[test]
    fn states_of_an_envelope_list() {
        assert!(!unpulled_only(None).unwrap());
        assert!(unpulled_only(Some("pending")).unwrap());
        assert!(unpulled_only(Some("pulled")).is_err());
    }
}
