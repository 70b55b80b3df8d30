//! The household register: imports (snapshots, deltas, every kind of bad upload) and
//! matching of records against it, through the gateway and the verification service's
//! message endpoint.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    snapshots_and_deltas_are_imported_and_read_back,
    bad_uploads_fail_precisely_and_leave_the_register_unchanged,
    a_snapshot_failing_after_many_stored_rows_leaves_the_register_unchanged,
    matching_reports_every_reason,
);

/// kind, Content-Type, body, status, code, text the detail must contain.
type BadUpload = (&'static str, &'static str, Vec<u8>, u16, &'static str, &'static str);

const HEADER_ZH: &str = "身份证号,姓名,性别,出生日期,民族,住址,户号,状态";
const HEADER_EN: &str = "id_number,name,sex,birth_date,ethnicity,address,household_number,status";

/// A valid citizen ID (region 110105) born on `birth` (YYYYMMDD) with sequence `seq`
/// (odd = male).
fn cid(birth: &str, seq: u32) -> String {
    const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];
    let body = format!("110105{birth}{seq:03}");
    let sum: u32 = body.bytes().zip(WEIGHTS).map(|(b, w)| u32::from(b - b'0') * w).sum();
    format!("{body}{}", CHECK[(sum % 11) as usize])
}

/// Same ID with a wrong check character.
fn bad_checksum(id: &str) -> String {
    let last = if id.ends_with('0') { '1' } else { '0' };
    format!("{}{last}", &id[..17])
}

struct Register {
    app: TestApp,
    registry: String,
    admin: String,
    service: String,
    keys: healthcard::pii::PiiKeys,
}

impl Register {
    async fn start(env: TestEnv) -> Register {
        let app = TestApp::spawn_with(env).await;
        let admin = app.admin_token().await;
        let (_, registry) = app.client(&admin, "registry_admin", &[]).await;
        let service = app.service_token().await;
        let keys = healthcard::pii::PiiKeys::load_or_create(&app.env.data_dir.path().join("keys/pii.key")).unwrap();
        Register { app, registry, admin, service, keys }
    }

    fn verification(&self) -> &str {
        self.app.service("verification")
    }

    /// Posts an import through the gateway.
    async fn import(
        &self,
        token: &str,
        kind: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.import_at(self.app.gateway(), token, &format!("kind={kind}"), content_type, body).await
    }

    async fn import_at(
        &self,
        base: &str,
        token: &str,
        query: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        self.app
            .http
            .post(format!("{base}/api/v1/registry/imports?{query}"))
            .bearer_auth(token)
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap()
    }

    async fn accepted(&self, kind: &str, content_type: &str, body: impl Into<reqwest::Body>) -> Value {
        let (status, view) = json_of(self.import(&self.registry, kind, content_type, body).await).await;
        assert_eq!(status, 202, "{view}");
        assert_eq!(view["state"], "applied", "{view}");
        view
    }

