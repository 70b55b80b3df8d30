//! A deterministic, seeded generator of test data: enrollee batches as a
//! county office submits them and the household register they are verified
//! against, with deliberate defects whose expected outcome is written to a
//! sidecar file. Used by the `healthcard-datagen` binary, by tests and by
//! benchmarks.
//!
//! The same seed gives the same bytes on every machine: the only source of
//! randomness is the self-written [`rng::Rng`], and nothing is iterated in
//! hash order. Memory stays flat however many records are generated: rows are
//! produced one at a time by [`Generator`], which keeps at most one household
//! and a short window of recent rows (for duplicates), plus the fixed-size
//! counters that keep ID and NCMS numbers unique.

pub mod card_statuses;
pub mod county;
pub mod defects;
pub mod names;
pub mod output;
pub mod people;
pub mod registrations;
pub mod rng;

use std::collections::VecDeque;

use chrono::Datelike;
use serde::Serialize;

use crate::datagen::county::County;
use crate::datagen::defects::{DefectKind, fifteen_digit, full_width, with_wrong_check};
use crate::datagen::people::{IdAllocator, NcmsNumbers, PeopleGenerator, Person, Status};
use crate::datagen::rng::Rng;
use crate::domain::Ethnicity;

pub use output::{DatagenError, Format, OutputOptions, Summary, generate, generate_files};

/// What to generate.
#[derive(Debug, Clone)]
pub struct Options {
    /// Rows in the batch.
    pub records: u64,
    /// Seed of the generator.
    pub seed: u64,
    /// Share of batch rows with a deliberate defect (0 to 1).
    pub defect_rate: f64,
    /// People in the register beyond those in the batch.
    pub register_extra: u64,
    /// Scheme year of the NCMS numbers.
    pub year: u16,
}

impl Default for Options {
    fn default() -> Self {
        Options { records: 1_000, seed: 1, defect_rate: 0.02, register_extra: 0, year: 2024 }
    }
}

/// One row of a submitted batch, every field as text the way a county sends it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchRecord {
    /// Name.
    pub name: String,
    /// `1`/`2` or `男`/`女`.
    pub sex: String,
    /// Code (`01`) or name (`汉族`, `汉`).
    pub ethnicity: String,
    /// Citizen ID number.
    pub id_number: String,
    /// Address.
    pub address: String,
    /// NCMS certificate number.
    pub ncms_number: String,
    /// Contact phone, possibly empty.
    pub phone: String,
    /// County-level code.
    pub county_code: String,
    /// Village name or code.
    pub village: String,
    /// Household register number.
    pub household_number: String,
}

/// One person in the household register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegisterEntry {
    /// 18-character citizen ID.
    pub id_number: String,
    /// Name (simplified characters).
    pub name: String,
    /// `1` male, `2` female.
    pub sex: &'static str,
    /// `YYYY-MM-DD`.
    pub birth_date: String,
    /// Two-digit GB 3304 code.
    pub ethnicity: &'static str,
    /// Address.
    pub address: String,
    /// Household register number.
    pub household_number: String,
    /// `active`, `deceased`, `migrated_out` or `cancelled`.
    pub status: &'static str,
}

/// A deliberate defect in a batch row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Defect {
    /// The kind.
    pub kind: DefectKind,
    /// A note for people (e.g. which row a duplicate repeats).
    pub detail: String,
}

/// What the generator produces, in output order.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // one event lives at a time; boxing would allocate per row
pub enum Event {
    /// A batch row (1-based `row`), the person's register entry unless the
    /// person is missing from the register or already written (a duplicate),
    /// and the row's defect if it has one.
    Batch {
        /// 1-based row number in the batch.
        row: u64,
        /// The row.
        record: BatchRecord,
        /// The person's register entry, if one is to be written now.
        register: Option<RegisterEntry>,
        /// The deliberate defect, if any.
        defect: Option<Defect>,
    },
    /// A register entry for someone who is not in the batch.
    Register(RegisterEntry),
}

/// Recent clean rows kept as candidates for a duplicate.
const RECENT_ROWS: usize = 64;
/// Give up after this many people in a row could not get an ID number.
const MAX_ALLOCATION_FAILURES: u32 = 1_000;

