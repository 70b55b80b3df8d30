//! County funds through the gateway: government subsidies are posted once per
//! reference and refused precisely when wrong, balances follow from the entries, the
//! ledger lists as pages and as CSV, other counties' funds do not exist for a county
//! office, the database refuses changes to posted rows, and `healthcard ledger check`
//! finds a change made after the refusal was taken away.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(subsidies_are_posted_once_and_the_fund_shows_them, the_ledger_is_append_only_and_checked);

const COUNTY: &str = "210804";
const OTHER: &str = "210803";

struct Funds {
    app: TestApp,
    admin: String,
}

impl Funds {
    async fn new(backend: Backend) -> Funds {
        let app = TestApp::spawn(backend).await;
        let admin = app.admin_token().await;
        Funds { app, admin }
    }

    async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        let r = self.app.http.get(format!("{}{path}", self.app.gateway())).bearer_auth(token).send().await.unwrap();
        json_of(r).await
    }

    async fn subsidy_response(&self, token: &str, county: &str, body: Value) -> reqwest::Response {
        self.app
            .http
            .post(format!("{}/api/v1/funds/{county}/subsidies", self.app.gateway()))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn subsidy(&self, county: &str, body: Value) -> (u16, Value) {
        json_of(self.subsidy_response(&self.admin, county, body).await).await
    }
}

fn field_codes(problem: &Value) -> Vec<(String, String)> {
    let mut codes: Vec<(String, String)> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["field"].as_str().unwrap().to_string(), e["code"].as_str().unwrap().to_string()))
        .collect();
    codes.sort();
    codes
}

