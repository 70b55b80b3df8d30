//! Reimbursement policies through the gateway: a provincial admin publishes versions,
//! every role reads the latest or an earlier one, bad terms are refused field by field
//! with nothing stored, and concurrent publications never share a version number.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    versions_are_published_and_every_one_stays_readable,
    bad_terms_are_refused_field_by_field_and_nothing_is_stored,
    concurrent_publications_never_share_a_version,
);

const POLICY: &str = "/api/v1/policies/210804/2027";

fn policy(effective_from: &str) -> Value {
    json!({
        "effective_from": effective_from,
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

struct Province {
    app: TestApp,
    admin: String,
    county: String,
}

impl Province {
    async fn new(backend: Backend) -> Province {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        let (_, county) = app.client(&admin, "county_office", &["210804"]).await;
        Province { app, admin, county }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.app.gateway())
    }

    async fn put(&self, token: &str, path: &str, body: &Value) -> reqwest::Response {
        self.app.http.put(self.url(path)).bearer_auth(token).json(body).send().await.unwrap()
    }

    async fn get(&self, token: &str, path: &str) -> reqwest::Response {
        self.app.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }
}

/// The field errors of a `validation_failed` answer, as `(field, code)`.
fn field_errors(problem: &Value) -> Vec<(String, String)> {
    problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap().to_string(), e["code"].as_str().unwrap().to_string()))
        .collect()
}

fn pairs(want: &[(&str, &str)]) -> Vec<(String, String)> {
    want.iter().map(|(f, c)| (f.to_string(), c.to_string())).collect()
}

