//! Collection through the gateway: parts in every format, row errors, atomic part
//! replacement, submission, outcomes, the correction list and corrections.

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    parts_are_checked_row_by_row_and_replaced_atomically,
    bad_parts_get_precise_answers,
    submitted_records_go_to_verification_and_outcomes_come_back,
    a_record_corrected_before_submission_gets_its_outcome,
    workbooks_are_read_and_written,
    duplicates_are_caught_across_the_chunks_of_one_part,
    concurrent_corrections_of_one_record_keep_exactly_one,
);

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

fn workbook(rows: &[Vec<&str>]) -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (r, row) in rows.iter().enumerate() {
        for (c, cell) in row.iter().enumerate() {
            // Phone numbers typed as numbers, as offices do.
            if let Ok(n) = cell.parse::<f64>()
                && cell.len() == 11
            {
                sheet.write_number(r as u32, c as u16, n).unwrap();
            } else {
                sheet.write_string(r as u32, c as u16, *cell).unwrap();
            }
        }
    }
    book.save_to_buffer().unwrap()
}

async fn workbooks_are_read_and_written(backend: Backend) {
    let c = county(backend).await;
    let batch = c.open_batch().await;
    let ids = [citizen_id("210804", "19800101", 1), citizen_id("210804", "19900202", 2)];
    let header: Vec<&str> = HEADER.split(',').collect();
    let book = workbook(&[
        header,
        vec!["王小明", "男", "汉族", &ids[0], "营口市前进村1号", "N1", "13812345678", "前进村"],
        vec![],
        vec!["李秀英", "男", "满族", &ids[1], "营口市前进村2号", "N2", "", "前进村"],
    ]);
    let (status, report) = json_of(c.put_part(&batch, 1, XLSX, book).await).await;
    assert_eq!((status, report["received"].as_i64(), report["accepted"].as_i64()), (200, Some(2), Some(1)), "{report}");
    assert_eq!(report["errors"][0]["code"], "sex_id_mismatch");
    assert_eq!(report["errors"][0]["row"], 2);

    // Not a workbook, and a zip bomb: refused before anything is unpacked.
    assert_problem(c.put_part(&batch, 2, XLSX, b"PK\x03\x04 not really".to_vec()).await, 422, "not_a_spreadsheet")
        .await;
    let bomb = {
        use std::io::Write;
        let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(1))
            .large_file(true);
        zip.start_file("xl/sharedStrings.xml", options).unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..1100 {
            zip.write_all(&zeros).unwrap();
        }
        zip.finish().unwrap().into_inner()
    };
    assert!(bomb.len() < 16 << 20, "the bomb is small: {} bytes", bomb.len());
    assert_problem(c.put_part(&batch, 2, XLSX, bomb).await, 422, "spreadsheet_too_large").await;
    assert_eq!(c.batch(&batch).await["records"], 2);

    // The correction list as a workbook.
    let r = c
        .app
        .http
        .get(format!("{}/api/v1/batches/{batch}/records?state=format_invalid", c.app.gateway()))
        .bearer_auth(&c.token)
        .header("accept", XLSX)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], XLSX);
    let bytes = r.bytes().await.unwrap().to_vec();
    let mut book: calamine::Xlsx<_> = calamine::open_workbook_from_rs(std::io::Cursor::new(bytes)).unwrap();
    use calamine::Reader;
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let cells: Vec<Vec<String>> = sheet.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert_eq!(cells[0][0], "记录号");
    assert_eq!(cells.len(), 2, "{cells:?}");
    assert_eq!(cells[1][4], "李*英");
    assert_eq!(cells[1][8], "sex_id_mismatch");
}

/// A valid citizen ID of 2108 region with the given birth date and sequence.
pub fn citizen_id(region: &str, birth: &str, seq: u32) -> String {
    let body = format!("{region}{birth}{seq:03}");
    let check = healthcard::domain::citizen_id::check_character(&body).unwrap();
    format!("{body}{check}")
}

const HEADER: &str = "姓名,性别,民族,身份证号,住址,新农合证号,联系电话,村";

fn csv_row(name: &str, sex: &str, ethnicity: &str, id: &str, ncms: &str, village: &str) -> String {
    format!("{name},{sex},{ethnicity},{id},辽宁省营口市站前区{village}1号,{ncms},13812345678,{village}")
}

