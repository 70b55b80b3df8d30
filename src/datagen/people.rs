//! People and households: ethnic mix, ages, names, unique citizen ID numbers,
//! NCMS numbers, phones and addresses.

use chrono::{Datelike, Days, NaiveDate};

use crate::datagen::county::{ADDRESS_PREFIX, AREA_CODE, County, OTHER_BIRTH_REGIONS};
use crate::datagen::names::{self, NameStyle};
use crate::datagen::rng::Rng;
use crate::domain::citizen_id::check_character;

/// First birth year generated.
pub const FIRST_BIRTH_YEAR: i32 = 1930;
/// Last birth year generated.
pub const LAST_BIRTH_YEAR: i32 = 2024;

/// Ethnic mix by household, in ten-thousandths: 汉 80 %, 满 12 %, 回 4 %,
/// 朝鲜 2 %, 蒙古 1 %, the last 1 % 锡伯, 维吾尔, 哈萨克, 土家, 壮, 苗, 达斡尔.
const ETHNIC_MIX: [(u8, u32); 12] = [
    (1, 8000),
    (11, 1200),
    (3, 400),
    (10, 200),
    (2, 100),
    (38, 50),
    (5, 25),
    (17, 5),
    (15, 5),
    (8, 5),
    (6, 5),
    (31, 5),
];

/// Household sizes 2 to 6 and their weights.
const HOUSEHOLD_SIZES: [u32; 5] = [25, 30, 25, 12, 8];

/// Mobile prefixes (three digits).
const MOBILE_PREFIXES: [&str; 28] = [
    "130", "131", "132", "133", "134", "135", "136", "137", "138", "139", "150", "151", "152", "155", "156", "157",
    "158", "159", "166", "176", "177", "180", "181", "182", "186", "187", "189", "199",
];

/// Register status of a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Living in the county.
    Active,
    /// Died.
    Deceased,
    /// Moved away.
    MigratedOut,
    /// Registration cancelled.
    Cancelled,
}

impl Status {
    /// The register's code.
    pub fn code(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Deceased => "deceased",
            Status::MigratedOut => "migrated_out",
            Status::Cancelled => "cancelled",
        }
    }
}

/// One generated person before an ID number is assigned.
#[derive(Debug, Clone)]
pub struct Person {
    /// Name as in the register (simplified characters, U+00B7 dots).
    pub name: String,
    /// True for male.
    pub male: bool,
    /// Birth date.
    pub birth: NaiveDate,
    /// GB 3304 number.
    pub ethnicity: u8,
    /// Index into the birth-region table of [`IdAllocator`].
    pub birth_region: usize,
    /// Full address.
    pub address: String,
    /// Household register number.
    pub household_number: String,
    /// Index of the village.
    pub village: usize,
    /// County-level code of the household.
    pub county_code: &'static str,
    /// Contact phone, possibly empty.
    pub phone: String,
}

/// Generates households of people living in the county.
#[derive(Debug)]
pub struct PeopleGenerator {
    county: County,
    household_counters: Vec<u32>,
}

impl PeopleGenerator {
    /// A generator over the given county.
    pub fn new(county: County) -> Self {
        let household_counters = vec![0; county.villages.len()];
        PeopleGenerator { county, household_counters }
    }

    /// The county layout.
    pub fn county(&self) -> &County {
        &self.county
    }

