//! The outbox and inbox between real processes: a receiver that is down, a message
//! delivered twice, and a sender that dies between sending and marking.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    a_message_waits_while_its_receiver_is_down,
    a_message_delivered_twice_has_one_effect,
    a_crash_between_send_and_mark_redelivers_without_a_second_effect,
);

/// Env for a gateway whose upstreams are at `ports` (nothing listens on those not
/// started by the test).
fn upstream_urls(ports: &[(&str, u16)]) -> Vec<(String, String)> {
    ports
        .iter()
        .map(|(s, p)| (format!("HEALTHCARD_{}_URL", s.to_uppercase()), format!("http://127.0.0.1:{p}")))
        .collect()
}

fn as_refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

async fn revoke(http: &reqwest::Client, gateway: &str, admin: &str, id: &str) {
    let r = http.delete(format!("{gateway}/api/v1/clients/{id}")).bearer_auth(admin).send().await.unwrap();
    assert_eq!(r.status(), 204);
}

async fn refused_as_revoked(http: &reqwest::Client, base: &str, token: &str) -> bool {
    let r = http.get(format!("{base}/api/v1/batches")).bearer_auth(token).send().await.unwrap();
    let (status, body) = json_of(r).await;
    status == 401 && body["code"] == "client_revoked"
}

async fn a_message_waits_while_its_receiver_is_down(backend: Backend) {
    let env = TestEnv::new(backend);
    let http = client();
    let ports: Vec<(&str, u16)> =
        ["collection", "verification", "cardmaking", "settlement"].iter().map(|s| (*s, free_port())).collect();
    let gateway = tokio::task::block_in_place(|| env.start("gateway", &as_refs(&upstream_urls(&ports))));
    let gw = gateway.url("gateway").to_string();
    let (admin_id, admin_secret) = tokio::task::block_in_place(|| env.cli_client("provincial_admin", &[]));
    let admin = token(&http, &gw, &admin_id, &admin_secret).await;
    let (county_id, county_secret) = create_client(&http, &gw, &admin, "county_office", &["210804"]).await;
    let county = token(&http, &gw, &county_id, &county_secret).await;

    revoke(&http, &gw, &admin, &county_id).await;
    let gw_ops = gateway.ops_url("gateway").to_string();
    // Nobody is listening: the four messages stay in the outbox and are retried.
    let (h, g) = (http.clone(), gw_ops.clone());
    eventually("delivery attempts fail while collection is down", move || {
        let (h, g) = (h.clone(), g.clone());
        async move {
            metric(&h, &g, "healthcard_outbox_deliveries_total", &["destination=\"collection\"", "result=\"failed\""])
                .await
                >= 1.0
        }
    })
    .await;
    assert_eq!(metric(&http, &gw_ops, "healthcard_outbox_backlog", &[]).await, 4.0);

    // Collection comes up on its port and gets the message on a retry.
    let collection_port = ports[0].1.to_string();
    let listen = format!("127.0.0.1:{collection_port}");
    let jwks = format!("{gw}/.well-known/jwks.json");
    let collection = tokio::task::block_in_place(|| {
        env.start(
            "collection",
            &[("HEALTHCARD_COLLECTION_LISTEN", listen.as_str()), ("HEALTHCARD_JWKS_URL", jwks.as_str())],
        )
    });
    let base = collection.url("collection").to_string();
    let (h, b, t) = (http.clone(), base.clone(), county.clone());
    eventually("collection refuses the revoked client", move || {
        let (h, b, t) = (h.clone(), b.clone(), t.clone());
        async move { refused_as_revoked(&h, &b, &t).await }
    })
    .await;
    let collection_ops = collection.ops_url("collection");
    assert_eq!(metric(&http, collection_ops, "healthcard_inbox_messages_total", &["result=\"applied\""]).await, 1.0);
    // The other three receivers are still down: their messages still wait.
    let (h, g) = (http.clone(), gw_ops.clone());
    eventually("only the delivered message left the backlog", move || {
        let (h, g) = (h.clone(), g.clone());
        async move { metric(&h, &g, "healthcard_outbox_backlog", &[]).await == 3.0 }
    })
    .await;
}