/// The generator: an iterator of [`Event`]s, first the batch rows, then the
/// register-only people.
#[derive(Debug)]
pub struct Generator {
    options: Options,
    rng: Rng,
    people: PeopleGenerator,
    ids: IdAllocator,
    ncms: NcmsNumbers,
    pending: VecDeque<Person>,
    rows: u64,
    extra: u64,
    recent: VecDeque<(u64, BatchRecord)>,
    owed: Vec<DefectKind>,
    failures: u32,
    batch_done: bool,
}

impl Generator {
    /// A generator for the options.
    pub fn new(options: Options) -> Self {
        let county = County::yingkou();
        let ids = IdAllocator::new(&county);
        Generator {
            rng: Rng::new(options.seed),
            ncms: NcmsNumbers::new(options.year),
            people: PeopleGenerator::new(county),
            ids,
            pending: VecDeque::new(),
            rows: 0,
            extra: 0,
            recent: VecDeque::with_capacity(RECENT_ROWS),
            owed: Vec::new(),
            failures: 0,
            batch_done: false,
            options,
        }
    }

    /// The options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The next person, from the current household or a new one of at most `limit` people.
    fn next_person(&mut self, limit: u64) -> Person {
        loop {
            if let Some(person) = self.pending.pop_front() {
                return person;
            }
            let limit = usize::try_from(limit).unwrap_or(usize::MAX);
            self.pending.extend(self.people.household(&mut self.rng, limit));
        }
    }

    /// The defect of the next row: a fresh draw, or one owed from an earlier
    /// row that could not take its kind.
    fn draw_defect(&mut self) -> Option<DefectKind> {
        if self.rng.chance(self.options.defect_rate) {
            let index = self.rng.index(DefectKind::ALL.len());
            return DefectKind::ALL.get(index).copied();
        }
        None
    }

    fn next_batch_row(&mut self) -> Option<Event> {
        let row = self.rows + 1;
        let mut kind = self.draw_defect();
        if kind.is_none() && !self.owed.is_empty() {
            kind = Some(self.owed.remove(0));
        }

        if kind == Some(DefectKind::DuplicateInBatch) {
            if self.recent.is_empty() {
                self.owed.push(DefectKind::DuplicateInBatch);
                kind = None;
            } else {
                let pick = self.rng.index(self.recent.len());
                if let Some((original, record)) = self.recent.get(pick).cloned() {
                    self.rows = row;
                    let detail = format!("repeats row {original}");
                    let defect = Some(Defect { kind: DefectKind::DuplicateInBatch, detail });
                    return Some(Event::Batch { row, record, register: None, defect });
                }
            }
        }

        let remaining = self.options.records - self.rows;
        let mut person = self.next_person(remaining);
        if kind == Some(DefectKind::Id15Digit) && person.birth.year() >= 2000 {
            // Only people born in the 1900s had 15-digit numbers: try a later row.
            self.owed.push(DefectKind::Id15Digit);
            kind = None;
        }
        if kind == Some(DefectKind::NameTraditional) {
            names::ensure_traditional_candidate(&mut self.rng, &mut person.name);
        }
        let Some(id) = self.ids.allocate(&mut person, kind == Some(DefectKind::IdLowercaseX)) else {
            self.failures += 1;
            if let Some(kind) = kind {
                self.owed.push(kind);
            }
            return None;
        };
        self.failures = 0;
        self.rows = row;

        let village = self.people.county().villages.get(person.village);
        let village_text = match village {
            Some(v) if self.rng.chance(0.1) => v.code.clone(),
            Some(v) => v.name.clone(),
            None => String::new(),
        };
        let shown_male = if kind == Some(DefectKind::SexIdMismatch) { !person.male } else { person.male };
        let sex = match (self.rng.chance(0.3), shown_male) {
            (true, true) => "男",
            (true, false) => "女",
            (false, true) => "1",
            (false, false) => "2",
        };
        let ethnicity = Ethnicity::from_number(person.ethnicity).unwrap_or(Ethnicity::HAN);
        let ethnicity_text = match self.rng.weighted(&[50, 40, 10]) {
            0 => ethnicity.code(),
            1 => ethnicity.name(),
            _ => ethnicity.name().strip_suffix('族').unwrap_or(ethnicity.name()),
        };
        let id_text = match kind {
            Some(DefectKind::IdBadChecksum) => with_wrong_check(&id, self.rng.index(10)),
            Some(DefectKind::IdFullWidth) => full_width(&id),
            Some(DefectKind::IdLowercaseX) => id.to_lowercase(),
            Some(DefectKind::Id15Digit) => fifteen_digit(&id).unwrap_or_else(|| id.clone()),
            _ => id.clone(),
        };
        let name_text = match kind {
            Some(DefectKind::NameTypo) => names::typo(&mut self.rng, &person.name),
            Some(DefectKind::NameTraditional) => {
                names::to_traditional(&person.name).unwrap_or_else(|| person.name.clone())
            }
            // Some clerks type another dot for a minority name; it normalises to U+00B7.
            _ if person.name.contains('·') && self.rng.chance(0.1) => person.name.replace('·', "•"),
            _ => person.name.clone(),
        };
        let record = BatchRecord {
            name: name_text,
            sex: sex.to_owned(),
            ethnicity: ethnicity_text.to_owned(),
            id_number: id_text,
            address: person.address.clone(),
            ncms_number: self.ncms.next(person.county_code),
            phone: person.phone.clone(),
            county_code: person.county_code.to_owned(),
            village: village_text,
            household_number: person.household_number.clone(),
        };
        let status = match kind {
            Some(DefectKind::Deceased) => Status::Deceased,
            Some(DefectKind::MigratedOut) => Status::MigratedOut,
            _ => Status::Active,
        };
        let register = (kind != Some(DefectKind::NotInRegister)).then(|| register_entry(&person, id.clone(), status));
        let defect = kind.map(|kind| Defect { kind, detail: defect_detail(kind, &id) });
        if kind.is_none() {
            if self.recent.len() == RECENT_ROWS {
                self.recent.pop_front();
            }
            self.recent.push_back((row, record.clone()));
        }
        Some(Event::Batch { row, record, register, defect })
    }