async fn versions_are_published_and_every_one_stays_readable(backend: Backend) {
    let p = Province::new(backend).await;

    let (status, first) = json_of(p.put(&p.admin, POLICY, &policy("2027-01-01")).await).await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(first["county_code"], "210804");
    assert_eq!(first["year"], 2027);
    assert_eq!(first["version"], 1);
    assert_eq!(first["effective_from"], "2027-01-01");
    assert!(first["created_by"].is_string() && first["created_at"].is_string(), "{first}");
    assert_eq!(first["levels"]["county"], json!({"deductible": 30000, "ratio": 7500}));
    assert_eq!(first["inpatient_annual_cap"], 15_000_000);
    assert_eq!(first["outpatient"], json!({"ratio": 5000, "deductible_per_visit": 0, "annual_cap": 40000}));
    assert_eq!(first["chronic"], json!({"ratio": 6000, "annual_cap": 300_000}));
    assert_eq!(
        (first["premium_per_person"].as_i64(), first["subsidy_per_person"].as_i64()),
        (Some(38000), Some(61000))
    );
    // Thresholds not sent take their defaults.
    assert_eq!(
        first["fraud_thresholds"],
        json!({"outpatient_claims_per_day": 3, "amount_outlier_factor": 50000,
               "amount_outlier_days": 90, "amount_outlier_min_claims": 20, "disabled_rules": []})
    );

    // Mid-year, the county ratio goes up and the outpatient cap with it.
    let mut second = policy("2027-07-01");
    second["levels"]["county"]["ratio"] = json!(8000);
    second["outpatient"]["annual_cap"] = json!(50000);
    second["fraud_thresholds"] = json!({"outpatient_claims_per_day": 4});
    let (status, v2) = json_of(p.put(&p.admin, POLICY, &second).await).await;
    assert_eq!(status, 201, "{v2}");
    assert_eq!((v2["version"].as_i64(), v2["effective_from"].as_str()), (Some(2), Some("2027-07-01")));
    assert_eq!(v2["fraud_thresholds"]["outpatient_claims_per_day"], 4);
    assert_eq!(v2["fraud_thresholds"]["amount_outlier_days"], 90);

    // The latest by default, any earlier one by number; a county office may read.
    let (status, latest) = json_of(p.get(&p.county, POLICY).await).await;
    assert_eq!(status, 200, "{latest}");
    assert_eq!(latest, v2);
    let (status, v1) = json_of(p.get(&p.county, &format!("{POLICY}?version=1")).await).await;
    assert_eq!(status, 200, "{v1}");
    assert_eq!(v1, first);
    assert_problem(p.get(&p.admin, &format!("{POLICY}?version=3")).await, 404, "not_found").await;
    assert_problem(p.get(&p.admin, &format!("{POLICY}?version=two")).await, 400, "invalid_query").await;

    let (status, list) = json_of(p.get(&p.county, &format!("{POLICY}/versions")).await).await;
    assert_eq!(status, 200, "{list}");
    let numbers: Vec<(i64, &str)> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_i64().unwrap(), v["effective_from"].as_str().unwrap()))
        .collect();
    assert_eq!(numbers, [(1, "2027-01-01"), (2, "2027-07-01")]);
    assert_eq!(list["next_cursor"], Value::Null);
    let (_, page) = json_of(p.get(&p.county, &format!("{POLICY}/versions?limit=1")).await).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, rest) = json_of(p.get(&p.county, &format!("{POLICY}/versions?limit=1&cursor={cursor}")).await).await;
    assert_eq!(rest["items"][0]["version"], 2);
    assert_eq!(rest["next_cursor"], Value::Null);

    // A county office may not publish.
    assert_problem(p.put(&p.county, POLICY, &policy("2027-08-01")).await, 403, "role_not_allowed").await;

    // A new version may not take effect before the one it follows.
    let r = p.put(&p.admin, POLICY, &policy("2027-06-30")).await;
    let problem = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(field_errors(&problem), pairs(&[("effective_from", "effective_from_before_previous")]));

    // Counties and years with no policy, and paths that name none.
    for path in [
        "/api/v1/policies/210805/2027",
        "/api/v1/policies/210804/2026",
        "/api/v1/policies/210804/2031/versions",
        "/api/v1/policies/999999/2027",
        "/api/v1/policies/210804/1850",
        "/api/v1/policies/210804/next",
    ] {
        assert_problem(p.get(&p.admin, path).await, 404, "not_found").await;
    }

    // With an Idempotency-Key, a retried publication is answered again, not repeated.
    let send = || {
        p.app
            .http
            .put(p.url(POLICY))
            .bearer_auth(&p.admin)
            .header("Idempotency-Key", "policy-2027-v3")
            .json(&policy("2027-09-01"))
            .send()
    };
    let (status, v3) = json_of(send().await.unwrap()).await;
    assert_eq!((status, v3["version"].as_i64()), (201, Some(3)), "{v3}");
    let again = send().await.unwrap();
    assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    let (status, replay) = json_of(again).await;
    assert_eq!((status, &replay), (201, &v3));
    let (_, latest) = json_of(p.get(&p.admin, POLICY).await).await;
    assert_eq!(latest["version"], 3);
}