async fn a_message_delivered_twice_has_one_effect(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (county_id, county) = app.client(&admin, "county_office", &["210804"]).await;
    let service = app.service_token().await;
    let collection = app.service("collection");
    let envelope = json!({
        "id": uuid::Uuid::now_v7(), "source": "gateway", "kind": "client_revoked",
        "created_at": "2026-11-22T08:00:00Z",
        "payload": {"client_id": county_id, "revoked_at": "2026-11-22T08:00:00Z"}
    });
    let send = |body: Value| {
        app.http.post(format!("{collection}/internal/v1/messages")).bearer_auth(&service).json(&body).send()
    };

    let (status, first) = json_of(send(envelope.clone()).await.unwrap()).await;
    assert_eq!((status, first["receipt"].as_str()), (200, Some("applied")));
    let (status, second) = json_of(send(envelope.clone()).await.unwrap()).await;
    assert_eq!((status, second["receipt"].as_str()), (200, Some("duplicate")));
    let ops = app.ops("collection");
    assert_eq!(metric(&app.http, ops, "healthcard_inbox_messages_total", &["result=\"applied\""]).await, 1.0);
    assert_eq!(metric(&app.http, ops, "healthcard_inbox_messages_total", &["result=\"duplicate\""]).await, 1.0);
    // The effect: collection refuses the client; the gateway, which was not told, does not.
    assert!(refused_as_revoked(&app.http, collection, &county).await);
    let r = app
        .http
        .get(format!("{}/api/v1/batches", app.service("settlement")))
        .bearer_auth(&county)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404, "settlement was not told either (and has no batches route)");

    // A kind the service does not take, and a payload of the wrong shape, are refused
    // and leave no inbox record (the sender will retry them).
    let mut unknown = envelope.clone();
    unknown["id"] = json!(uuid::Uuid::now_v7());
    unknown["kind"] = json!("no_such_kind");
    assert_problem(send(unknown.clone()).await.unwrap(), 422, "unknown_message_kind").await;
    assert_problem(send(unknown).await.unwrap(), 422, "unknown_message_kind").await;
    let mut bad = envelope.clone();
    bad["id"] = json!(uuid::Uuid::now_v7());
    bad["payload"] = json!({"client": 1});
    assert_problem(send(bad).await.unwrap(), 422, "invalid_message").await;
}

async fn a_crash_between_send_and_mark_redelivers_without_a_second_effect(backend: Backend) {
    let env = TestEnv::new(backend);
    let http = client();
    let gateway_port = free_port();
    let jwks = format!("http://127.0.0.1:{gateway_port}/.well-known/jwks.json");
    let collection = tokio::task::block_in_place(|| env.start("collection", &[("HEALTHCARD_JWKS_URL", jwks.as_str())]));
    let collection_url = collection.url("collection").to_string();
    let collection_ops = collection.ops_url("collection").to_string();
    let collection_port: u16 = collection_url.rsplit(':').next().unwrap().parse().unwrap();
    let mut ports: Vec<(&str, u16)> =
        ["verification", "cardmaking", "settlement"].iter().map(|s| (*s, free_port())).collect();
    ports.push(("collection", collection_port));
    let mut gateway_env = upstream_urls(&ports);
    gateway_env.push(("HEALTHCARD_GATEWAY_LISTEN".into(), format!("127.0.0.1:{gateway_port}")));
    gateway_env.push(("HEALTHCARD_OUTBOX_LEASE_SECONDS".into(), "1".into()));
    let mut crashing_env = gateway_env.clone();
    crashing_env.push(("HEALTHCARD_FAULT_EXIT_AFTER_SEND".into(), "1".into()));

    let mut gateway = tokio::task::block_in_place(|| env.start("gateway", &as_refs(&crashing_env)));
    let gw = gateway.url("gateway").to_string();
    let (admin_id, admin_secret) = tokio::task::block_in_place(|| env.cli_client("provincial_admin", &[]));
    let admin = token(&http, &gw, &admin_id, &admin_secret).await;
    let (county_id, county_secret) = create_client(&http, &gw, &admin, "county_office", &["210804"]).await;
    let county = token(&http, &gw, &county_id, &county_secret).await;
    revoke(&http, &gw, &admin, &county_id).await;

    // The gateway sends to collection, which applies it, and dies before marking it sent.
    let status = tokio::task::block_in_place(|| gateway.wait_exit(Duration::from_secs(60)));
    assert_eq!(status.code(), Some(86), "the fault was not injected: {}", gateway.log());
    assert!(refused_as_revoked(&http, &collection_url, &county).await);
    assert_eq!(metric(&http, &collection_ops, "healthcard_inbox_messages_total", &["result=\"applied\""]).await, 1.0);

    // Restarted, it still holds the message as undelivered and sends it again; the
    // receiver recognises it and does nothing twice.
    let gateway = tokio::task::block_in_place(|| env.start("gateway", &as_refs(&gateway_env)));
    let (h, c) = (http.clone(), collection_ops.clone());
    eventually("the message is redelivered", move || {
        let (h, c) = (h.clone(), c.clone());
        async move { metric(&h, &c, "healthcard_inbox_messages_total", &["result=\"duplicate\""]).await == 1.0 }
    })
    .await;
    assert_eq!(metric(&http, &collection_ops, "healthcard_inbox_messages_total", &["result=\"applied\""]).await, 1.0);
    let gw_ops = gateway.ops_url("gateway").to_string();
    let (h, g) = (http.clone(), gw_ops.clone());
    eventually("the redelivered message is marked delivered", move || {
        let (h, g) = (h.clone(), g.clone());
        async move {
            metric(
                &h,
                &g,
                "healthcard_outbox_deliveries_total",
                &["destination=\"collection\"", "result=\"delivered\""],
            )
            .await
                == 1.0
        }
    })
    .await;
    assert!(refused_as_revoked(&http, &collection_url, &county).await);
}