    async fn get_import(&self, token: &str, id: &str) -> reqwest::Response {
        self.app
            .http
            .get(format!("{}/api/v1/registry/imports/{id}", self.app.gateway()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    async fn imports(&self) -> Vec<Value> {
        let r = self
            .app
            .http
            .get(format!("{}/api/v1/registry/imports?limit=1000", self.app.gateway()))
            .bearer_auth(&self.registry)
            .send()
            .await
            .unwrap();
        let (status, page) = json_of(r).await;
        assert_eq!(status, 200, "{page}");
        page["items"].as_array().unwrap().clone()
    }

    /// A record to verify: `(record_id, id, name, sex, birth YYYY-MM-DD, ethnicity)`.
    fn record(&self, record_id: &str, id: &str, name: &str, sex: &str, birth: &str, ethnicity: &str) -> Value {
        json!({"record_id": record_id, "version": 1, "id_hash": self.keys.hash(id), "name": name, "sex": sex,
               "birth_date": birth, "ethnicity": ethnicity})
    }

    fn envelope(&self, records: Vec<Value>) -> Value {
        json!({"id": uuid::Uuid::now_v7(), "source": "collection", "kind": "verification_requested",
               "created_at": "2026-11-22T08:00:00Z",
               "payload": {"batch_id": "batch-1", "county_code": "110105", "records": records}})
    }

    async fn send(&self, envelope: &Value) -> reqwest::Response {
        self.app
            .http
            .post(format!("{}/internal/v1/messages", self.verification()))
            .bearer_auth(&self.service)
            .json(envelope)
            .send()
            .await
            .unwrap()
    }

    async fn matches_as(&self, token: &str, record_id: &str) -> reqwest::Response {
        self.app
            .http
            .get(format!("{}/api/v1/registry/matches?record_id={record_id}", self.app.gateway()))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }

    /// The latest match of `record_id`.
    async fn latest_match(&self, record_id: &str) -> Value {
        let (status, page) = json_of(self.matches_as(&self.registry, record_id).await).await;
        assert_eq!(status, 200, "{page}");
        let latest =
            page["items"].as_array().unwrap().last().cloned().unwrap_or_else(|| panic!("no match for {record_id}"));
        // Stored as it was written (PostgreSQL takes match results in binary form).
        let matched_at = chrono::DateTime::parse_from_rfc3339(latest["matched_at"].as_str().unwrap()).unwrap();
        let age = chrono::Utc::now().signed_duration_since(matched_at);
        assert!(age >= chrono::Duration::seconds(-5) && age < chrono::Duration::minutes(10), "{latest}");
        latest
    }

    /// Sends one request with `records` and returns each record's latest match.
    async fn verify(&self, records: Vec<Value>) -> Vec<Value> {
        let ids: Vec<String> = records.iter().map(|r| r["record_id"].as_str().unwrap().to_string()).collect();
        let (status, receipt) = json_of(self.send(&self.envelope(records)).await).await;
        assert_eq!((status, receipt["receipt"].as_str()), (200, Some("applied")), "{receipt}");
        let mut out = Vec::new();
        for id in ids {
            out.push(self.latest_match(&id).await);
        }
        out
    }
}

fn codes(m: &Value) -> Vec<String> {
    m["reasons"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap().to_string()).collect()
}

async fn snapshots_and_deltas_are_imported_and_read_back(backend: Backend) {
    let reg = Register::start(TestEnv::new(backend)).await;
    let (wang, zhang, li, new) = (cid("19800102", 11), cid("19751231", 22), cid("19900315", 33), cid("20010101", 45));

    // UTF-8 with Chinese headers: three good rows, two with errors.
    let csv = format!(
        "{HEADER_ZH}\n{wang},王小明,男,1980-01-02,汉族,北京市朝阳区一号,H001,正常\n\
         {zhang},张伟,2,19751231,01,北京市朝阳区二号,,active\n\
         {li},李四,1,1990-03-15,回族,北京市朝阳区三号,H003,迁出\n\
         {},赵六,1,1980-01-02,01,某地,,正常\n\
         {},钱七,9,1980-02-30,火星族,某地,,alive\n",
        bad_checksum(&wang),
        cid("19800102", 55)
    );
    let first = reg.accepted("snapshot", "text/csv; charset=utf-8", csv).await;
    assert_eq!(first["kind"], "snapshot");
    assert_eq!(
        (&first["rows_total"], &first["rows_inserted"], &first["rows_updated"], &first["rows_invalid"]),
        (&json!(5), &json!(3), &json!(0), &json!(2)),
        "{first}"
    );
    let errors = first["errors"].as_array().unwrap();
    let triples: Vec<(u64, &str, &str)> = errors
        .iter()
        .map(|e| (e["row"].as_u64().unwrap(), e["field"].as_str().unwrap(), e["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        triples,
        [
            (4, "id_number", "id_bad_checksum"),
            (5, "sex", "sex_invalid"),
            (5, "birth_date", "birth_date_invalid"),
            (5, "ethnicity", "ethnicity_unknown"),
            (5, "status", "status_invalid"),
        ]
    );
    assert!(errors.iter().all(|e| !e["message"].as_str().unwrap().is_empty()));
    let id = first["id"].as_str().unwrap();
    let (status, read_back) = json_of(reg.get_import(&reg.registry, id).await).await;
    assert_eq!(status, 200);
    assert_eq!(read_back, first, "GET answers what POST did");
    assert_problem(reg.get_import(&reg.registry, &uuid::Uuid::now_v7().to_string()).await, 404, "not_found").await;

    // GB18030, declared.
    let text = format!(
        "{HEADER_ZH}\n{wang},王小明,男,1980-01-02,汉族,北京市朝阳区一号,H001,正常\n\
         {zhang},張偉,女,1975-12-31,汉族,北京市朝阳区二号,,正常\n"
    );
    let (gb, _, _) = encoding_rs::GB18030.encode(&text);
    assert!(std::str::from_utf8(&gb).is_err(), "really not UTF-8");
    let second = reg.accepted("snapshot", "text/csv; charset=gb18030", gb.into_owned()).await;
    assert_eq!((&second["rows_inserted"], &second["rows_invalid"]), (&json!(2), &json!(0)), "{second}");
    let (_, first_now) = json_of(reg.get_import(&reg.registry, id).await).await;
    assert_eq!(first_now["state"], "superseded");
    // The snapshot replaced the first one: 李四 is gone, 張偉 is read as written.
    let m = reg
        .verify(vec![
            reg.record("s1", &li, "李四", "1", "1990-03-15", "03"),
            reg.record("s2", &zhang, "张伟", "2", "1975-12-31", "01"),
        ])
        .await;
    assert_eq!(codes(&m[0]), ["not_in_register"]);
    assert_eq!(m[1]["outcome"], "verified", "{}", m[1]);
    assert_eq!(m[1]["snapshot_id"], second["id"]);

    // A delta (NDJSON): one update, one new resident, one invalid row.
    let ndjson = format!(
        "{}\n{}\n\n{}\n",
        json!({"id_number": zhang, "name": "张伟", "sex": "2", "birth_date": "1975-12-31", "ethnicity": "01",
               "address": "北京市海淀区", "status": "deceased"}),
        json!({"id_number": new, "name": "孙八", "sex": "1", "birth_date": "2001-01-01", "ethnicity": "01",
               "address": "北京市海淀区", "household_number": "H9", "status": "active"}),
        json!({"id_number": "123", "name": "周九", "sex": "1", "birth_date": "2001-01-01", "ethnicity": "01",
               "address": "x", "status": "active"}),
    );
    let delta = reg.accepted("delta", "application/x-ndjson", ndjson).await;
    assert_eq!(delta["kind"], "delta");
    assert_eq!(
        (&delta["rows_total"], &delta["rows_inserted"], &delta["rows_updated"], &delta["rows_invalid"]),
        (&json!(3), &json!(1), &json!(1), &json!(1)),
        "{delta}"
    );
    assert_eq!(delta["errors"][0]["row"], 3);
    assert_eq!(delta["errors"][0]["code"], "id_invalid_length");
    let m = reg
        .verify(vec![
            reg.record("d1", &zhang, "张伟", "2", "1975-12-31", "01"),
            reg.record("d2", &new, "孙八", "1", "2001-01-01", "01"),
            reg.record("d3", &wang, "王小明", "1", "1980-01-02", "01"),
        ])
        .await;
    assert_eq!(codes(&m[0]), ["deceased"], "the delta replaced the row");
    assert_eq!(m[1]["outcome"], "verified", "the delta added the row");
    assert_eq!(m[2]["outcome"], "verified", "rows the delta does not name stay");
    assert_eq!(m[2]["snapshot_id"], second["id"], "a delta changes the active snapshot in place");

    // Roles: only the registry admin imports; readers read; nobody else.
    let (_, county) = reg.app.client(&reg.admin, "county_office", &["210804"]).await;
    let (_, auditor) = reg.app.client(&reg.admin, "auditor", &[]).await;
    for token in [&county, &auditor, &reg.admin] {
        let r = reg.import(token, "snapshot", "text/csv", format!("{HEADER_EN}\n")).await;
        assert_problem(r, 403, "role_not_allowed").await;
    }
    assert_problem(reg.get_import(&county, id).await, 403, "role_not_allowed").await;
    assert_eq!(reg.get_import(&auditor, id).await.status(), 200);
    assert_problem(reg.matches_as(&county, "d1").await, 403, "role_not_allowed").await;
    // A registry admin sees imports and matches, nothing else.
    let r = reg.app.http.get(format!("{}/api/v1/batches", reg.app.gateway())).bearer_auth(&reg.registry).send();
    assert_problem(r.await.unwrap(), 403, "role_not_allowed").await;
    assert_eq!(reg.imports().await.len(), 3);
}

async fn bad_uploads_fail_precisely_and_leave_the_register_unchanged(backend: Backend) {
    let reg = Register::start(TestEnv::new(backend).with("HEALTHCARD_MAX_BODY_BYTES", "65536")).await;
    let wang = cid("19800102", 11);
    let good = format!("{HEADER_EN}\n{wang},王小明,1,1980-01-02,01,北京市朝阳区,,active\n");

    // Before any snapshot, a delta has nothing to apply to.
    assert_problem(reg.import(&reg.registry, "delta", "text/csv", good.clone()).await, 409, "no_active_snapshot").await;

    let first = reg.accepted("snapshot", "text/csv", good.clone()).await;
    let first_id = first["id"].as_str().unwrap().to_string();

    let row = format!("{wang},王小明,1,1980-01-02,01,x,,active");
    let wide: Vec<String> = (0..10_000).map(|i| format!("c{i}")).collect();
    // ASCII before the bad bytes, so that they are the first thing neither UTF-8 nor GB18030.
    let mut undecodable = format!("{HEADER_EN}\n{wang},Wang,1,1980-01-02,01,x,,active\n").into_bytes();
    undecodable.extend_from_slice(b"\xff\xfe\xff,x\n");
    let cases: Vec<BadUpload> = vec![
        ("snapshot", "text/csv", Vec::new(), 422, "empty_import", ""),
        ("snapshot", "text/csv", format!("{HEADER_EN}\n").into_bytes(), 422, "empty_import", ""),
        ("delta", "application/x-ndjson", b"\n\n".to_vec(), 422, "empty_import", ""),
        ("snapshot", "application/json", good.clone().into_bytes(), 415, "unsupported_media_type", ""),
        ("snapshot", "text/csv; charset=latin1", good.clone().into_bytes(), 415, "unsupported_media_type", ""),
        ("full", "text/csv", good.clone().into_bytes(), 400, "invalid_kind", ""),
        (
            "snapshot",
            "text/csv",
            format!("id_number,name,sex,birth_date,ethnicity,address\n{wang},王小明,1,1980-01-02,01,x\n").into_bytes(),
            422,
            "column_missing",
            "status/状态",
        ),
        ("snapshot", "text/csv", wide.join(",").into_bytes(), 422, "too_many_columns", "10000"),
        (
            "snapshot",
            "text/csv",
            format!("{HEADER_EN}\n{row}\n{wang},\"王小明,1,1980-01-02,01,x,,active\n{row}\n").into_bytes(),
            422,
            "csv_unclosed_quote",
            "line 3",
        ),
        ("snapshot", "text/csv", undecodable.clone(), 422, "invalid_encoding", "line 3"),
        ("snapshot", "text/csv; charset=gb18030", undecodable, 422, "invalid_encoding", "line 3"),
        (
            "snapshot",
            "text/csv",
            format!("{HEADER_EN}\n{},王小明,1,1980-01-02,01,x,,active\n", bad_checksum(&wang)).into_bytes(),
            422,
            "no_valid_rows",
            "",
        ),
    ];
    let mut failed_imports = 0;
    for (kind, content_type, body, status, code, detail) in cases {
        let r = reg.import(&reg.registry, kind, content_type, body).await;
        let problem = assert_problem(r, status, code).await;
        assert!(problem["detail"].as_str().unwrap().contains(detail), "{code}: {problem}");
        if status == 422 {
            failed_imports += 1;
        }
    }
    // No kind at all.
    let r = reg.import_at(reg.app.gateway(), &reg.registry, "", "text/csv", good.clone()).await;
    assert_problem(r, 400, "invalid_kind").await;

    // Over the limit: the gateway refuses a declared length; the service itself counts
    // a streamed (chunked) body.
    let big = format!("{HEADER_EN}\n{}", format!("{row}\n").repeat(2000));
    assert!(big.len() > 65536);
    assert_problem(reg.import(&reg.registry, "snapshot", "text/csv", big.clone()).await, 413, "body_too_large").await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = big.as_bytes().chunks(8192).map(|c| Ok(c.to_vec())).collect();
    let streamed = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let r = reg.import_at(reg.verification(), &reg.registry, "kind=snapshot", "text/csv", streamed).await;
    assert_problem(r, 413, "body_too_large").await;
    failed_imports += 1;

    // A client that goes away in the middle of its upload (after the service started
    // reading it).
    let first_part = format!("{HEADER_EN}\n{row}\n").into_bytes();
    let broken = futures_util::stream::unfold(0, move |step| {
        let first_part = first_part.clone();
        async move {
            match step {
                0 => Some((Ok(first_part), 1)),
                1 => {
                    tokio::time::sleep(Duration::from_millis(1500)).await;
                    Some((Err(std::io::Error::other("the client dies")), 2))
                }
                _ => None,
            }
        }
    });
    let interrupted = reg
        .app
        .http
        .post(format!("{}/api/v1/registry/imports?kind=snapshot", reg.verification()))
        .bearer_auth(&reg.registry)
        .header("content-type", "text/csv")
        .body(reqwest::Body::wrap_stream(broken))
        .send()
        .await;
    assert!(interrupted.is_err(), "the upload was cut off");
    failed_imports += 1;

    // Every failed upload is recorded as failed with its code; the first snapshot is
    // still the applied one and matching still reads it.
    let mut seen = Vec::new();
    for _ in 0..100 {
        seen = reg.imports().await;
        if seen.iter().filter(|i| i["state"] == "failed").count() == failed_imports {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed: Vec<&str> =
        seen.iter().filter(|i| i["state"] == "failed").map(|i| i["failure"]["code"].as_str().unwrap()).collect();
    assert_eq!(
        failed,
        [
            "empty_import",
            "empty_import",
            "empty_import",
            "column_missing",
            "too_many_columns",
            "csv_unclosed_quote",
            "invalid_encoding",
            "invalid_encoding",
            "no_valid_rows",
            "body_too_large",
            "upload_interrupted"
        ],
        "{seen:?}"
    );
    assert_eq!(seen.iter().filter(|i| i["state"] != "failed").count(), 1);
    let (_, now) = json_of(reg.get_import(&reg.registry, &first_id).await).await;
    assert_eq!(now["state"], "applied");
    let m = reg.verify(vec![reg.record("r1", &wang, "王小明", "1", "1980-01-02", "01")]).await;
    assert_eq!(m[0]["outcome"], "verified", "{}", m[0]);
    assert_eq!(m[0]["snapshot_id"].as_str(), Some(first_id.as_str()));
}

/// An upload that breaks after several chunks were already stored by the writers (more
/// than one chunk of rows, so every writer has stored some): the import fails with the
/// parser's code, the stored rows never become the register, and a later snapshot
/// still imports and is matched.
async fn a_snapshot_failing_after_many_stored_rows_leaves_the_register_unchanged(backend: Backend) {
    let reg = Register::start(TestEnv::new(backend)).await;
    let wang = cid("19800102", 11);
    let first = reg
        .accepted("snapshot", "text/csv", format!("{HEADER_EN}\n{wang},王小明,1,1980-01-02,01,某村,,active\n"))
        .await;
    let first_id = first["id"].as_str().unwrap().to_string();

    // 72,576 valid rows (odd sequence numbers: men), more than a chunk for each writer,
    // then a quote never closed.
    let mut big = format!("{HEADER_EN}\n");
    for year in 1990..=1995 {
        for month in 1..=12 {
            for day in 1..=28 {
                for seq in (1..72).step_by(2) {
                    let id = cid(&format!("{year}{month:02}{day:02}"), seq);
                    big += &format!("{id},李四,1,{year}-{month:02}-{day:02},01,某村,,active\n");
                }
            }
        }
    }
    big += &format!("{},\"李四,1,1990-01-01,01,某村,,active\n", cid("19900101", 99));
    let problem =
        assert_problem(reg.import(&reg.registry, "snapshot", "text/csv", big).await, 422, "csv_unclosed_quote").await;
    assert!(problem["detail"].as_str().unwrap().contains("line 72578"), "{problem}");

    let imports = reg.imports().await;
    let failed: Vec<&Value> = imports.iter().filter(|i| i["state"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{imports:?}");
    assert_eq!(failed[0]["failure"]["code"], "csv_unclosed_quote");
    assert!(failed[0]["rows_total"].as_i64().unwrap() >= 72_576, "{}", failed[0]);
    let (_, now) = json_of(reg.get_import(&reg.registry, &first_id).await).await;
    assert_eq!(now["state"], "applied");

    // Matching reads the first snapshot only: none of the failed import's people is there.
    let li = cid("19900101", 1);
    let m = reg
        .verify(vec![
            reg.record("r1", &wang, "王小明", "1", "1980-01-02", "01"),
            reg.record("r2", &li, "李四", "1", "1990-01-01", "01"),
        ])
        .await;
    assert_eq!(m[0]["outcome"], "verified", "{}", m[0]);
    assert_eq!(m[0]["snapshot_id"].as_str(), Some(first_id.as_str()));
    assert_eq!(m[1]["outcome"], "rejected", "{}", m[1]);
    assert_eq!(codes(&m[1]), ["not_in_register"]);

    // The register still takes a new snapshot, which replaces the first.
    let second =
        reg.accepted("snapshot", "text/csv", format!("{HEADER_EN}\n{li},李四,1,1990-01-01,01,某村,,active\n")).await;
    let m = reg.verify(vec![reg.record("r3", &li, "李四", "1", "1990-01-01", "01")]).await;
    assert_eq!(m[0]["outcome"], "verified", "{}", m[0]);
    assert_eq!(m[0]["snapshot_id"], second["id"]);
}

async fn matching_reports_every_reason(backend: Backend) {
    let reg = Register::start(TestEnv::new(backend)).await;
    let ids: Vec<String> = (1..=12).map(|n| cid("19800102", n * 2 + 1)).collect();
    let record = |n: usize, name: &str| reg.record(&format!("r{n}"), &ids[n - 1], name, "1", "1980-01-02", "01");

    // No register yet: the message is refused and will be retried by the sender.
    let early = reg.envelope(vec![record(1, "王小明")]);
    assert_problem(reg.send(&early).await, 503, "register_not_loaded").await;

    let line = |n: usize, name: &str, sex: &str, birth: &str, ethnicity: &str, status: &str| {
        format!("{},{name},{sex},{birth},{ethnicity},某村,,{status}\n", ids[n - 1])
    };
    let mut csv = format!("{HEADER_EN}\n");
    csv += &line(1, "王小明", "1", "1980-01-02", "01", "active");
    csv += &line(2, "張偉", "1", "1980-01-02", "01", "active");
    csv += &line(3, "赵小红", "1", "1980-01-02", "01", "active");
    csv += &line(4, "孙八", "2", "1980-01-02", "01", "active");
    csv += &line(5, "周九", "1", "1981-01-02", "01", "active");
    csv += &line(6, "吴十", "1", "1980-01-02", "回族", "active");
    csv += &line(7, "郑一", "1", "1980-01-02", "01", "死亡");
    csv += &line(8, "冯二", "1", "1980-01-02", "01", "迁出");
    csv += &line(9, "陈三", "1", "1980-01-02", "01", "注销");
    csv += &line(10, "褚四", "1", "1980-01-02", "01", "active");
    csv += &line(10, "褚四", "1", "1980-01-02", "01", "active");
    csv += &line(12, "阿依古丽·买买提", "1", "1980-01-02", "01", "active");
    let snapshot = reg.accepted("snapshot", "text/csv", csv).await;
    assert_eq!(snapshot["rows_inserted"], 12, "a duplicate ID is kept: {snapshot}");

    let mut everything_wrong = record(4, "钱五");
    everything_wrong["sex"] = json!("1");
    everything_wrong["birth_date"] = json!("1999-09-09");
    everything_wrong["ethnicity"] = json!("03");
    let records = vec![
        record(1, "王小明"),
        record(2, "张伟"),
        record(3, "赵晓红"),
        record(4, "孙八"),
        record(5, "周九"),
        record(6, "吴十"),
        record(7, "郑一"),
        record(8, "冯二"),
        record(9, "陈三"),
        record(10, "褚四"),
        record(11, "卫五"),
        record(12, "阿依古丽•买买提"),
        json!({"record_id": "r13", "version": 2, "id_hash": everything_wrong["id_hash"], "name": "钱五", "sex": "1",
               "birth_date": "1999-09-09", "ethnicity": "03"}),
    ];
    let envelope = reg.envelope(records);
    let (status, receipt) = json_of(reg.send(&envelope).await).await;
    assert_eq!((status, receipt["receipt"].as_str()), (200, Some("applied")), "{receipt}");

    let expected: Vec<(&str, Vec<&str>)> = vec![
        ("r1", vec![]),
        ("r2", vec![]),
        ("r3", vec!["name_mismatch"]),
        ("r4", vec!["sex_mismatch"]),
        ("r5", vec!["birth_date_mismatch"]),
        ("r6", vec!["ethnicity_mismatch"]),
        ("r7", vec!["deceased"]),
        ("r8", vec!["migrated_out"]),
        ("r9", vec!["cancelled"]),
        ("r10", vec!["register_duplicate"]),
        ("r11", vec!["not_in_register"]),
        ("r12", vec![]),
        ("r13", vec!["name_mismatch", "sex_mismatch", "birth_date_mismatch", "ethnicity_mismatch"]),
    ];
    for (record_id, reasons) in &expected {
        let m = reg.latest_match(record_id).await;
        assert_eq!(&codes(&m), reasons, "{record_id}: {m}");
        let outcome = if reasons.is_empty() { "verified" } else { "rejected" };
        assert_eq!(m["outcome"], outcome, "{record_id}");
        assert_eq!(m["snapshot_id"], snapshot["id"]);
        assert_eq!(m["batch_id"], "batch-1");
    }
    let r3 = reg.latest_match("r3").await;
    assert_eq!(r3["reasons"][0]["register_value"], "赵*红", "the register's name, masked");
    let r13 = reg.latest_match("r13").await;
    assert_eq!(r13["version"], 2);
    assert_eq!(r13["reasons"][0]["register_value"], "孙*");
    assert_eq!(r13["reasons"][1]["register_value"], "2");
    assert_eq!(r13["reasons"][2]["register_value"], "1980-01-02");
    assert_eq!(r13["reasons"][3]["register_value"], "01");

    // The auditor reads the same; no answer carries a full name or an ID number.
    let (status, page) = json_of(reg.matches_as(&reg.registry, "").await).await;
    assert_eq!(status, 200);
    assert_eq!(page["items"].as_array().unwrap().len(), 13);
    let text = page.to_string();
    assert!(!text.contains("赵小红") && !text.contains("孙八"), "{text}");
    assert!(ids.iter().all(|id| !text.contains(id.as_str())));
    let (status, audit) = json_of(reg.matches_as(&reg.registry_auditor().await, "r3").await).await;
    assert_eq!(status, 200);
    assert_eq!(audit["items"][0]["reasons"][0]["register_value"], "赵*红");
    // Paginated.
    let r = reg
        .app
        .http
        .get(format!("{}/api/v1/registry/matches?limit=5", reg.app.gateway()))
        .bearer_auth(&reg.registry)
        .send()
        .await
        .unwrap();
    let (_, page) = json_of(r).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 5);
    assert!(page["next_cursor"].is_string());

    // Redelivery: no second effect.
    let (status, receipt) = json_of(reg.send(&envelope).await).await;
    assert_eq!((status, receipt["receipt"].as_str()), (200, Some("duplicate")));
    let (_, page) = json_of(reg.matches_as(&reg.registry, "r1").await).await;
    assert_eq!(page["items"].as_array().unwrap().len(), 1);

    // The outcome went into the outbox for collection, once. The two figures are read
    // one after the other, so a delivery between the reads is seen twice or not at all:
    // read again until they agree.
    let verification = reg.app.ops("verification").to_string();
    let http = reg.app.http.clone();
    eventually("one outcome message, waiting or delivered", || {
        let (http, verification) = (http.clone(), verification.clone());
        async move {
            let backlog = metric(&http, &verification, "healthcard_outbox_backlog", &[]).await;
            let delivered = metric(
                &http,
                &verification,
                "healthcard_outbox_deliveries_total",
                &["destination=\"collection\"", "result=\"delivered\""],
            )
            .await;
            backlog + delivered == 1.0
        }
    })
    .await;
}

impl Register {
    async fn registry_auditor(&self) -> String {
        self.app.client(&self.admin, "auditor", &[]).await.1
    }
}
