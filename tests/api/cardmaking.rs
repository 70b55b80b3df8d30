//! Card making through the gateway: a verified record is registered and ordered, a
//! card maker leases and answers it, the county issues the card and the resident
//! activates it; leases expire and are taken again, concurrent lessees never share an
//! order, a production failure goes back to the county for correction, and a lost card
//! is replaced.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;
use crate::province::*;

on_both_backends!(
    a_verified_record_becomes_an_activated_card,
    leases_expire_and_concurrent_lessees_never_share_an_order,
    a_production_failure_goes_back_for_correction_and_a_new_order,
    a_lost_card_is_replaced_and_a_dead_card_stays_dead,
);

async fn a_verified_record_becomes_an_activated_card(backend: Backend) {
    let p = Province::new(backend, &[]).await;
    let folks = people(3);
    let records = p.registered(&folks).await;
    assert_eq!(p.record(&records[0]).await["card"]["state"], "ordered");

    // The same citizen in a later batch is refused, saying where they are registered.
    let (_, again) = p.post(&p.county, "/api/v1/batches", json!({"county_code": "210804", "title": "again"})).await;
    let row = format!(
        "{},{},01,{},辽宁省营口市站前区前进村9号,C9999,13812345678,前进村",
        folks[0].name,
        folks[0].sex(),
        folks[0].id
    );
    let r = p
        .app
        .http
        .put(format!("{}/api/v1/batches/{}/parts/1", p.gw, again["id"].as_str().unwrap()))
        .bearer_auth(&p.county)
        .header("content-type", "text/csv")
        .body(format!("{BATCH_HEADER}\n{row}\n"))
        .send()
        .await
        .unwrap();
    let (status, report) = json_of(r).await;
    assert_eq!((status, report["errors"][0]["code"].as_str()), (200, Some("already_registered")), "{report}");
    assert!(report["errors"][0]["message"].as_str().unwrap().contains("row 1"), "{report}");

    // Assignments are the province's to make.
    let (status, body) = p.put(&p.county, "/api/v1/card-assignments/210802", json!({"card_maker": "BANK-A"})).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("role_not_allowed")));
    let (status, body) = p.put(&p.admin, "/api/v1/card-assignments/2108", json!({"card_maker": "BANK-A"})).await;
    assert_eq!((status, body["errors"][0]["field"].as_str()), (422, Some("county_code")), "{body}");
    let (_, list) = p.get(&p.maker, "/api/v1/card-assignments").await;
    assert_eq!(list["items"], json!([list["items"][0].clone()]));
    assert_eq!(list["items"][0]["county_code"], "210804");
    // A card maker's pages hold only its own assignments, full while more follow.
    for (county, maker) in [("210802", "BANK-B"), ("210803", "BANK-B"), ("210811", "BANK-A")] {
        let (status, _) =
            p.put(&p.admin, &format!("/api/v1/card-assignments/{county}"), json!({"card_maker": maker})).await;
        assert_eq!(status, 200);
    }
    let (_, first) = p.get(&p.maker, "/api/v1/card-assignments?limit=1").await;
    assert_eq!(first["items"].as_array().map(Vec::len), Some(1), "{first}");
    assert_eq!(first["items"][0]["county_code"], "210804");
    let cursor = first["next_cursor"].as_str().unwrap().to_string();
    let (_, second) = p.get(&p.maker, &format!("/api/v1/card-assignments?limit=1&cursor={cursor}")).await;
    assert_eq!(
        (second["items"][0]["county_code"].as_str(), second["next_cursor"].as_str()),
        (Some("210811"), None),
        "{second}"
    );

    // Bad leases.
    for limit in [0, 1_000_000] {
        let (status, body) = p.post(&p.maker, "/api/v1/card-orders/lease", json!({ "limit": limit })).await;
        assert_eq!((status, body["errors"][0]["code"].as_str()), (422, Some("limit_out_of_range")), "{body}");
    }
    let (status, _) = p.post(&p.county, "/api/v1/card-orders/lease", json!({"limit": 5})).await;
    assert_eq!(status, 403);

    // A card maker with no county gets nothing; the one assigned gets all three with
    // only the card's fields, in full.
    let (_, other) = p.app.client(&p.admin, "card_maker", &["BANK-B"]).await;
    let empty = p.lease(&other, 10).await;
    assert_eq!(empty["orders"], json!([]));
    let lease = p.lease(&p.maker, 10).await;
    let orders = lease["orders"].as_array().unwrap().clone();
    assert_eq!(orders.len(), 3);
    let first = orders.iter().find(|o| o["citizen_id"] == folks[0].id.as_str()).unwrap();
    let mut keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "address",
            "birth_date",
            "citizen_id",
            "county_code",
            "ethnicity",
            "name",
            "ncms_number",
            "order_id",
            "phone",
            "sex",
            "village"
        ]
    );
    assert_eq!(
        (first["name"].as_str(), first["address"].as_str()),
        (Some(folks[0].name), Some("辽宁省营口市站前区前进村0号"))
    );
    p.wait_record(&records[0], "in_production", "leased").await;
    let ids = order_ids(&lease);
    let order_of = |p: &Person| orders.iter().find(|o| o["citizen_id"] == p.id.as_str()).unwrap()["order_id"].clone();

    // Another card maker cannot answer these orders, even with a lease of its own.
    let (status, body) = p.results(&other, &empty, json!([produced(&ids[0], &pan(1))])).await;
    assert_eq!((status, body["errors"][0]["code"].as_str()), (422, Some("order_not_found")), "{body}");
    let (status, body) = p.results(&other, &lease, json!([produced(&ids[0], &pan(1))])).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")), "{body}");

    // Row by row: a bad check digit and an unknown order are refused, the good row kept.
    let mut bad = pan(1);
    bad.replace_range(18.., if bad.ends_with('0') { "1" } else { "0" });
    let a = order_of(&folks[0]).as_str().unwrap().to_string();
    let b = order_of(&folks[1]).as_str().unwrap().to_string();
    let c = order_of(&folks[2]).as_str().unwrap().to_string();
    let (status, body) = p
        .results(
            &p.maker,
            &lease,
            json!([produced(&a, &pan(1)), produced(&b, &bad), produced("no-such-order", &pan(9))]),
        )
        .await;
    assert_eq!((status, body["recorded"].as_u64()), (200, Some(1)), "{body}");
    let codes: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["card_no_bad_checksum", "order_not_found"]);
    // The same result again is a duplicate; another one for the same order a conflict;
    // a number already used is refused.
    let (status, body) = p.results(&p.maker, &lease, json!([produced(&a, &pan(1))])).await;
    assert_eq!((status, body["duplicates"].as_u64(), body["recorded"].as_u64()), (200, Some(1), Some(0)));
    let (status, body) = p.results(&p.maker, &lease, json!([produced(&a, &pan(2))])).await;
    assert_eq!((status, body["errors"][0]["code"].as_str()), (422, Some("result_conflict")), "{body}");
    let (status, body) = p.results(&p.maker, &lease, json!([produced(&b, &pan(1))])).await;
    assert_eq!((status, body["errors"][0]["code"].as_str()), (422, Some("card_no_in_use")), "{body}");
    // A number in use refuses its row only: the other rows of the request are recorded.
    let (status, body) = p.results(&p.maker, &lease, json!([produced(&b, &pan(1)), produced(&c, &pan(3))])).await;
    assert_eq!((status, body["recorded"].as_u64()), (200, Some(1)), "{body}");
    assert_eq!(
        (body["errors"][0]["row"].as_u64(), body["errors"][0]["code"].as_str()),
        (Some(1), Some("card_no_in_use"))
    );
    let (status, body) = p.results(&p.maker, &lease, json!([produced(&b, &pan(2)), produced(&c, &pan(3))])).await;
    assert_eq!((status, body["recorded"].as_u64(), body["duplicates"].as_u64()), (200, Some(1), Some(1)), "{body}");
    // A full lease of failures with long messages (about 8 MB) is read and judged.
    let long: String = "地址不详".repeat(125);
    let failures: Vec<Value> = (0..5000)
        .map(|i| json!({"order_id": format!("unknown-{i}"), "outcome": "failed", "code": "bad_address", "message": long}))
        .collect();
    let (status, body) = p.results(&p.maker, &lease, Value::Array(failures)).await;
    assert_eq!(status, 422, "{}", &body.to_string()[..300]);
    assert_eq!(body["errors"].as_array().map(Vec::len), Some(5000));
    assert_eq!(body["errors"][4999]["code"], "order_not_found");
    p.wait_record(&records[0], "produced", "produced").await;

    // Not issued yet: a clinic cannot activate it. The county issues in bulk.
    let (_, clinic) = p.app.client(&p.admin, "clinic", &["H21080401"]).await;
    let (status, body) = p.post(&clinic, &format!("/api/v1/cards/{}/activate", pan(1)), json!({})).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("card_not_issued")), "{body}");
    let (status, body) =
        p.post(&p.county, "/api/v1/cards/issue", json!({"card_numbers": [pan(1), pan(2), pan(7), "123"]})).await;
    assert_eq!((status, body["issued"].as_u64()), (200, Some(2)), "{body}");
    let codes: Vec<&str> = body["errors"].as_array().unwrap().iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["card_not_found", "card_no_invalid_length"]);
    let (status, card) = p.post(&clinic, &format!("/api/v1/cards/{}/activate", pan(1)), json!({})).await;
    assert_eq!((status, card["state"].as_str()), (200, Some("activated")), "{card}");
    let record = p.wait_record(&records[0], "activated", "activated").await;
    assert_eq!(record["version"], 1);

    // Clinics look the card up by bank number or by the citizen ID, and see the holder
    // masked; the read is logged.
    let (status, by_pan) = p.get(&clinic, &format!("/api/v1/cards/{}", pan(1))).await;
    assert_eq!(status, 200, "{by_pan}");
    assert_eq!(by_pan["holder"]["name"], "王*明");
    assert!(!by_pan.to_string().contains(&folks[0].id), "a full ID shown to a clinic: {by_pan}");
    let history: Vec<&str> =
        by_pan["history"].as_array().unwrap().iter().map(|e| e["to_state"].as_str().unwrap()).collect();
    assert_eq!(history, ["produced", "issued", "activated"]);
    let (status, by_id) = p.get(&clinic, &format!("/api/v1/cards/{}", folks[0].id)).await;
    assert_eq!((status, by_id["card_no"].as_str()), (200, Some(pan(1).as_str())));
    let (_, elsewhere) = p.app.client(&p.admin, "county_office", &["210802"]).await;
    let (status, _) = p.get(&elsewhere, &format!("/api/v1/cards/{}", pan(1))).await;
    assert_eq!(status, 404);
    let (status, _) = p.post(&elsewhere, &format!("/api/v1/cards/{}/report-loss", pan(1)), json!({})).await;
    assert_eq!(status, 404, "another county's office acts on the card");
    let (status, _) = p.get(&clinic, "/api/v1/cards/6222020000000000000").await;
    assert_eq!(status, 404);

    // Auditors read who leased which orders and who read which card.
    let (_, auditor) = p.app.client(&p.admin, "auditor", &[]).await;
    let (status, log) = p.get(&auditor, "/api/v1/card-access-log").await;
    assert_eq!(status, 200);
    let entries = log["items"].as_array().unwrap();
    let leased = entries.iter().find(|e| e["action"] == "lease" && e["subject"] == lease["lease_id"]).unwrap();
    let mut logged: Vec<String> =
        leased["detail"]["orders"].as_array().unwrap().iter().map(|o| o.as_str().unwrap().to_string()).collect();
    logged.sort();
    let mut expected = ids.clone();
    expected.sort();
    assert_eq!(logged, expected);
    assert!(entries.iter().any(|e| e["action"] == "read_card" && e["role"] == "clinic"));
    let (status, _) = p.get(&p.county, "/api/v1/card-access-log").await;
    assert_eq!(status, 403);

    // The activation reaches settlement.
    let cardmaking = p.app.ops("cardmaking").to_string();
    eventually("activation delivered to settlement", || async {
        let labels = ["destination=\"settlement\"", "result=\"delivered\""];
        metric(&p.app.http, &cardmaking, "healthcard_outbox_deliveries_total", &labels).await > 0.0
    })
    .await;
}

