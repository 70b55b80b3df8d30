//! The whole correction loop through the gateway: the register is imported, a county
//! submits a batch with every kind of defect, verification sends every reason back,
//! the county corrects, and the corrected records are verified.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::collection::citizen_id;
use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(a_batch_with_every_defect_goes_round_the_correction_loop);

const BATCH_HEADER: &str = "姓名,性别,民族,身份证号,住址,新农合证号,联系电话,村";
const REGISTER_HEADER: &str = "id_number,name,sex,birth_date,ethnicity,address,household_number,status";

struct Person {
    name: &'static str,
    sex: &'static str,
    ethnicity: &'static str,
    id: String,
}

fn register_line(p: &Person, name: &str, status: &str) -> String {
    let birth = format!("{}-{}-{}", &p.id[6..10], &p.id[10..12], &p.id[12..14]);
    format!("{},{name},{},{birth},{},辽宁省营口市站前区前进村,H001,{status}", p.id, p.sex, p.ethnicity)
}

async fn wait_until_settled(http: &reqwest::Client, gateway: &str, token: &str, batch: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let r = http.get(format!("{gateway}/api/v1/batches/{batch}")).bearer_auth(token).send().await.unwrap();
        let (_, detail) = json_of(r).await;
        let waiting = detail["states"]
            .as_array()
            .unwrap()
            .iter()
            // A verified record goes on to be registered for its card.
            .filter(|s| s["state"] == "received" || s["state"] == "pending_verification" || s["state"] == "verified")
            .map(|s| s["count"].as_i64().unwrap())
            .sum::<i64>();
        if waiting == 0 {
            return detail;
        }
        assert!(Instant::now() < deadline, "verification never finished: {detail}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn a_batch_with_every_defect_goes_round_the_correction_loop(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (_, registry) = app.client(&admin, "registry_admin", &[]).await;
    let (_, county) = app.client(&admin, "county_office", &["210804"]).await;
    let gw = app.gateway().to_string();
    let person =
        |name, sex, ethnicity, birth: &str, seq| Person { name, sex, ethnicity, id: citizen_id("210804", birth, seq) };

    let clean = person("王小明", "1", "01", "19800101", 1);
    let full_width = person("李秀英", "2", "11", "19900202", 2);
    let lower_x = {
        let seq = (0..999).find(|s| citizen_id("210804", "19850505", *s).ends_with('X')).unwrap();
        person("朴成浩", if seq % 2 == 1 { "1" } else { "2" }, "10", "19850505", seq)
    };
    // A 15-digit number (YYMMDD, century 19): the register holds its 18-digit form.
    let old = person("赵强", "1", "01", "19560707", 7);
    let typo = person("孙丽", "2", "03", "19750808", 8);
    let traditional = person("张伟", "1", "01", "19700909", 9);
    let dead = person("周军", "1", "01", "19301010", 11);
    let moved = person("吴芳", "2", "01", "19821111", 12);
    let absent = person("郑浩", "1", "01", "19881212", 13);
    let wrong_sex_in_register = person("陈静", "2", "01", "19950115", 14);
    let bad_check = person("刘洋", "1", "01", "19660216", 15);

    // The register, imported by its owner.
    let register = [
        register_line(&clean, clean.name, "active"),
        register_line(&full_width, full_width.name, "active"),
        register_line(&lower_x, lower_x.name, "active"),
        register_line(&old, old.name, "active"),
        register_line(&typo, "孙莉", "active"),
        register_line(&traditional, "张伟", "active"),
        register_line(&dead, dead.name, "deceased"),
        register_line(&moved, moved.name, "migrated_out"),
        format!("{},陈静,1,1995-01-15,01,营口市,H009,active", wrong_sex_in_register.id),
        register_line(&bad_check, bad_check.name, "active"),
    ];
    let body = format!("{REGISTER_HEADER}\n{}\n", register.join("\n"));
    let r = app
        .http
        .post(format!("{gw}/api/v1/registry/imports?kind=snapshot"))
        .bearer_auth(&registry)
        .header("content-type", "text/csv")
        .body(body)
        .send()
        .await
        .unwrap();
    let (status, import) = json_of(r).await;
    assert_eq!((status, import["state"].as_str()), (202, Some("applied")), "{import}");

    // The county's batch, with every defect the field sees.
    let full_width_id: String = full_width.id.chars().map(|c| char::from_u32(c as u32 + 0xFEE0).unwrap_or(c)).collect();
    let fifteen = format!("{}{}", &old.id[..6], &old.id[8..17]);
    let mut bad_check_id = bad_check.id.clone();
    bad_check_id.replace_range(17.., if bad_check_id.ends_with('0') { "1" } else { "0" });
    let row = |p: &Person, name: &str, sex: &str, id: &str, ncms: &str| {
        format!("{name},{sex},{},{id},辽宁省营口市站前区前进村1号,{ncms},13812345678,前进村", p.ethnicity)
    };
    let rows = [
        row(&clean, clean.name, clean.sex, &clean.id, "N01"),
        row(&full_width, full_width.name, full_width.sex, &full_width_id, "N02"),
        row(&lower_x, lower_x.name, lower_x.sex, &lower_x.id.to_lowercase(), "N03"),
        row(&old, old.name, old.sex, &fifteen, "N04"),
        row(&typo, typo.name, typo.sex, &typo.id, "N05"),
        row(&traditional, "張偉", traditional.sex, &traditional.id, "N06"),
        row(&dead, dead.name, dead.sex, &dead.id, "N07"),
        row(&moved, moved.name, moved.sex, &moved.id, "N08"),
        row(&absent, absent.name, absent.sex, &absent.id, "N09"),
        row(
            &wrong_sex_in_register,
            wrong_sex_in_register.name,
            wrong_sex_in_register.sex,
            &wrong_sex_in_register.id,
            "N10",
        ),
        row(&bad_check, bad_check.name, bad_check.sex, &bad_check_id, "N11"),
        row(&clean, clean.name, clean.sex, &clean.id, "N12"),
    ];
    let r = app
        .http
        .post(format!("{gw}/api/v1/batches"))
        .bearer_auth(&county)
        .json(&json!({"county_code": "210804", "title": "2027 enrollment"}))
        .send()
        .await
        .unwrap();
    let batch = json_of(r).await.1["id"].as_str().unwrap().to_string();
    let part = format!("{BATCH_HEADER}\n{}\n", rows.join("\n"));
    let (gb, _, _) = encoding_rs::GB18030.encode(&part);
    let r = app
        .http
        .put(format!("{gw}/api/v1/batches/{batch}/parts/1"))
        .bearer_auth(&county)
        .header("content-type", "text/csv; charset=gb18030")
        .body(gb.to_vec())
        .send()
        .await
        .unwrap();
    let (status, report) = json_of(r).await;
    assert_eq!(
        (status, report["accepted"].as_i64(), report["rejected"].as_i64()),
        (200, Some(10), Some(2)),
        "{report}"
    );
    assert!(report["warnings"].as_array().unwrap().iter().any(|w| w["row"] == 4 && w["code"] == "id_upgraded_from_15"));
    let r = app.http.post(format!("{gw}/api/v1/batches/{batch}/submit")).bearer_auth(&county).send().await.unwrap();
    assert_eq!(r.status(), 202);
    let detail = wait_until_settled(&app.http, &gw, &county, &batch).await;

    // Every record has exactly the outcome and reasons it should.
    let r = app
        .http
        .get(format!("{gw}/api/v1/batches/{batch}/records?limit=1000"))
        .bearer_auth(&county)
        .send()
        .await
        .unwrap();
    let records = json_of(r).await.1["items"].as_array().unwrap().clone();
    let by_row = |row: i64| records.iter().find(|r| r["row"] == row).unwrap().clone();
    let codes = |r: &Value, key: &str| -> Vec<String> {
        r[key].as_array().unwrap().iter().map(|x| x["code"].as_str().unwrap().to_string()).collect()
    };
    for row in [1, 2, 3, 4, 6] {
        assert_eq!(by_row(row)["state"], "registered", "row {row}: {}", by_row(row));
    }
    assert_eq!(by_row(5)["state"], "rejected");
    assert_eq!(by_row(5)["reasons"], json!([{"code": "name_mismatch", "register_value": "孙*"}]));
    assert_eq!(codes(&by_row(7), "reasons"), ["deceased"]);
    assert_eq!(codes(&by_row(8), "reasons"), ["migrated_out"]);
    assert_eq!(codes(&by_row(9), "reasons"), ["not_in_register"]);
    assert_eq!(codes(&by_row(10), "reasons"), ["sex_mismatch"]);
    assert_eq!(
        (by_row(11)["state"].as_str(), codes(&by_row(11), "issues")),
        (Some("format_invalid"), vec!["id_bad_checksum".to_string()])
    );
    assert_eq!(codes(&by_row(12), "issues"), ["duplicate_in_batch"]);
    assert_eq!(detail["progress_percent"], 100.0, "{detail}");
    assert_counts_match(&detail, &records);
    assert!(!records.iter().any(|r| r.to_string().contains(&clean.id)), "a full ID in a list");

    // The register adds the missing person; the county corrects the typo, the bad
    // check character and re-sends the missing one: all three are verified.
    let delta = format!("{REGISTER_HEADER}\n{}\n", register_line(&absent, absent.name, "active"));
    let r = app
        .http
        .post(format!("{gw}/api/v1/registry/imports?kind=delta"))
        .bearer_auth(&registry)
        .header("content-type", "text/csv")
        .body(delta)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let fields = |p: &Person, name: &str, ncms: &str| json!({"name": name, "sex": p.sex, "ethnicity": p.ethnicity, "id_number": p.id, "address": "营口市前进村1号", "ncms_number": ncms, "village": "前进村"});
    for (row, body) in [
        (5, fields(&typo, "孙莉", "N05")),
        (9, fields(&absent, absent.name, "N09")),
        (11, fields(&bad_check, bad_check.name, "N11")),
    ] {
        let id = by_row(row)["id"].as_str().unwrap().to_string();
        let r =
            app.http.put(format!("{gw}/api/v1/records/{id}")).bearer_auth(&county).json(&body).send().await.unwrap();
        let (status, corrected) = json_of(r).await;
        assert_eq!(
            (status, corrected["state"].as_str()),
            (200, Some("pending_verification")),
            "row {row}: {corrected}"
        );
    }
    wait_until_settled(&app.http, &gw, &county, &batch).await;
    for row in [5, 9, 11] {
        let id = by_row(row)["id"].as_str().unwrap().to_string();
        let (_, record) =
            json_of(app.http.get(format!("{gw}/api/v1/records/{id}")).bearer_auth(&county).send().await.unwrap()).await;
        assert_eq!(
            (record["state"].as_str(), record["version"].as_i64()),
            (Some("registered"), Some(2)),
            "row {row}: {record}"
        );
        let first = &record["history"][0];
        assert!(first["state"] == "rejected" || first["state"] == "format_invalid", "{record}");
    }
    // The deceased stay rejected; a county cannot make them verified by resending.
    let id = by_row(7)["id"].as_str().unwrap().to_string();
    let r = app
        .http
        .put(format!("{gw}/api/v1/records/{id}"))
        .bearer_auth(&county)
        .json(&fields(&dead, dead.name, "N07"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    wait_until_settled(&app.http, &gw, &county, &batch).await;
    let (_, record) =
        json_of(app.http.get(format!("{gw}/api/v1/records/{id}")).bearer_auth(&county).send().await.unwrap()).await;
    assert_eq!(record["state"], "rejected");

    // After corrections, re-verification and registration, the batch's counts per
    // state are still those of its records.
    let (_, detail) =
        json_of(app.http.get(format!("{gw}/api/v1/batches/{batch}")).bearer_auth(&county).send().await.unwrap()).await;
    let r = app.http.get(format!("{gw}/api/v1/batches/{batch}/records?limit=1000")).bearer_auth(&county);
    let records = json_of(r.send().await.unwrap()).await.1["items"].as_array().unwrap().clone();
    assert_counts_match(&detail, &records);
}

/// The batch's counts per state are those of its listed records, and every state's
/// oldest record has an age.
fn assert_counts_match(detail: &Value, records: &[Value]) {
    let mut listed = std::collections::BTreeMap::<String, i64>::new();
    for r in records {
        *listed.entry(r["state"].as_str().unwrap().to_string()).or_default() += 1;
    }
    let states = detail["states"].as_array().unwrap();
    let counted: std::collections::BTreeMap<String, i64> =
        states.iter().map(|s| (s["state"].as_str().unwrap().to_string(), s["count"].as_i64().unwrap())).collect();
    assert_eq!(counted, listed, "{detail}");
    assert_eq!(detail["records"].as_i64(), Some(records.len() as i64), "{detail}");
    assert!(states.iter().all(|s| s["oldest_age_seconds"].as_i64().is_some_and(|a| (0..600).contains(&a))), "{detail}");
}
