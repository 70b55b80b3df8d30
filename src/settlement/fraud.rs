//! The fraud rules at settlement: the facts around a new claim read from storage, in
//! the claim's transaction and under its person's lock (so that two claims of one
//! person arriving at once see each other), judged by [`crate::domain::fraud`].
//!
//! What a clean claim costs: one indexed range read of the person's recent claims
//! (those discharged from the start of the claim's admission day on, on the index
//! (person, discharge)) serves the three rules about other claims; the enrollment's
//! and the card's times come with the rows the claim reads anyway; and the
//! institution's usual totals come from memory.
//!
//! The amount outlier's median is a cached statistic, [`AmountMedians`], per
//! (institution, med_type, level, D): computed exactly from the institution's live
//! settlements of the last D days (the newest [`MEDIAN_SAMPLE`] of them, or M if more,
//! through the index on (clinic, med_type, level, created_at)) and then used for
//! [`MEDIAN_TTL`]. An exact median over a sliding window cannot be maintained by
//! adding one row per claim, and reading the window for every claim would cost a
//! large hospital tens of thousands of rows each time; ten minutes' staleness moves a
//! median over months of claims by nothing that matters. While an institution has
//! fewer than M such claims (and fewer than [`EAGER_BELOW`]) the statistic is read
//! again for every claim, which is cheap at that size, so the rule applies from the
//! M-th claim on. Each process keeps its own cache; replicas may differ by up to
//! [`MEDIAN_TTL`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{NaiveDateTime, TimeDelta};

use super::repo::fraud as repo;
use crate::db::DbConnection;
use crate::domain::fraud::{self, AmountStatistic, Facts, FraudFlag, FraudRule, OtherClaim, Visit};
use crate::domain::policy::{FraudThresholds, MedType};
use crate::domain::{Fen, PersonNo, china_time};
use crate::http::ApiError;

/// How long a computed median is used.
pub const MEDIAN_TTL: Duration = Duration::from_secs(600);

/// How many of an institution's newest totals in the window a median is taken over
/// (at least M).
pub const MEDIAN_SAMPLE: u32 = 10_000;

/// Below this many claims (and below M), the statistic is read for every claim.
pub const EAGER_BELOW: u32 = 1_000;

/// The facts about a claim that the settlement read before the rules: the times of
/// the enrollment and of the card.
#[derive(Debug, Clone, Copy, Default)]
pub struct KnownTimes {
    pub premium_paid_at: Option<NaiveDateTime>,
    pub card_activated_at: Option<NaiveDateTime>,
    /// When the card was reported lost, if it was lost at the admission.
    pub card_lost_at: Option<NaiveDateTime>,
}

/// A new claim as the rules see it.
pub struct Subject<'a> {
    pub person: &'a PersonNo,
    pub visit: Visit,
    pub level: &'a str,
    pub medfee_sumamt: Fen,
}

/// Every rule that fires for `subject`, in the caller's transaction; empty for a
/// clean claim. Reads only what the rules that are switched on need.
pub fn judge(
    conn: &mut DbConnection,
    medians: &AmountMedians,
    subject: &Subject<'_>,
    known: KnownTimes,
    thresholds: &FraudThresholds,
    now: NaiveDateTime,
) -> Result<Vec<FraudFlag>, ApiError> {
    let on = |rule: FraudRule| !thresholds.disabled_rules.contains(rule);
    let visit = &subject.visit;
    let others = if [FraudRule::OverlappingStay, FraudRule::OutpatientFrequency, FraudRule::DuplicateVisit]
        .into_iter()
        .any(on)
    {
        neighbours(conn, subject.person, visit)?
    } else {
        Vec::new()
    };
    let institution = if on(FraudRule::AmountOutlier) {
        medians.statistic(conn, &visit.clinic, visit.med_type, subject.level, thresholds, now)?
    } else {
        AmountStatistic::default()
    };
    let facts = Facts {
        others,
        premium_paid_at: known.premium_paid_at,
        card_activated_at: known.card_activated_at,
        card_lost_at: known.card_lost_at,
        institution,
    };
    Ok(fraud::judge(visit, subject.medfee_sumamt, &facts, thresholds))
}

/// The person's live settlements that may overlap `visit`, share its day or its
/// dates: discharged from the start of its admission day (China) on, admitted by its
/// discharge or by the end of that day, whichever is later.
fn neighbours(conn: &mut DbConnection, person: &PersonNo, visit: &Visit) -> Result<Vec<OtherClaim>, ApiError> {
    let day = visit.admission_day();
    let day_start = china_time::to_utc(day.and_time(chrono::NaiveTime::MIN));
    let day_end = day_start + TimeDelta::days(1);
    let rows = repo::neighbours(conn, person, day_start, visit.discharged_at.max(day_end))?;
    rows.into_iter()
        .map(|row| {
            let med_type = MedType::parse(&row.med_type)
                .ok_or_else(|| ApiError::internal(format!("claim {} has med_type {:?}", row.setl_id, row.med_type)))?;
            Ok(OtherClaim {
                setl_id: row.setl_id,
                visit: Visit {
                    clinic: row.clinic,
                    ipt_otp_no: row.ipt_otp_no,
                    med_type,
                    admitted_at: row.admitted_at,
                    discharged_at: row.discharged_at,
                },
            })
        })
        .collect()
}

/// The institutions' usual totals, cached (see the module documentation).
#[derive(Default)]
pub struct AmountMedians {
    entries: Mutex<HashMap<MedianKey, CachedStatistic>>,
}

/// (institution, med_type code, level, days).
type MedianKey = (String, &'static str, String, u32);

struct CachedStatistic {
    computed: Instant,
    statistic: AmountStatistic,
}

impl AmountMedians {
    /// The statistic of `clinic`'s claims of `med_type` and `level` over the last
    /// `amount_outlier_days`: from memory when fresh enough, else read in the caller's
    /// connection.
    pub fn statistic(
        &self,
        conn: &mut DbConnection,
        clinic: &str,
        med_type: MedType,
        level: &str,
        thresholds: &FraudThresholds,
        now: NaiveDateTime,
    ) -> Result<AmountStatistic, ApiError> {
        let key: MedianKey = (clinic.to_string(), med_type.code(), level.to_string(), thresholds.amount_outlier_days);
        let min_claims = thresholds.amount_outlier_min_claims;
        let cached = {
            let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            entries
                .get(&key)
                .filter(|c| {
                    let claims = c.statistic.claims;
                    c.computed.elapsed() < MEDIAN_TTL && (claims >= min_claims || claims >= EAGER_BELOW)
                })
                .map(|c| c.statistic)
        };
        if let Some(statistic) = cached {
            return Ok(statistic);
        }
        let computed = Instant::now();
        let since = now - TimeDelta::days(i64::from(thresholds.amount_outlier_days));
        let sample = i64::from(MEDIAN_SAMPLE.max(min_claims));
        let mut totals = repo::recent_totals(conn, clinic, med_type.code(), level, since, sample)?;
        let statistic = AmountStatistic::of(&mut totals);
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.insert(key, CachedStatistic { computed, statistic });
        Ok(statistic)
    }
}