async fn leases_expire_and_concurrent_lessees_never_share_an_order(backend: Backend) {
    let p = Province::new(backend, &[("HEALTHCARD_CARD_LEASE_SECONDS", "2")]).await;
    let folks = people(20);
    p.registered(&folks).await;
    let (_, second) = p.app.client(&p.admin, "card_maker", &["BANK-A"]).await;

    // Two lessees at once, twice: every order goes to exactly one of them.
    let mut seen: Vec<String> = Vec::new();
    let mut first_leases = Vec::new();
    for _ in 0..2 {
        let (a, b) = tokio::join!(p.lease(&p.maker, 7), p.lease(&second, 7));
        seen.extend(order_ids(&a));
        seen.extend(order_ids(&b));
        first_leases.push(a);
    }
    let distinct: HashSet<&String> = seen.iter().collect();
    assert_eq!((seen.len(), distinct.len()), (20, 20), "an order was handed out twice");

    // After the lease ran out, a late result is still taken while no one else holds
    // the order, also once the order is back in the queue (any lease call returns
    // expired orders, here one of a card maker with no counties).
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let (_, other_bank) = p.app.client(&p.admin, "card_maker", &["BANK-B"]).await;
    assert_eq!(p.lease(&other_bank, 100).await["orders"], json!([]));
    let late = &first_leases[0];
    let late_ids = order_ids(late);
    let (status, body) = p.results(&p.maker, late, json!([produced(&late_ids[0], &pan(100))])).await;
    assert_eq!((status, body["recorded"].as_u64()), (200, Some(1)), "{body}");

    // The expired orders go back to the queue and to the next lessee.
    let again = p.lease(&second, 100).await;
    let again_ids: HashSet<String> = order_ids(&again).into_iter().collect();
    assert_eq!(again_ids.len(), 19);
    assert!(!again_ids.contains(&late_ids[0]));
    let (status, body) = p.results(&p.maker, late, json!([produced(&late_ids[1], &pan(101))])).await;
    assert_eq!((status, body["errors"][0]["code"].as_str()), (422, Some("lease_superseded")), "{body}");
    let results: Vec<Value> =
        order_ids(&again).iter().enumerate().map(|(i, o)| produced(o, &pan(200 + i as u32))).collect();
    let (status, body) = p.results(&second, &again, Value::Array(results)).await;
    assert_eq!((status, body["recorded"].as_u64()), (200, Some(19)), "{body}");
    assert_eq!(p.lease(&p.maker, 100).await["orders"], json!([]));
}

