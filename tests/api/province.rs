//! A province for tests that need people with cards: the register, a county office
//! and a card maker assigned to its county, and the steps from a submitted batch to
//! activated cards, all through the gateway.

#![allow(dead_code)]

use serde_json::{Value, json};

use crate::collection::citizen_id;
use crate::helpers::*;

pub const BATCH_HEADER: &str = "name,sex,ethnicity,id_number,address,ncms_number,phone,village";
pub const REGISTER_HEADER: &str = "id_number,name,sex,birth_date,ethnicity,address,household_number,status";
pub const NAMES: [&str; 8] = ["王小明", "李秀英", "张伟", "刘洋", "陈静", "杨军", "赵丽", "黄强"];

pub struct Person {
    pub name: &'static str,
    pub id: String,
    /// Where the person is enrolled: 前进村 unless a test moves them.
    pub village: &'static str,
}

impl Person {
    pub fn sex(&self) -> &'static str {
        if (self.id.as_bytes()[16] - b'0') % 2 == 1 { "1" } else { "2" }
    }
}

pub fn people(n: usize) -> Vec<Person> {
    (0..n)
        .map(|i| Person {
            name: NAMES[i % NAMES.len()],
            id: citizen_id("210804", &format!("19{:02}0{}1{}", 50 + i % 40, 1 + i % 9, i % 10), 100 + i as u32),
            village: "前进村",
        })
        .collect()
}

/// A Luhn-valid 19-digit bank card number.
pub fn pan(i: u32) -> String {
    let body = format!("622202{i:012}");
    format!("{body}{}", healthcard::domain::pan::check_digit(&body).unwrap())
}

pub struct Province {
    pub app: TestApp,
    pub gw: String,
    pub admin: String,
    pub county: String,
    pub maker: String,
}

impl Province {
    pub async fn new(backend: Backend, env: &[(&str, &str)]) -> Province {
        let mut test_env = TestEnv::new(backend);
        for (k, v) in env {
            test_env.set(k, v);
        }
        let app = TestApp::spawn_with(test_env).await;
        let admin = app.admin_token().await;
        let (_, county) = app.client(&admin, "county_office", &["210804"]).await;
        let (_, maker) = app.client(&admin, "card_maker", &["BANK-A"]).await;
        let gw = app.gateway().to_string();
        let p = Province { app, gw, admin, county, maker };
        let r = p.put(&p.admin, "/api/v1/card-assignments/210804", json!({"card_maker": "BANK-A"})).await;
        assert_eq!(r.0, 200, "{}", r.1);
        p
    }

    pub async fn send(&self, method: reqwest::Method, token: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.app.http.request(method, format!("{}{path}", self.gw)).bearer_auth(token);
        if let Some(body) = body {
            req = req.json(&body);
        }
        json_of(req.send().await.unwrap()).await
    }