    fn next_register_only(&mut self) -> Option<Event> {
        let remaining = self.options.register_extra - self.extra;
        let mut person = self.next_person(remaining);
        let Some(id) = self.ids.allocate(&mut person, false) else {
            self.failures += 1;
            return None;
        };
        self.failures = 0;
        self.extra += 1;
        let status = match self.rng.weighted(&[9_800, 120, 60, 20]) {
            0 => Status::Active,
            1 => Status::Deceased,
            2 => Status::MigratedOut,
            _ => Status::Cancelled,
        };
        Some(Event::Register(register_entry(&person, id, status)))
    }
}

impl Iterator for Generator {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        while self.failures < MAX_ALLOCATION_FAILURES {
            let event = if self.rows < self.options.records {
                self.next_batch_row()
            } else if self.extra < self.options.register_extra {
                if !self.batch_done {
                    // What is left of the batch's last household is not generated.
                    self.batch_done = true;
                    self.pending.clear();
                }
                self.next_register_only()
            } else {
                return None;
            };
            if event.is_some() {
                return event;
            }
        }
        None
    }
}

fn register_entry(person: &Person, id_number: String, status: Status) -> RegisterEntry {
    let ethnicity = Ethnicity::from_number(person.ethnicity).unwrap_or(Ethnicity::HAN);
    RegisterEntry {
        id_number,
        name: person.name.clone(),
        sex: if person.male { "1" } else { "2" },
        birth_date: person.birth.format("%Y-%m-%d").to_string(),
        ethnicity: ethnicity.code(),
        address: person.address.clone(),
        household_number: person.household_number.clone(),
        status: status.code(),
    }
}

fn defect_detail(kind: DefectKind, id: &str) -> String {
    match kind {
        DefectKind::IdBadChecksum | DefectKind::Id15Digit | DefectKind::IdFullWidth | DefectKind::IdLowercaseX => {
            format!("register id {id}")
        }
        _ => String::new(),
    }
}