async fn a_production_failure_goes_back_for_correction_and_a_new_order(backend: Backend) {
    let p = Province::new(backend, &[]).await;
    let folks = people(1);
    let records = p.registered(&folks).await;
    // A lease retried with its Idempotency-Key is the same lease, not a second one.
    let keyed = || {
        p.app
            .http
            .post(format!("{}/api/v1/card-orders/lease", p.gw))
            .bearer_auth(&p.maker)
            .header("idempotency-key", "lease-2027-001")
            .json(&json!({"limit": 5}))
            .send()
    };
    let (status, lease) = json_of(keyed().await.unwrap()).await;
    assert_eq!((status, order_ids(&lease).len()), (200, 1), "{lease}");
    let (status, replay) = json_of(keyed().await.unwrap()).await;
    assert_eq!((status, &replay), (200, &lease));
    let order = order_ids(&lease)[0].clone();
    let (status, body) =
        p.results(&p.maker, &lease, json!([{"order_id": order, "outcome": "failed", "code": "no_such_code"}])).await;
    assert_eq!((status, body["errors"][0]["code"].as_str()), (422, Some("result_invalid")), "{body}");
    let (status, body) = p
        .results(
            &p.maker,
            &lease,
            json!([{"order_id": order, "outcome": "failed", "code": "bad_address", "message": "门牌号不存在"}]),
        )
        .await;
    assert_eq!((status, body["recorded"].as_u64()), (200, Some(1)), "{body}");

    // The county sees why, corrects the address, and the corrected record is verified
    // again and yields a new order with the new address.
    let record = p.wait_record(&records[0], "production_failed", "failed").await;
    assert_eq!(record["reasons"], json!([{"code": "bad_address", "detail": "门牌号不存在"}]));
    let person = &folks[0];
    let (status, body) = p
        .put(
            &p.county,
            &format!("/api/v1/records/{}", records[0]),
            json!({"name": person.name, "sex": person.sex(), "ethnicity": "01", "id_number": person.id,
                   "address": "辽宁省营口市站前区前进村88号", "ncms_number": "C0000", "phone": "13812345678", "village": "前进村"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let record = p.wait_record(&records[0], "registered", "ordered").await;
    assert_eq!(record["version"], 2);
    assert_ne!(record["card"]["order_id"], order.as_str());
    let lease = p.lease(&p.maker, 5).await;
    let orders = lease["orders"].as_array().unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0]["order_id"], record["card"]["order_id"]);
    assert_eq!(orders[0]["address"], "辽宁省营口市站前区前进村88号");
}

async fn a_lost_card_is_replaced_and_a_dead_card_stays_dead(backend: Backend) {
    let p = Province::new(backend, &[]).await;
    let folks = people(1);
    let records = p.registered(&folks).await;
    let lease = p.lease(&p.maker, 5).await;
    let (status, _) = p.results(&p.maker, &lease, json!([produced(&order_ids(&lease)[0], &pan(1))])).await;
    assert_eq!(status, 200);
    let card = |n: u32, action: &str| format!("/api/v1/cards/{}/{action}", pan(n));
    let (status, body) = p.post(&p.maker, "/api/v1/cards/issue", json!({"card_numbers": [pan(1)]})).await;
    assert_eq!((status, body["issued"].as_u64()), (200, Some(1)), "{body}");
    for (action, state) in [
        ("activate", "activated"),
        ("report-loss", "reported_lost"),
        ("found", "activated"),
        ("report-loss", "reported_lost"),
    ] {
        let (status, body) = p.post(&p.county, &card(1, action), json!({})).await;
        assert_eq!((status, body["state"].as_str()), (200, Some(state)), "{action}: {body}");
    }

    // Replacing kills the old card and orders a new one for the same resident.
    let (status, body) = p.post(&p.county, &card(1, "replace"), json!({"reason": "lost at the market"})).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("replaced")), "{body}");
    let (status, body) = p.post(&p.county, &card(1, "activate"), json!({})).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("card_not_live")), "{body}");
    let lease = p.lease(&p.maker, 5).await;
    let orders = lease["orders"].as_array().unwrap();
    assert_eq!((orders.len(), orders[0]["replaces_card"].as_str()), (1, Some(pan(1).as_str())));
    assert_eq!(orders[0]["citizen_id"], folks[0].id.as_str());
    let (status, _) =
        p.results(&p.maker, &lease, json!([produced(orders[0]["order_id"].as_str().unwrap(), &pan(2))])).await;
    assert_eq!(status, 200);
    let (status, _) = p.post(&p.county, "/api/v1/cards/issue", json!({"card_numbers": [pan(2)]})).await;
    assert_eq!(status, 200);
    let (status, _) = p.post(&p.county, &card(2, "activate"), json!({})).await;
    assert_eq!(status, 200);
    let (_, by_holder) = p.get(&p.county, &format!("/api/v1/cards/{}", folks[0].id)).await;
    assert_eq!(
        (by_holder["card_no"].as_str(), by_holder["state"].as_str()),
        (Some(pan(2).as_str()), Some("activated"))
    );
    let (_, old) = p.get(&p.county, &format!("/api/v1/cards/{}", pan(1))).await;
    assert_eq!(old["state"], "replaced");
    let whos: Vec<&str> =
        old["history"].as_array().unwrap().iter().map(|e| e["actor_role"].as_str().unwrap()).collect();
    assert_eq!(
        whos,
        [
            "card_maker",
            "card_maker",
            "county_office",
            "county_office",
            "county_office",
            "county_office",
            "county_office"
        ]
    );
    p.wait_record(&records[0], "activated", "activated").await;

    // Cancelled (the holder died): the card is dead for good.
    let (status, body) = p.post(&p.county, &card(2, "cancel"), json!({"reason": "lost"})).await;
    assert_eq!((status, body["errors"][0]["code"].as_str()), (422, Some("cancel_reason_invalid")), "{body}");
    let (status, body) = p.post(&p.county, &card(2, "cancel"), json!({"reason": "deceased"})).await;
    assert_eq!((status, body["state"].as_str()), (200, Some("cancelled")), "{body}");
    let (status, body) = p.post(&p.county, &card(2, "replace"), json!({})).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("card_not_live")), "{body}");
    p.wait_record(&records[0], "activated", "cancelled").await;
}