    pub async fn get(&self, token: &str, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, token, path, None).await
    }

    pub async fn post(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, token, path, Some(body)).await
    }

    pub async fn put(&self, token: &str, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, token, path, Some(body)).await
    }

    pub async fn lease(&self, token: &str, limit: i64) -> Value {
        let (status, body) = self.post(token, "/api/v1/card-orders/lease", json!({ "limit": limit })).await;
        assert_eq!(status, 200, "{body}");
        body
    }

    pub async fn results(&self, token: &str, lease: &Value, results: Value) -> (u16, Value) {
        self.post(token, "/api/v1/card-orders/results", json!({"lease_id": lease["lease_id"], "results": results}))
            .await
    }

    /// Imports the register holding `people`, submits them as one batch and waits until
    /// every record is registered; returns the record ids in the order of `people`.
    pub async fn registered(&self, people: &[Person]) -> Vec<String> {
        let (_, registry) = self.app.client(&self.admin, "registry_admin", &[]).await;
        let lines: Vec<String> = people
            .iter()
            .map(|p| {
                let birth = format!("{}-{}-{}", &p.id[6..10], &p.id[10..12], &p.id[12..14]);
                format!("{},{},{},{birth},01,辽宁省营口市站前区前进村,H001,active", p.id, p.name, p.sex())
            })
            .collect();
        let r = self
            .app
            .http
            .post(format!("{}/api/v1/registry/imports?kind=snapshot", self.gw))
            .bearer_auth(&registry)
            .header("content-type", "text/csv")
            .body(format!("{REGISTER_HEADER}\n{}\n", lines.join("\n")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        let (_, batch) =
            self.post(&self.county, "/api/v1/batches", json!({"county_code": "210804", "title": "cards"})).await;
        let batch = batch["id"].as_str().unwrap().to_string();
        let rows: Vec<String> = people
            .iter()
            .enumerate()
            .map(|(i, p)| {
                format!(
                    "{},{},01,{},辽宁省营口市站前区前进村{i}号,C{i:04},13812345678,{}",
                    p.name,
                    p.sex(),
                    p.id,
                    p.village
                )
            })
            .collect();
        let r = self
            .app
            .http
            .put(format!("{}/api/v1/batches/{batch}/parts/1", self.gw))
            .bearer_auth(&self.county)
            .header("content-type", "text/csv")
            .body(format!("{BATCH_HEADER}\n{}\n", rows.join("\n")))
            .send()
            .await
            .unwrap();
        let (status, report) = json_of(r).await;
        assert_eq!((status, report["accepted"].as_u64()), (200, Some(people.len() as u64)), "{report}");
        let (status, _) = self.post(&self.county, &format!("/api/v1/batches/{batch}/submit"), json!({})).await;
        assert_eq!(status, 202);
        let path = format!("/api/v1/batches/{batch}/records?state=registered&limit=1000");
        eventually("every record registered", || async {
            self.get(&self.county, &path).await.1["items"].as_array().is_some_and(|a| a.len() == people.len())
        })
        .await;
        let (_, list) = self.get(&self.county, &format!("/api/v1/batches/{batch}/records?limit=1000")).await;
        let items = list["items"].as_array().unwrap();
        (1..=people.len() as i64)
            .map(|row| items.iter().find(|r| r["row"] == row).unwrap()["id"].as_str().unwrap().to_string())
            .collect()
    }

    pub async fn record(&self, id: &str) -> Value {
        self.get(&self.county, &format!("/api/v1/records/{id}")).await.1
    }

    pub async fn wait_record(&self, id: &str, state: &str, card_state: &str) -> Value {
        eventually(&format!("record {id} {state}/{card_state}"), || async {
            let r = self.record(id).await;
            r["state"] == state && r["card"]["state"] == card_state
        })
        .await;
        self.record(id).await
    }
}

pub fn order_ids(lease: &Value) -> Vec<String> {
    lease["orders"].as_array().unwrap().iter().map(|o| o["order_id"].as_str().unwrap().to_string()).collect()
}

pub fn produced(order: &str, card: &str) -> Value {
    json!({"order_id": order, "outcome": "produced", "card_no": card, "chip_serial": format!("CHIP-{}", &card[10..])})
}

impl Province {
    /// Takes `people` through registration, production (card numbers `pan(first..)`),
    /// issuance and activation; returns their card numbers in order.
    pub async fn activated_cards(&self, people: &[Person], first: u32) -> Vec<String> {
        self.registered(people).await;
        let mut cards = Vec::with_capacity(people.len());
        let mut made = 0;
        while made < people.len() {
            let lease = self.lease(&self.maker, 1000).await;
            let ids = order_ids(&lease);
            assert!(!ids.is_empty(), "orders missing: {made} of {}", people.len());
            let results: Vec<Value> =
                ids.iter().enumerate().map(|(i, order)| produced(order, &pan(first + (made + i) as u32))).collect();
            let (status, body) = self.results(&self.maker, &lease, Value::Array(results)).await;
            assert_eq!(status, 200, "{body}");
            made += ids.len();
        }
        // Which card went to whom: read each person's card by citizen ID.
        let numbers: Vec<String> = (0..people.len()).map(|i| pan(first + i as u32)).collect();
        let (status, body) = self.post(&self.county, "/api/v1/cards/issue", json!({ "card_numbers": numbers })).await;
        assert_eq!((status, body["issued"].as_u64()), (200, Some(people.len() as u64)), "{body}");
        for person in people {
            let (status, card) = self.get(&self.county, &format!("/api/v1/cards/{}", person.id)).await;
            assert_eq!(status, 200, "{card}");
            let card_no = card["card_no"].as_str().unwrap().to_string();
            let (status, body) = self.post(&self.county, &format!("/api/v1/cards/{card_no}/activate"), json!({})).await;
            assert_eq!(status, 200, "{body}");
            cards.push(card_no);
        }
        cards
    }
}