    /// A household of 2 to 6 people (at most `limit`, at least 1): shared
    /// address, household number, family name and ethnicity.
    pub fn household(&mut self, rng: &mut Rng, limit: usize) -> Vec<Person> {
        let size = (rng.weighted(&HOUSEHOLD_SIZES) + 2).min(limit.max(1));
        let village_index = rng.index(self.county.villages.len());
        let Some(village) = self.county.villages.get(village_index) else {
            return Vec::new();
        };
        let (county_code, unit_name) = match self.county.unit_of(village) {
            Some(unit) => (unit.code, unit.name),
            None => ("210882", "大石桥市"),
        };
        let counter = self.household_counters.get_mut(village_index);
        let sequence = counter.map_or(0, |c| {
            *c += 1;
            *c
        });
        let household_number = format!("{village_index:03}{sequence:06}");
        let address = format!(
            "{ADDRESS_PREFIX}{unit_name}{}{}{}组{}号",
            village.town,
            village.name,
            rng.between(1, 12),
            rng.between(1, 300)
        );
        let weights: Vec<u32> = ETHNIC_MIX.iter().map(|(_, w)| *w).collect();
        let ethnicity = ETHNIC_MIX.get(rng.weighted(&weights)).map_or(1, |(e, _)| *e);
        let style = match ethnicity {
            10 => NameStyle::Korean,
            2 => NameStyle::Mongol,
            5 | 17 => NameStyle::Dotted,
            _ => NameStyle::Han,
        };
        let family = names::family_name(rng, style, ethnicity);
        let home_region =
            OTHER_BIRTH_REGIONS.len() + self.county.units.iter().position(|u| u.code == county_code).unwrap_or(0);

        // Ages: the head born 1934..=1999, the spouse within five years, children
        // 20 to 42 years younger than the head, a parent 20 to 35 years older.
        let head_year = rng.between(1934, 1999) as i32;
        let head_male = rng.chance(0.85);
        let mut members: Vec<(bool, i32)> = vec![(head_male, head_year)];
        if size >= 2 {
            members.push((!head_male, (head_year + rng.between(-5, 5) as i32).clamp(FIRST_BIRTH_YEAR, 2004)));
        }
        let mut has_parent = false;
        while members.len() < size {
            let parent_year = head_year - rng.between(20, 35) as i32;
            if !has_parent && parent_year >= FIRST_BIRTH_YEAR && rng.chance(0.25) {
                has_parent = true;
                members.push((rng.chance(0.4), parent_year));
            } else {
                let lo = head_year + 20;
                let hi = (head_year + 42).min(LAST_BIRTH_YEAR);
                members.push((rng.chance(0.52), rng.between(i64::from(lo), i64::from(hi)) as i32));
            }
        }

        let dotted_long = style == NameStyle::Dotted;
        members
            .into_iter()
            .map(|(male, year)| {
                let long = dotted_long && rng.chance(0.1);
                let name = names::full_name(rng, style, &family, male, long);
                let birth = random_day(rng, year);
                let birth_region = if rng.chance(0.05) { rng.index(OTHER_BIRTH_REGIONS.len()) } else { home_region };
                Person {
                    name,
                    male,
                    birth,
                    ethnicity,
                    birth_region,
                    address: address.clone(),
                    household_number: household_number.clone(),
                    village: village_index,
                    county_code,
                    phone: phone(rng),
                }
            })
            .collect()
    }
}

/// A uniform day of `year`.
fn random_day(rng: &mut Rng, year: i32) -> NaiveDate {
    let first = NaiveDate::from_ymd_opt(year, 1, 1).unwrap_or_default();
    let days = if first.leap_year() { 366 } else { 365 };
    first.checked_add_days(Days::new(rng.below(days))).unwrap_or(first)
}

/// A contact number: 80 % mobile, 10 % landline, 10 % empty.
fn phone(rng: &mut Rng) -> String {
    match rng.weighted(&[80, 10, 10]) {
        0 => format!("{}{:08}", rng.pick(&MOBILE_PREFIXES), rng.below(100_000_000)),
        1 => format!("{AREA_CODE}-{}{:06}", rng.between(2, 9), rng.below(1_000_000)),
        _ => String::new(),
    }
}

/// Hands out citizen ID numbers that are unique over a whole run without
/// remembering them: per birth region, birth day and sex a counter gives the
/// next free sequence number (odd for men, even for women). Memory is fixed
/// (about 1.6 MB) however many people are generated.
#[derive(Debug)]
pub struct IdAllocator {
    regions: Vec<&'static str>,
    days: usize,
    counters: Vec<u16>,
}

/// Sequence numbers per region, day and sex (1..=999 odd, 2..=998 even).
const SEQUENCES_PER_SEX: u16 = 499;

impl IdAllocator {
    /// An allocator for the county's own regions (after the other birth regions).
    pub fn new(county: &County) -> Self {
        let mut regions: Vec<&'static str> = OTHER_BIRTH_REGIONS.to_vec();
        regions.extend(county.units.iter().map(|u| u.code));
        let days = (first_day_after_range() - first_day()).num_days().max(1) as usize;
        let counters = vec![0; regions.len() * days * 2];
        IdAllocator { regions, days, counters }
    }