async fn subsidies_are_posted_once_and_the_fund_shows_them(backend: Backend) {
    let f = Funds::new(backend).await;
    let first = json!({"year": 2026, "source": "central", "amount": 500000, "reference": "CZ-2026-001"});

    let (status, body) = f.subsidy(COUNTY, first.clone()).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["county_code"], COUNTY);
    assert_eq!(body["source"], "central");
    assert_eq!(body["amount"], 500000);
    let tx = &body["transaction"];
    assert_eq!(tx["seq"], 1);
    assert_eq!(tx["kind"], "subsidy_received");
    assert_eq!(tx["reference"], "CZ-2026-001");
    assert_eq!(tx["prev_hash"], "0".repeat(64));
    assert_eq!(tx["hash"].as_str().unwrap().len(), 64);
    assert_eq!(
        tx["lines"],
        json!([{"line": 1, "account": "fund_pool", "amount": 500000}, {"line": 2, "account": "subsidy_income", "amount": -500000}])
    );

    // The same request again is the same answer, not a second subsidy.
    let (status, again) = f.subsidy(COUNTY, first.clone()).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, body);

    // The same reference for anything else is refused.
    for changed in [
        json!({"year": 2026, "source": "central", "amount": 500001, "reference": "CZ-2026-001"}),
        json!({"year": 2026, "source": "provincial", "amount": 500000, "reference": "CZ-2026-001"}),
        json!({"year": 2027, "source": "central", "amount": 500000, "reference": "CZ-2026-001"}),
    ] {
        assert_problem(f.subsidy_response(&f.admin, COUNTY, changed).await, 409, "subsidy_reference_reused").await;
    }

    // Bad input: a precise code per field, nothing stored.
    let cases = [
        (
            json!({"year": 2026, "source": "central", "amount": 0, "reference": "R-0"}),
            vec![("amount", "amount_not_positive")],
        ),
        (
            json!({"year": 2026, "source": "central", "amount": -5, "reference": "R-1"}),
            vec![("amount", "amount_not_positive")],
        ),
        (
            json!({"year": 2026, "source": "central", "amount": 1_000_000_000_001i64, "reference": "R-2"}),
            vec![("amount", "amount_too_large")],
        ),
        (
            json!({"year": 2026, "source": "township", "amount": 100, "reference": "R-3"}),
            vec![("source", "source_unknown")],
        ),
        (
            json!({"year": 1999, "source": "lottery", "amount": -1, "reference": "  "}),
            vec![
                ("amount", "amount_not_positive"),
                ("reference", "reference_invalid"),
                ("source", "source_unknown"),
                ("year", "year_invalid"),
            ],
        ),
    ];
    for (bad, expected) in cases {
        let problem =
            assert_problem(f.subsidy_response(&f.admin, COUNTY, bad.clone()).await, 422, "validation_failed").await;
        let expected: Vec<(String, String)> = expected.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        assert_eq!(field_codes(&problem), expected, "{bad}");
    }
    let (status, problem) =
        f.subsidy("000000", json!({"year": 2026, "source": "central", "amount": 1, "reference": "R-4"})).await;
    assert_eq!((status, field_codes(&problem)), (422, vec![("county_code".into(), "county_code_invalid".into())]));
    let unknown_field = json!({"year": 2026, "source": "central", "amount": 1, "reference": "R-5", "note": "x"});
    assert_problem(f.subsidy_response(&f.admin, COUNTY, unknown_field).await, 400, "invalid_body").await;
    let (_, office) = f.app.client(&f.admin, "county_office", &[COUNTY]).await;
    assert_problem(f.subsidy_response(&office, COUNTY, first.clone()).await, 403, "role_not_allowed").await;

    // Two more subsidies, one in another year, one in another county.
    let (status, _) = f
        .subsidy(COUNTY, json!({"year": 2026, "source": "provincial", "amount": 250000, "reference": "LN-2026-7"}))
        .await;
    assert_eq!(status, 201);
    let (status, _) =
        f.subsidy(COUNTY, json!({"year": 2027, "source": "county", "amount": 1000, "reference": "=SUM(A1)"})).await;
    assert_eq!(status, 201);
    let (status, other) =
        f.subsidy(OTHER, json!({"year": 2026, "source": "municipal", "amount": 42, "reference": "CZ-2026-001"})).await;
    assert_eq!(status, 201, "the same reference in another county is another subsidy");
    assert_eq!(other["transaction"]["seq"], 1, "each county has its own chain");

    // Balances per year and account, derived from the entries; nothing from the
    // refused requests.
    let zero = json!({"fund_pool": 0, "premium_income": 0, "subsidy_income": 0, "bank_clearing": 0,
                      "reimbursement_payable": 0, "paid_out": 0, "recoveries_receivable": 0});
    let with = |pool: i64| {
        let mut b = zero.clone();
        b["fund_pool"] = json!(pool);
        b["subsidy_income"] = json!(-pool);
        b
    };
    let (status, fund) = f.get(&f.admin, &format!("/api/v1/funds/{COUNTY}")).await;
    assert_eq!(status, 200, "{fund}");
    assert_eq!(
        fund,
        json!({"county_code": COUNTY, "years": [{"year": 2026, "balances": with(750000)}, {"year": 2027, "balances": with(1000)}]})
    );
    let (_, fund) = f.get(&f.admin, &format!("/api/v1/funds/{COUNTY}?year=2027")).await;
    assert_eq!(fund["years"], json!([{"year": 2027, "balances": with(1000)}]));
    let (_, fund) = f.get(&f.admin, &format!("/api/v1/funds/{OTHER}")).await;
    assert_eq!(fund["years"], json!([{"year": 2026, "balances": with(42)}]));
    let (status, fund) = f.get(&f.admin, "/api/v1/funds/210802").await;
    assert_eq!((status, fund["years"].clone()), (200, json!([])), "a county without movements has an empty fund");

    // The ledger, a page at a time.
    let mut seqs = Vec::new();
    let mut path = format!("/api/v1/funds/{COUNTY}/ledger?limit=2");
    loop {
        let (status, page) = f.get(&f.admin, &path).await;
        assert_eq!(status, 200, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 2);
        seqs.extend(items.iter().map(|t| t["seq"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/api/v1/funds/{COUNTY}/ledger?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(seqs, vec![1, 2, 3]);
    let (_, page) = f.get(&f.admin, &format!("/api/v1/funds/{COUNTY}/ledger")).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items[0], body["transaction"]);
    assert_eq!(items[1]["prev_hash"], items[0]["hash"], "each transaction carries the previous one's hash");
    assert_eq!(items[2]["prev_hash"], items[1]["hash"]);
    let (_, page) = f.get(&f.admin, &format!("/api/v1/funds/{COUNTY}/ledger?year=2027")).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);
    assert_eq!(page["items"][0]["seq"], 3);
    let (status, page) = f.get(&f.admin, &format!("/api/v1/funds/{COUNTY}/ledger?cursor=bm9wZQ")).await;
    assert_eq!((status, page["code"].clone()), (400, json!("invalid_cursor")));

    // The ledger as CSV: one line per entry.
    let r = f
        .app
        .http
        .get(format!("{}/api/v1/funds/{COUNTY}/ledger", f.app.gateway()))
        .bearer_auth(&f.admin)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let text = r.text().await.unwrap();
    let text = text.strip_prefix('\u{feff}').expect("a byte order mark");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "seq,transaction_id,created_at,year,kind,reference,line,account,amount,prev_hash,hash");
    assert_eq!(lines.len(), 7, "{text}");
    let first_tx = body["transaction"]["id"].as_str().unwrap();
    let cells: Vec<&str> = lines[2].split(',').collect();
    assert_eq!(
        (cells[0], cells[1], cells[3], cells[4], cells[5], cells[6], cells[7], cells[8]),
        ("1", first_tx, "2026", "subsidy_received", "CZ-2026-001", "2", "subsidy_income", "-500000")
    );
    assert_eq!(cells[10], body["transaction"]["hash"]);
    assert!(lines[5].contains(",'=SUM(A1),"), "a formula-like reference is neutralised: {}", lines[5]);

    // Who may read: the province's roles and the county's own office; another
    // county's office finds nothing there, and other roles may not ask.
    let (_, auditor) = f.app.client(&f.admin, "auditor", &[]).await;
    let (_, other_office) = f.app.client(&f.admin, "county_office", &[OTHER]).await;
    let (_, clinic) = f.app.client(&f.admin, "clinic", &["H001"]).await;
    for path in [format!("/api/v1/funds/{COUNTY}"), format!("/api/v1/funds/{COUNTY}/ledger")] {
        assert_eq!(f.get(&auditor, &path).await.0, 200);
        assert_eq!(f.get(&office, &path).await.0, 200);
        let (status, problem) = f.get(&other_office, &path).await;
        assert_eq!((status, problem["code"].clone()), (404, json!("not_found")), "{path}");
        let (status, problem) = f.get(&clinic, &path).await;
        assert_eq!((status, problem["code"].clone()), (403, json!("role_not_allowed")), "{path}");
    }
    assert_eq!(f.get(&other_office, &format!("/api/v1/funds/{OTHER}")).await.0, 200);
    assert_eq!(f.get(&f.admin, "/api/v1/funds/not-a-county").await.0, 404);
}