async fn bad_terms_are_refused_field_by_field_and_nothing_is_stored(backend: Backend) {
    let p = Province::new(backend).await;

    let mut ratio = policy("2027-01-01");
    ratio["levels"]["county"]["ratio"] = json!(12000);
    let mut negative = policy("2027-01-01");
    negative["outpatient"]["deductible_per_visit"] = json!(-100);
    let mut too_large = policy("2027-01-01");
    too_large["inpatient_annual_cap"] = json!(1_000_000_000_001_i64);
    let mut missing = policy("2027-01-01");
    missing["levels"].as_object_mut().unwrap().remove("municipal");
    let cases = [
        (ratio, vec![("levels.county.ratio", "ratio_out_of_range")]),
        (negative, vec![("outpatient.deductible_per_visit", "amount_negative")]),
        (too_large, vec![("inpatient_annual_cap", "amount_too_large")]),
        (missing, vec![("levels.municipal", "level_missing")]),
    ];
    for (body, want) in &cases {
        let problem = assert_problem(p.put(&p.admin, POLICY, body).await, 422, "validation_failed").await;
        assert_eq!(field_errors(&problem), pairs(want), "{problem}");
        for e in problem["errors"].as_array().unwrap() {
            assert!(!e["message"].as_str().unwrap().is_empty(), "{problem}");
            assert!(e.get("row").is_none(), "{problem}");
        }
    }

    // All of them at once, with a bad path and date: every problem in one answer.
    let mut all = policy("2027-13-01");
    all["levels"]["county"]["ratio"] = json!(12000);
    all["outpatient"]["deductible_per_visit"] = json!(-100);
    all["inpatient_annual_cap"] = json!(1_000_000_000_001_i64);
    all["levels"].as_object_mut().unwrap().remove("municipal");
    all["fraud_thresholds"] = json!({"amount_outlier_days": 0, "disabled_rules": ["duplicate_visit", "gut_feeling"]});
    let r = p.put(&p.admin, "/api/v1/policies/210800/2200", &all).await;
    let problem = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(
        field_errors(&problem),
        pairs(&[
            ("county", "county_code_invalid"),
            ("year", "year_out_of_range"),
            ("effective_from", "date_invalid"),
            ("levels.county.ratio", "ratio_out_of_range"),
            ("levels.municipal", "level_missing"),
            ("inpatient_annual_cap", "amount_too_large"),
            ("outpatient.deductible_per_visit", "amount_negative"),
            ("fraud_thresholds.amount_outlier_days", "threshold_out_of_range"),
            ("fraud_thresholds.disabled_rules.1", "rule_unknown"),
        ])
    );

    // Dates outside the year, and bodies that cannot be read at all.
    let problem = assert_problem(p.put(&p.admin, POLICY, &policy("2028-01-01")).await, 422, "validation_failed").await;
    assert_eq!(field_errors(&problem), pairs(&[("effective_from", "effective_from_outside_year")]));
    let mut unknown = policy("2027-01-01");
    unknown["copayment"] = json!(100);
    assert_problem(p.put(&p.admin, POLICY, &unknown).await, 400, "invalid_body").await;
    let r = p.app.http.put(p.url(POLICY)).bearer_auth(&p.admin).body("{").header("content-type", "application/json");
    assert_problem(r.send().await.unwrap(), 400, "malformed_json").await;

    // Nothing was stored.
    assert_problem(p.get(&p.admin, POLICY).await, 404, "not_found").await;
    assert_problem(p.get(&p.admin, &format!("{POLICY}/versions")).await, 404, "not_found").await;
    // And the first good one is version 1.
    let (status, v1) = json_of(p.put(&p.admin, POLICY, &policy("2026-12-01")).await).await;
    assert_eq!((status, v1["version"].as_i64()), (201, Some(1)), "{v1}");
}

async fn concurrent_publications_never_share_a_version(backend: Backend) {
    let p = Province::new(backend).await;
    let n = 8;
    let bodies: Vec<Value> = (0..n)
        .map(|i| {
            let mut body = policy("2027-01-01");
            body["premium_per_person"] = json!(38000 + i);
            body
        })
        .collect();
    let answers = futures_util::future::join_all(bodies.iter().map(|body| p.put(&p.admin, POLICY, body))).await;
    let mut versions = BTreeSet::new();
    let mut premiums = BTreeSet::new();
    for r in answers {
        let (status, body) = json_of(r).await;
        assert_eq!(status, 201, "{body}");
        versions.insert(body["version"].as_i64().unwrap());
        premiums.insert((body["version"].as_i64().unwrap(), body["premium_per_person"].as_i64().unwrap()));
    }
    assert_eq!(versions, (1..=n).collect::<BTreeSet<_>>());
    // Each version holds the terms of the request that got it.
    for (version, premium) in premiums {
        let (_, stored) = json_of(p.get(&p.county, &format!("{POLICY}?version={version}")).await).await;
        assert_eq!(stored["premium_per_person"], premium);
    }
}