/// Replicas of the card-making service share one PostgreSQL database (SQLite is the
/// single-process embedded mode).
mod replicas {
    mod postgres {
        use super::super::*;

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn two_cardmaking_replicas_never_hand_out_the_same_order() {
            let p = Province::new(Backend::Postgres, &[]).await;
            p.registered(&people(40)).await;
            let gateway = p.gw.clone();
            let mut second = tokio::task::block_in_place(|| {
                p.app.env.start("cardmaking", &[("HEALTHCARD_GATEWAY_URL", gateway.as_str())])
            });
            let replicas = [p.app.service("cardmaking").to_string(), second.url("cardmaking").to_string()];
            let lease = |replica: usize| {
                let url = format!("{}/api/v1/card-orders/lease", replicas[replica]);
                let req = p.app.http.post(url).bearer_auth(&p.maker).json(&json!({"limit": 6}));
                async move { json_of(req.send().await.unwrap()).await }
            };
            let mut seen = Vec::new();
            for _ in 0..4 {
                let ((s0, a), (s1, b)) = tokio::join!(lease(0), lease(1));
                assert_eq!((s0, s1), (200, 200), "{a} {b}");
                seen.extend(order_ids(&a));
                seen.extend(order_ids(&b));
            }
            let distinct: HashSet<&String> = seen.iter().collect();
            assert_eq!((seen.len(), distinct.len()), (40, 40), "an order was handed out twice or lost");
            second.stop();
        }
    }
}