    /// A fresh 18-character ID for the person. With `want_x` the check
    /// character is `X` (for the lower-case `x` case). Moves the birth date a
    /// day on in the rare case that the day's sequence numbers are used up;
    /// returns `None` only when no sequence is free at all.
    pub fn allocate(&mut self, person: &mut Person, want_x: bool) -> Option<String> {
        let region = *self.regions.get(person.birth_region)?;
        for _ in 0..self.days {
            let day = (person.birth - first_day()).num_days();
            let day = usize::try_from(day).ok().filter(|d| *d < self.days)?;
            let slot = (person.birth_region * self.days + day) * 2 + usize::from(person.male);
            let counter = self.counters.get_mut(slot)?;
            let birth = person.birth.format("%Y%m%d");
            while *counter < SEQUENCES_PER_SEX {
                let k = *counter;
                *counter += 1;
                let sequence = if person.male { 2 * k + 1 } else { 2 * k + 2 };
                let body = format!("{region}{birth}{sequence:03}");
                let check = check_character(&body)?;
                if !want_x || check == 'X' {
                    return Some(format!("{body}{check}"));
                }
            }
            let next = person.birth.succ_opt().filter(|d| *d < first_day_after_range());
            person.birth = next.unwrap_or_else(first_day);
        }
        None
    }
}

fn first_day() -> NaiveDate {
    NaiveDate::from_ymd_opt(FIRST_BIRTH_YEAR, 1, 1).unwrap_or_default()
}

fn first_day_after_range() -> NaiveDate {
    NaiveDate::from_ymd_opt(LAST_BIRTH_YEAR + 1, 1, 1).unwrap_or_default()
}

/// NCMS certificate numbers, unique per county-level unit and year:
/// county code, year, seven-digit sequence (e.g. 2108822024000123).
#[derive(Debug)]
pub struct NcmsNumbers {
    year: u16,
    counters: Vec<(&'static str, u32)>,
}

impl NcmsNumbers {
    /// Numbering for one scheme year.
    pub fn new(year: u16) -> Self {
        NcmsNumbers { year, counters: Vec::new() }
    }

    /// The next number for a county.
    pub fn next(&mut self, county_code: &'static str) -> String {
        let position = match self.counters.iter().position(|(c, _)| *c == county_code) {
            Some(p) => p,
            None => {
                self.counters.push((county_code, 0));
                self.counters.len() - 1
            }
        };
        let sequence = self.counters.get_mut(position).map_or(0, |(_, n)| {
            *n += 1;
            *n
        });
        format!("{county_code}{}{sequence:07}", self.year)
    }
}

/// The birth year of a date (for the 15-digit form).
pub fn birth_year(person: &Person) -> i32 {
    person.birth.year()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{CitizenId, PhoneNumber};

    #[test]
    fn households_and_ids_are_consistent() {
        let mut generator = PeopleGenerator::new(County::yingkou());
        let mut ids = IdAllocator::new(generator.county());
        let mut rng = Rng::new(11);
        let today = NaiveDate::from_ymd_opt(2025, 1, 1).unwrap();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2_000 {
            let household = generator.household(&mut rng, 6);
            assert!((2..=6).contains(&household.len()));
            for mut person in household {
                assert_eq!(person.address, person.address.trim());
                let want_x = seen.len() % 7 == 0;
                let id = ids.allocate(&mut person, want_x).unwrap();
                if want_x {
                    assert!(id.ends_with('X'));
                }
                let parsed = CitizenId::parse(&id, today).unwrap();
                assert_eq!(parsed.id().birth_date(), person.birth);
                assert_eq!(parsed.id().sex() == crate::domain::Sex::Male, person.male);
                assert!(seen.insert(id), "IDs are unique");
                if !person.phone.is_empty() {
                    PhoneNumber::parse(&person.phone).unwrap();
                }
                assert!((FIRST_BIRTH_YEAR..=LAST_BIRTH_YEAR).contains(&person.birth.year()));
            }
        }
    }

    #[test]
    fn ncms_numbers_count_per_county() {
        let mut n = NcmsNumbers::new(2024);
        assert_eq!(n.next("210882"), "21088220240000001");
        assert_eq!(n.next("210881"), "21088120240000001");
        assert_eq!(n.next("210882"), "21088220240000002");
    }
}