async fn the_ledger_is_append_only_and_checked(backend: Backend) {
    let f = Funds::new(backend).await;
    for (i, amount) in [300000, 120000].into_iter().enumerate() {
        let body = json!({"year": 2026, "source": "central", "amount": amount, "reference": format!("CZ-{i}")});
        assert_eq!(f.subsidy(COUNTY, body).await.0, 201);
    }
    let body = json!({"year": 2026, "source": "county", "amount": 7, "reference": "X-1"});
    assert_eq!(f.subsidy(OTHER, body).await.0, 201);

    // Concurrent posters of one county, each reference sent twice at once: each is
    // posted once, and the chain stays contiguous (the check below walks it).
    let posts = (0..8).map(|i| {
        f.subsidy(
            COUNTY,
            json!({"year": 2026, "source": "provincial", "amount": 100 + i / 2, "reference": format!("P-{}", i / 2)}),
        )
    });
    let mut statuses: Vec<u16> = futures_util::future::join_all(posts).await.into_iter().map(|(s, _)| s).collect();
    statuses.sort();
    assert_eq!(statuses, vec![200, 200, 200, 200, 201, 201, 201, 201]);

    let check = |args: &[&str]| {
        let out = tokio::task::block_in_place(|| f.app.env.cli(args));
        (out.status.code(), String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr))
    };
    let (code, text) = check(&["ledger", "check"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("2 counties, 7 transactions (0 not yet chained), 14 entries, 4 balances checked"), "{text}");
    assert!(text.contains("ledger check: ok"), "{text}");
    let (code, text) = check(&["ledger", "check", "--county", COUNTY]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("1 counties, 6 transactions (0 not yet chained), 12 entries, 2 balances checked"), "{text}");

    // The database refuses every change to posted rows, whoever asks.
    let mut db = Direct::open(&f.app.env, "settlement");
    for sql in [
        "UPDATE ledger_entries SET amount = amount + 1",
        "DELETE FROM ledger_entries",
        "UPDATE ledger_transactions SET reference = 'changed'",
        "UPDATE ledger_transactions SET seq = seq + 100, hash = 'x', prev_hash = 'y'",
        "DELETE FROM ledger_transactions",
    ] {
        let refused = db.run(sql).expect_err(sql);
        assert!(refused.contains("append-only"), "{sql}: {refused}");
    }
    if backend == Backend::Postgres {
        let refused = db.run("TRUNCATE ledger_entries").expect_err("truncate");
        assert!(refused.contains("append-only"), "{refused}");
    }
    let (code, text) = check(&["ledger", "check"]);
    assert_eq!(code, Some(0), "nothing changed: {text}");

    // Around the refusal: the check finds the changed entry.
    let drop_trigger = match backend {
        Backend::Postgres => "DROP TRIGGER ledger_entries_append_only ON ledger_entries",
        Backend::Sqlite => "DROP TRIGGER ledger_entries_no_update",
    };
    db.run(drop_trigger).unwrap();
    db.run(&format!(
        "UPDATE ledger_entries SET amount = 310000 WHERE county_code = '{COUNTY}' AND account = 'fund_pool' AND amount = 300000"
    ))
    .unwrap();
    let (code, text) = check(&["ledger", "check"]);
    assert_eq!(code, Some(1), "{text}");
    assert!(text.contains(&format!("violation: county {COUNTY} seq 1: unbalanced")), "{text}");
    assert!(text.contains(&format!("violation: county {COUNTY} seq 1: hash_mismatch")), "{text}");
    assert!(text.contains(&format!("violation: county {COUNTY}: year_unbalanced")), "{text}");
    assert!(!text.contains(&format!("county {OTHER}")), "the other county is intact: {text}");
    let (code, text) = check(&["ledger", "check", "--county", OTHER]);
    assert_eq!(code, Some(0), "{text}");
}