struct County {
    app: TestApp,
    token: String,
}

async fn county(backend: Backend) -> County {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (_, token) = app.client(&admin, "county_office", &["210804"]).await;
    County { app, token }
}

impl County {
    async fn open_batch(&self) -> String {
        let r = self
            .app
            .http
            .post(format!("{}/api/v1/batches", self.app.gateway()))
            .bearer_auth(&self.token)
            .json(&json!({"county_code": "210804", "title": "2027"}))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(r).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_string()
    }

    async fn put_part(&self, batch: &str, n: i32, content_type: &str, body: Vec<u8>) -> reqwest::Response {
        self.app
            .http
            .put(format!("{}/api/v1/batches/{batch}/parts/{n}", self.app.gateway()))
            .bearer_auth(&self.token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn batch(&self, batch: &str) -> Value {
        let r = self.app.http.get(format!("{}/api/v1/batches/{batch}", self.app.gateway())).bearer_auth(&self.token);
        let (status, body) = json_of(r.send().await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Delivers `message` to collection as another service would, with a service token.
    async fn deliver(&self, message: &Value) -> reqwest::StatusCode {
        let url = format!("{}/internal/v1/messages", self.app.service("collection"));
        let service = self.app.service_token().await;
        self.app.http.post(url).bearer_auth(&service).json(message).send().await.unwrap().status()
    }

    async fn records(&self, batch: &str, query: &str) -> Vec<Value> {
        let url = format!("{}/api/v1/batches/{batch}/records?limit=1000&{query}", self.app.gateway());
        let (status, body) = json_of(self.app.http.get(url).bearer_auth(&self.token).send().await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        body["items"].as_array().unwrap().clone()
    }
}

fn count(batch: &Value, state: &str) -> i64 {
    batch["states"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["state"] == state)
        .map(|s| s["count"].as_i64().unwrap())
        .unwrap_or(0)
}

async fn parts_are_checked_row_by_row_and_replaced_atomically(backend: Backend) {
    let c = county(backend).await;
    let batch = c.open_batch().await;
    let good1 = citizen_id("210804", "19800101", 1);
    let good2 = citizen_id("210804", "19900202", 2);
    let mut bad_check = citizen_id("210804", "19700303", 3);
    bad_check.replace_range(17.., if bad_check.ends_with('0') { "1" } else { "0" });
    let lower_x = {
        // A sequence whose check character is X, sent in lower case.
        (0..1000).map(|s| citizen_id("210804", "19850505", s)).find(|id| id.ends_with('X')).unwrap().to_lowercase()
    };
    let full_width: String = citizen_id("210804", "19600606", 5)
        .chars()
        .map(|ch| char::from_u32(ch as u32 + 0xFEE0).unwrap_or(ch))
        .collect();
    let lines = [
        HEADER.to_string(),
        csv_row("王小明", "男", "汉族", &good1, "N0001", "前进村"),
        csv_row("李秀英", "2", "满族", &good2, "N0002", "前进村"),
        csv_row("赵强", "1", "01", &bad_check, "N0003", "红旗村"),
        csv_row("孙丽", "女", "回族", &citizen_id("210804", "19750707", 7), "N0004", "红旗村"),
        csv_row("王小明", "男", "汉族", &good1, "N0005", "前进村"),
        "刘洋,男".to_string(),
        csv_row("朴成浩", "1", "朝鲜族", &lower_x, "N0006", "红旗村"),
        csv_row("周伟", "1", "汉", &full_width, "N0007", "红旗村"),
        csv_row("吴·芳", "1", "火星族", &citizen_id("210804", "19800808", 9), "N0009", "前进村"),
        csv_row("郑浩", "1", "汉族", &citizen_id("210804", "19810909", 11), "N0002", "前进村"),
    ];
    let text = lines.join("\n") + "\n";
    let (gb, _, _) = encoding_rs::GB18030.encode(&text);

    // A dry run checks everything and stores nothing.
    let r = c.put_part(&batch, 1, "text/csv", gb.to_vec()).await;
    let (status, dry) = json_of(
        c.app
            .http
            .put(format!("{}/api/v1/batches/{batch}/parts/1?dry_run=true", c.app.gateway()))
            .bearer_auth(&c.token)
            .header("content-type", "text/csv; charset=gb18030")
            .body(gb.to_vec())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{dry}");
    assert_eq!(dry["dry_run"], true);
    let (status, report) = json_of(r).await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(
        (report["received"].as_i64(), report["accepted"].as_i64(), report["rejected"].as_i64()),
        (Some(10), Some(4), Some(6)),
        "{report}"
    );
    let codes: Vec<(i64, String, String)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_i64().unwrap(),
                e["field"].as_str().unwrap().to_string(),
                e["code"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expect = |row: i64, field: &str, code: &str| {
        assert!(
            codes.contains(&(row, field.to_string(), code.to_string())),
            "row {row} {field} {code} missing in {codes:?}"
        )
    };
    expect(3, "id_number", "id_bad_checksum");
    expect(4, "sex", "sex_id_mismatch");
    expect(5, "id_number", "duplicate_in_batch");
    expect(6, "", "row_malformed");
    expect(9, "ethnicity", "ethnicity_unknown");
    expect(10, "ncms_number", "ncms_number_duplicate");
    assert_eq!(dry["received"], report["received"]);
    assert_eq!(dry["errors"], report["errors"]);
    let detail = c.batch(&batch).await;
    assert_eq!(
        (detail["records"].as_i64(), count(&detail, "received"), count(&detail, "format_invalid")),
        (Some(9), 4, 5)
    );
    // Personal data is masked in lists.
    let listed = c.records(&batch, "state=received").await;
    assert!(listed.iter().any(|r| r["name"] == "王*明"));
    assert!(listed.iter().all(|r| r["id_number"].as_str().unwrap().contains("********")));
    assert!(!listed.iter().any(|r| r.to_string().contains(&good1)));

    // A broken re-upload of part 1 leaves part 1 as it was.
    let broken = format!(
        "{HEADER}\n{}\n王五,男,汉族,\"{good2},x,N9,,前进村\n",
        csv_row("王小明", "男", "汉族", &good1, "N0001", "前进村")
    );
    assert_problem(c.put_part(&batch, 1, "text/csv", broken.into_bytes()).await, 422, "csv_unclosed_quote").await;
    assert_eq!(c.batch(&batch).await["records"], 9);

    // Part 2 as NDJSON: a citizen of part 1 is a duplicate in the batch.
    let ndjson = [
        json!({"name": "陈静", "sex": "2", "ethnicity": "汉族", "id_number": citizen_id("210804", "19950909", 10), "address": "营口市前进村2号", "ncms_number": "N0101", "village": "前进村"}),
        json!({"name": "李秀英", "sex": "2", "ethnicity": "满族", "id_number": good2, "address": "营口市前进村3号", "ncms_number": "N0102", "village": "前进村"}),
    ]
    .iter()
    .map(|v| v.to_string())
    .collect::<Vec<_>>()
    .join("\n");
    let (status, report) = json_of(c.put_part(&batch, 2, "application/x-ndjson", ndjson.into_bytes()).await).await;
    assert_eq!((status, report["accepted"].as_i64()), (200, Some(1)), "{report}");
    assert_eq!(report["errors"][0]["code"], "duplicate_in_batch");
    // Re-sending part 1 (as a JSON array now) replaces it.
    let array = json!([{"name": "王小明", "sex": "1", "ethnicity": "汉族", "id_number": good1, "address": "营口市前进村1号", "ncms_number": "N0001", "village": "前进村"}]);
    let (status, report) =
        json_of(c.put_part(&batch, 1, "application/json", array.to_string().into_bytes()).await).await;
    assert_eq!((status, report["accepted"].as_i64()), (200, Some(1)), "{report}");
    let detail = c.batch(&batch).await;
    assert_eq!((detail["parts"].as_i64(), detail["records"].as_i64()), (Some(2), Some(3)), "{detail}");

    // The same citizen in another batch of the province is caught, with where.
    let other = c.open_batch().await;
    let one = format!("{HEADER}\n{}\n", csv_row("王小明", "男", "汉族", &good1, "N7001", "前进村"));
    let (_, report) = json_of(c.put_part(&other, 1, "text/csv", one.into_bytes()).await).await;
    assert_eq!(report["errors"][0]["code"], "duplicate_in_open_batch", "{report}");
    assert!(report["errors"][0]["message"].as_str().unwrap().contains(&batch));
}

async fn bad_parts_get_precise_answers(backend: Backend) {
    let c = county(backend).await;
    let batch = c.open_batch().await;
    let good = format!(
        "{HEADER}\n{}\n",
        csv_row("王小明", "男", "汉族", &citizen_id("210804", "19800101", 1), "N1", "前进村")
    );
    assert_problem(c.put_part(&batch, 1, "text/csv", Vec::new()).await, 422, "empty_part").await;
    assert_problem(c.put_part(&batch, 1, "text/plain", good.clone().into_bytes()).await, 415, "unsupported_media_type")
        .await;
    assert_problem(
        c.put_part(&batch, 1, "text/csv; charset=latin1", good.clone().into_bytes()).await,
        415,
        "unsupported_media_type",
    )
    .await;
    let body =
        assert_problem(c.put_part(&batch, 1, "text/csv", b"name,sex\nx,1\n".to_vec()).await, 422, "validation_failed")
            .await;
    assert!(
        body["errors"].as_array().unwrap().iter().any(|e| e["field"] == "id_number" && e["code"] == "column_missing")
    );
    let wide = (0..10_000).map(|i| format!("c{i}")).collect::<Vec<_>>().join(",") + "\n";
    assert_problem(c.put_part(&batch, 1, "text/csv", wide.into_bytes()).await, 422, "too_many_columns").await;
    let mut garbage = format!("{HEADER}\n").into_bytes();
    garbage.extend_from_slice(b"\xff\xfe\xfd,\x80\x80\n");
    assert_problem(c.put_part(&batch, 1, "text/csv; charset=utf-8", garbage.clone()).await, 422, "invalid_encoding")
        .await;
    assert_problem(c.put_part(&batch, 1, "text/csv", garbage).await, 422, "invalid_encoding").await;
    assert_problem(c.put_part(&batch, 1, "application/json", b"{\"name\":".to_vec()).await, 422, "malformed_part")
        .await;
    assert_problem(c.put_part(&batch, 0, "text/csv", good.clone().into_bytes()).await, 422, "invalid_part_number")
        .await;
    // Nothing of all that was kept.
    assert_eq!(c.batch(&batch).await["records"], 0);

    // Submitting: not while empty, once only; parts of a submitted batch are refused.
    let submit = |b: &str| {
        c.app.http.post(format!("{}/api/v1/batches/{b}/submit", c.app.gateway())).bearer_auth(&c.token).send()
    };
    assert_problem(submit(&batch).await.unwrap(), 409, "batch_empty").await;
    assert_eq!(json_of(c.put_part(&batch, 1, "text/csv", good.clone().into_bytes()).await).await.0, 200);
    assert_eq!(submit(&batch).await.unwrap().status(), 202);
    assert_problem(submit(&batch).await.unwrap(), 409, "batch_already_submitted").await;
    assert_problem(c.put_part(&batch, 2, "text/csv", good.clone().into_bytes()).await, 409, "batch_not_open").await;

    // Another county's batch does not exist for this office.
    let admin = c.app.admin_token().await;
    let (_, dalian) = c.app.client(&admin, "county_office", &["210211"]).await;
    let r = c
        .app
        .http
        .put(format!("{}/api/v1/batches/{batch}/parts/3", c.app.gateway()))
        .bearer_auth(&dalian)
        .header("content-type", "text/csv")
        .body(good.clone())
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "not_found").await;
    let r = c
        .app
        .http
        .get(format!("{}/api/v1/batches/{batch}/records", c.app.gateway()))
        .bearer_auth(&dalian)
        .send()
        .await
        .unwrap();
    assert_problem(r, 404, "not_found").await;
    let r = c
        .app
        .http
        .get(format!("{}/api/v1/batches/{batch}/records?state=nonsense", c.app.gateway()))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "invalid_state").await;
}

async fn submitted_records_go_to_verification_and_outcomes_come_back(backend: Backend) {
    let c = county(backend).await;
    let batch = c.open_batch().await;
    let ids = [citizen_id("210804", "19800101", 1), citizen_id("210804", "19900202", 2)];
    let text = format!(
        "{HEADER}\n{}\n{}\n",
        csv_row("王小明", "男", "汉族", &ids[0], "N1", "前进村"),
        csv_row("李秀英", "女", "满族", &ids[1], "N2", "=HYPERLINK(\"x\")")
    );
    assert_eq!(json_of(c.put_part(&batch, 1, "text/csv", text.into_bytes()).await).await.0, 200);
    let r = c
        .app
        .http
        .post(format!("{}/api/v1/batches/{batch}/submit", c.app.gateway()))
        .bearer_auth(&c.token)
        .send()
        .await
        .unwrap();
    let (status, submitted) = json_of(r).await;
    assert_eq!((status, submitted["state"].as_str()), (202, Some("submitted")));
    // The feeder sends them to verification.
    let probe = || async { count(&c.batch(&batch).await, "pending_verification") == 2 };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !probe().await {
        assert!(std::time::Instant::now() < deadline, "records never left for verification");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let records = c.records(&batch, "").await;
    let record = |i: usize| records.iter().find(|r| r["row"] == (i as i64 + 1)).unwrap().clone();
    let (first, second) = (record(0), record(1));
    // Submitted, every record waits for verification, as listed, filtered and read one by one.
    assert!(records.iter().all(|r| r["state"] == "pending_verification"), "{records:?}");
    assert_eq!(c.records(&batch, "state=pending_verification").await.len(), 2);
    assert!(c.records(&batch, "state=received").await.is_empty());
    let url = format!("{}/api/v1/records/{}", c.app.gateway(), first["id"].as_str().unwrap());
    let (status, one) = json_of(c.app.http.get(url).bearer_auth(&c.token).send().await.unwrap()).await;
    assert_eq!((status, one["state"].as_str()), (200, Some("pending_verification")), "{one}");

    // Verification answers (here sent as it would be, with a service token).
    let outcome = json!({
        "id": uuid::Uuid::now_v7(), "source": "verification", "kind": "verification_completed",
        "created_at": "2026-11-22T08:00:00Z",
        "payload": {"batch_id": batch, "results": [
            {"record_id": first["id"], "version": 1, "outcome": "verified", "reasons": []},
            {"record_id": second["id"], "version": 1, "outcome": "rejected",
             "reasons": [{"code": "name_mismatch", "register_value": "李*华"}, {"code": "deceased"}]}
        ]}
    });
    assert_eq!(c.deliver(&outcome).await, 200);
    let detail = c.batch(&batch).await;
    // The verified one goes on to card making and comes back registered, at its pace.
    let verified = count(&detail, "verified") + count(&detail, "registered");
    assert_eq!((verified, count(&detail, "rejected")), (1, 1), "{detail}");
    assert_eq!(detail["progress_percent"], 100.0);
    let rejected = c.records(&batch, "state=rejected").await;
    assert_eq!(rejected.len(), 1);
    assert_eq!(rejected[0]["reasons"][0], json!({"code": "name_mismatch", "register_value": "李*华"}));
    assert!(c.records(&batch, "village=前进村&state=rejected").await.is_empty());

    // The correction list for the village, as CSV: neutralised formula, masked data.
    let r = c
        .app
        .http
        .get(format!("{}/api/v1/batches/{batch}/records?state=rejected", c.app.gateway()))
        .bearer_auth(&c.token)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let csv = r.text().await.unwrap();
    assert!(csv.starts_with('\u{feff}'));
    assert!(csv.contains("'=HYPERLINK"), "{csv}");
    assert!(csv.contains("name_mismatch") && csv.contains("李*华") && csv.contains("deceased"));
    assert!(!csv.contains(&ids[1]), "the full ID is in the export");

    // A verified record cannot be corrected; the rejected one can, and keeps its history.
    let url = |r: &Value| format!("{}/api/v1/records/{}", c.app.gateway(), r["id"].as_str().unwrap());
    let fixed = json!({"name": "李秀华", "sex": "2", "ethnicity": "满族", "id_number": ids[1], "address": "营口市前进村3号", "ncms_number": "N2", "village": "前进村"});
    assert_problem(
        c.app.http.put(url(&first)).bearer_auth(&c.token).json(&fixed).send().await.unwrap(),
        409,
        "record_not_correctable",
    )
    .await;
    let (status, corrected) =
        json_of(c.app.http.put(url(&second)).bearer_auth(&c.token).json(&fixed).send().await.unwrap()).await;
    assert_eq!(
        (status, corrected["state"].as_str(), corrected["version"].as_i64()),
        (200, Some("pending_verification"), Some(2)),
        "{corrected}"
    );
    let (_, history) = json_of(c.app.http.get(url(&second)).bearer_auth(&c.token).send().await.unwrap()).await;
    assert_eq!(history["version"], 2);
    assert_eq!(history["history"][0]["version"], 1);
    assert_eq!(history["history"][0]["state"], "rejected");
    assert_eq!(history["history"][0]["reasons"][0]["code"], "name_mismatch");
    // A late outcome for version 1 changes nothing.
    let mut late = outcome.clone();
    late["id"] = json!(uuid::Uuid::now_v7());
    assert_eq!(c.deliver(&late).await, 200);
    let (_, now) = json_of(c.app.http.get(url(&second)).bearer_auth(&c.token).send().await.unwrap()).await;
    assert_eq!(now["state"], "pending_verification");
    // A correction that is still wrong stays with the county.
    let mut still_wrong = fixed.clone();
    still_wrong["sex"] = json!("9");
    let r = c.app.http.put(url(&second)).bearer_auth(&c.token).json(&still_wrong).send().await.unwrap();
    assert_problem(r, 409, "record_not_correctable").await;
    let r = c.app.http.put(url(&first)).bearer_auth(&c.token).json(&json!({"colour": "red"})).send().await.unwrap();
    assert_problem(r, 422, "validation_failed").await;
}

/// A record corrected while its batch is still open goes to verification at once; its
/// outcome applies although the batch has not been submitted.
async fn a_record_corrected_before_submission_gets_its_outcome(backend: Backend) {
    let c = county(backend).await;
    let batch = c.open_batch().await;
    let id = citizen_id("210804", "19800101", 1);
    let text = format!("{HEADER}\n{}\n", csv_row("王小明", "女", "汉族", &id, "N1", "前进村"));
    let (status, report) = json_of(c.put_part(&batch, 1, "text/csv", text.into_bytes()).await).await;
    assert_eq!((status, report["accepted"].as_i64()), (200, Some(0)), "{report}");
    let record = c.records(&batch, "state=format_invalid").await[0].clone();
    let url = format!("{}/api/v1/records/{}", c.app.gateway(), record["id"].as_str().unwrap());
    let fixed = json!({"name": "王小明", "sex": "男", "ethnicity": "汉族", "id_number": id, "address": "营口市前进村1号", "ncms_number": "N1", "village": "前进村"});
    let (status, corrected) =
        json_of(c.app.http.put(&url).bearer_auth(&c.token).json(&fixed).send().await.unwrap()).await;
    assert_eq!((status, corrected["state"].as_str()), (200, Some("pending_verification")), "{corrected}");

    let outcome = json!({
        "id": uuid::Uuid::now_v7(), "source": "verification", "kind": "verification_completed",
        "created_at": "2026-11-22T08:00:00Z",
        "payload": {"batch_id": batch, "results": [
            {"record_id": record["id"], "version": 2, "outcome": "rejected", "reasons": [{"code": "deceased"}]}
        ]}
    });
    assert_eq!(c.deliver(&outcome).await, 200);
    let (_, now) = json_of(c.app.http.get(&url).bearer_auth(&c.token).send().await.unwrap()).await;
    assert_eq!(
        (now["state"].as_str(), now["reasons"][0]["code"].as_str()),
        (Some("rejected"), Some("deceased")),
        "{now}"
    );
    let detail = c.batch(&batch).await;
    assert_eq!((count(&detail, "rejected"), count(&detail, "pending_verification")), (1, 0), "{detail}");
}

/// A part longer than the writer's chunk (5,000 rows): a duplicate of a row stored with
/// an earlier chunk is caught all the same, and re-sending the part replaces the rows
/// the first upload stored without counting them as holders.
async fn duplicates_are_caught_across_the_chunks_of_one_part(backend: Backend) {
    let c = county(backend).await;
    let batch = c.open_batch().await;
    let distinct = 5_001u32;
    let citizen = |i: u32| {
        let birth = chrono::NaiveDate::from_ymd_opt(1950, 1, 1).unwrap() + chrono::Days::new(u64::from(i / 400));
        citizen_id("210804", &birth.format("%Y%m%d").to_string(), 1 + (i % 400) * 2)
    };
    let mut lines = vec![HEADER.to_string()];
    for i in 0..distinct {
        lines.push(csv_row("王小明", "男", "汉族", &citizen(i), &format!("N{i}"), "前进村"));
    }
    // Row 5,002 repeats the citizen of row 1; row 5,003 the NCMS number of row 2.
    lines.push(csv_row("王小明", "男", "汉族", &citizen(0), "N9999999", "前进村"));
    lines.push(csv_row("王小明", "男", "汉族", &citizen(distinct), "N1", "前进村"));
    let body = (lines.join("\n") + "\n").into_bytes();
    for upload in 1..=2 {
        let (status, report) = json_of(c.put_part(&batch, 1, "text/csv", body.clone()).await).await;
        assert_eq!(status, 200, "{report}");
        assert_eq!(
            (report["received"].as_i64(), report["accepted"].as_i64(), report["rejected"].as_i64()),
            (Some(5_003), Some(5_001), Some(2)),
            "upload {upload}: {report}"
        );
        let errors: Vec<(i64, &str, &str)> = report["errors"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| (e["row"].as_i64().unwrap(), e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
            .collect();
        assert_eq!(
            errors,
            [(5_002, "id_number", "duplicate_in_batch"), (5_003, "ncms_number", "ncms_number_duplicate")],
            "upload {upload}"
        );
        let detail = c.batch(&batch).await;
        assert_eq!(detail["records"], 5_003, "upload {upload}: {detail}");
        assert_eq!((count(&detail, "received"), count(&detail, "format_invalid")), (5_001, 2), "{detail}");
    }
}

/// Corrections of one record sent at once: exactly one is taken, every other is refused
/// with 409 (`record_changed` if it raced the winner, `record_not_correctable` if it
/// came after), and the history holds the one version the winner replaced.
async fn concurrent_corrections_of_one_record_keep_exactly_one(backend: Backend) {
    let c = county(backend).await;
    let batch = c.open_batch().await;
    let id = citizen_id("210804", "19800101", 1);
    let text = format!("{HEADER}\n{}\n", csv_row("王小明", "女", "汉族", &id, "N1", "前进村"));
    let (status, report) = json_of(c.put_part(&batch, 1, "text/csv", text.into_bytes()).await).await;
    assert_eq!((status, report["accepted"].as_i64()), (200, Some(0)), "{report}");
    let record = c.records(&batch, "state=format_invalid").await[0].clone();
    let url = format!("{}/api/v1/records/{}", c.app.gateway(), record["id"].as_str().unwrap());
    let sends = (0..8).map(|n| {
        let fixed = json!({"name": "王小明", "sex": "男", "ethnicity": "汉族", "id_number": id,
            "address": format!("营口市前进村{n}号"), "ncms_number": "N1", "village": "前进村"});
        let request = c.app.http.put(&url).bearer_auth(&c.token).json(&fixed);
        async move { json_of(request.send().await.unwrap()).await }
    });
    let answers = futures_util::future::join_all(sends).await;
    let taken = answers.iter().filter(|(status, _)| *status == 200).count();
    let refused: Vec<&Value> = answers.iter().filter(|(status, _)| *status != 200).map(|(_, body)| body).collect();
    assert_eq!(taken, 1, "{answers:?}");
    for body in &refused {
        let code = body["code"].as_str();
        assert!(body["status"] == 409 && matches!(code, Some("record_changed" | "record_not_correctable")), "{body}");
    }
    let (_, now) = json_of(c.app.http.get(&url).bearer_auth(&c.token).send().await.unwrap()).await;
    assert_eq!(now["version"].as_i64(), Some(2), "{now}");
    assert_eq!(now["history"].as_array().map(Vec::len), Some(1), "{now}");
    let detail = c.batch(&batch).await;
    assert_eq!((count(&detail, "pending_verification"), count(&detail, "format_invalid")), (1, 0), "{detail}");
}
