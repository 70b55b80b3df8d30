//! The platform through the gateway and at the services directly: clients, tokens,
//! scopes, bad input, idempotency, pagination, operational endpoints.

use std::time::{SystemTime, UNIX_EPOCH};

use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(
    admin_creates_a_county_office_whose_token_works_behind_the_gateway,
    bad_tokens_are_refused_at_the_gateway_and_at_the_service,
    revoked_clients_are_refused_at_once_and_then_by_every_service,
    roles_and_scopes_are_enforced,
    bad_input_gets_a_precise_problem,
    token_floods_are_rate_limited,
    idempotency_keys_replay_and_refuse_reuse,
    pagination_walks_every_page_once,
    client_management_validates_and_lists,
    operational_endpoints_answer_on_every_service,
    a_request_can_be_followed_down_to_its_repository_calls,
);

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

async fn kid(app: &TestApp) -> String {
    let jwks: Value =
        app.http.get(format!("{}/.well-known/jwks.json", app.gateway())).send().await.unwrap().json().await.unwrap();
    jwks["keys"][0]["kid"].as_str().unwrap().to_string()
}

fn sign(pem: &[u8], kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_string());
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_pem(pem).unwrap()).unwrap()
}

fn claims(sub: &str, exp: u64, aud: &str, iss: &str) -> Value {
    json!({"iss": iss, "aud": aud, "sub": sub, "role": "county_office", "scopes": ["210804"],
           "iat": now() - 600, "exp": exp, "jti": uuid::Uuid::new_v4().to_string()})
}

async fn open_batch(app: &TestApp, base: &str, token: &str, county: &str) -> reqwest::Response {
    app.http
        .post(format!("{base}/api/v1/batches"))
        .bearer_auth(token)
        .json(&json!({"county_code": county, "title": "2027 enrollment, Zhanqian district"}))
        .send()
        .await
        .unwrap()
}

async fn admin_creates_a_county_office_whose_token_works_behind_the_gateway(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (_, county) = app.client(&admin, "county_office", &["210804"]).await;

    let (status, batch) = json_of(open_batch(&app, app.gateway(), &county, "210804").await).await;
    assert_eq!(status, 201, "{batch}");
    assert_eq!(batch["county_code"], "210804");
    assert_eq!(batch["state"], "open");
    let id = batch["id"].as_str().unwrap();

    // The same token is accepted by the service itself, which verifies it on its own.
    for base in [app.gateway(), app.service("collection")] {
        let r = app.http.get(format!("{base}/api/v1/batches/{id}")).bearer_auth(&county).send().await.unwrap();
        let (status, body) = json_of(r).await;
        assert_eq!((status, body["id"].as_str()), (200, Some(id)), "{body}");
    }
}

async fn bad_tokens_are_refused_at_the_gateway_and_at_the_service(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (county_id, _) = app.client(&admin, "county_office", &["210804"]).await;
    let kid = kid(&app).await;
    let real = app.env.signing_key_pem();
    let forged_key = ed25519_dalek::SigningKey::from_bytes(&[7u8; 32])
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .unwrap();
    let (aud, iss) = ("healthcard-api", "healthcard-gateway");

    let within_leeway = sign(&real, &kid, &claims(&county_id, now() - 5, aud, iss));
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "forged",
            sign(forged_key.as_bytes(), &kid, &claims(&county_id, now() + 600, aud, iss)),
            "token_bad_signature",
        ),
        ("expired beyond leeway", sign(&real, &kid, &claims(&county_id, now() - 120, aud, iss)), "token_expired"),
        (
            "wrong audience",
            sign(&real, &kid, &claims(&county_id, now() + 600, "another-api", iss)),
            "token_wrong_audience",
        ),
        (
            "wrong issuer",
            sign(&real, &kid, &claims(&county_id, now() + 600, aud, "someone-else")),
            "token_wrong_issuer",
        ),
        ("unknown key id", sign(&real, "no-such-kid", &claims(&county_id, now() + 600, aud, iss)), "token_unknown_key"),
        (
            "HMAC with the public key",
            jsonwebtoken::encode(
                &Header { kid: Some(kid.clone()), ..Header::new(Algorithm::HS256) },
                &claims(&county_id, now() + 600, aud, iss),
                &EncodingKey::from_secret(b"public"),
            )
            .unwrap(),
            "token_wrong_algorithm",
        ),
        ("garbage", "not.a.token".to_string(), "malformed_token"),
    ];
    for base in [app.gateway(), app.service("collection")] {
        for (what, token, code) in &cases {
            let r = app.http.get(format!("{base}/api/v1/batches")).bearer_auth(token).send().await.unwrap();
            let body = assert_problem(r, 401, code).await;
            assert!(!body.to_string().contains(token.as_str()), "{what}: the token is echoed");
        }
        let r = app.http.get(format!("{base}/api/v1/batches")).send().await.unwrap();
        assert_problem(r, 401, "missing_token").await;
        let r = app
            .http
            .get(format!("{base}/api/v1/batches"))
            .header("authorization", "Basic YWRtaW46YWRtaW4=")
            .send()
            .await
            .unwrap();
        assert_problem(r, 401, "malformed_authorization").await;
        // A token that expired a few seconds ago is inside the clock-skew leeway.
        let r = app.http.get(format!("{base}/api/v1/batches")).bearer_auth(&within_leeway).send().await.unwrap();
        assert_eq!(r.status(), 200, "within leeway at {base}");
    }
    // Settlement, reached past the gateway, refuses them the same way.
    let settlement = format!("{}/api/v1/enrollments?county=210804&year=2026", app.service("settlement"));
    for (what, token, code) in &cases {
        let r = app.http.get(&settlement).bearer_auth(token).send().await.unwrap();
        let body = assert_problem(r, 401, code).await;
        assert!(!body.to_string().contains(token.as_str()), "{what}: the token is echoed");
    }
    assert_problem(app.http.get(&settlement).send().await.unwrap(), 401, "missing_token").await;
}

async fn revoked_clients_are_refused_at_once_and_then_by_every_service(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (county_id, county) = app.client(&admin, "county_office", &["210804"]).await;
    assert_eq!(open_batch(&app, app.service("collection"), &county, "210804").await.status(), 201);

    let r = app
        .http
        .delete(format!("{}/api/v1/clients/{county_id}", app.gateway()))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    // Refused at the gateway at once, for its token and for new tokens.
    let r = app.http.get(format!("{}/api/v1/batches", app.gateway())).bearer_auth(&county).send().await.unwrap();
    assert_problem(r, 401, "client_revoked").await;
    // Every service learns it through the gateway's outbox. (Services without public
    // routes yet are asked on their message endpoint: authentication comes before the
    // role check, so a live county token gets 403 there, a revoked one 401.)
    for service in ["collection", "verification", "cardmaking", "settlement"] {
        let base = app.service(service).to_string();
        let http = app.http.clone();
        let token = county.clone();
        let r = http
            .post(format!("{base}/internal/v1/messages"))
            .bearer_auth(&token)
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        let (status, body) = json_of(r).await;
        assert!(status == 403 || status == 401, "{service}: {status} {body}");
        eventually(&format!("{service} refuses the revoked client"), move || {
            let (http, base, token) = (http.clone(), base.clone(), token.clone());
            async move {
                let r = http
                    .post(format!("{base}/internal/v1/messages"))
                    .bearer_auth(&token)
                    .json(&json!({}))
                    .send()
                    .await
                    .unwrap();
                let (status, body) = json_of(r).await;
                status == 401 && body["code"] == "client_revoked"
            }
        })
        .await;
    }
    // Every service applied the revocation; the gateway marks each message delivered
    // once the service has answered.
    let (http, gw) = (app.http.clone(), app.ops("gateway").to_string());
    eventually("the gateway's outbox is empty", move || {
        let (http, gw) = (http.clone(), gw.clone());
        async move { metric(&http, &gw, "healthcard_outbox_backlog", &[]).await == 0.0 }
    })
    .await;
    let delivered =
        || metric(&app.http, app.ops("gateway"), "healthcard_outbox_deliveries_total", &["result=\"delivered\""]);
    let before = delivered().await;
    assert!(before >= 4.0, "one revocation delivered to each service: {before}");
    // Revoking again changes nothing and sends nothing more: no message waits, and none
    // went out meanwhile.
    let r = app
        .http
        .delete(format!("{}/api/v1/clients/{county_id}", app.gateway()))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(metric(&app.http, app.ops("gateway"), "healthcard_outbox_backlog", &[]).await, 0.0);
    assert_eq!(delivered().await, before);
}

async fn roles_and_scopes_are_enforced(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (_, yingkou) = app.client(&admin, "county_office", &["210804"]).await;
    let (_, dalian) = app.client(&admin, "county_office", &["210211"]).await;
    let (_, clinic) = app.client(&admin, "clinic", &["H21080400001"]).await;
    let (_, auditor) = app.client(&admin, "auditor", &[]).await;

    let (_, batch) = json_of(open_batch(&app, app.gateway(), &yingkou, "210804").await).await;
    let id = batch["id"].as_str().unwrap();
    // Another county's batch does not exist for Dalian, through the gateway or directly.
    for base in [app.gateway(), app.service("collection")] {
        let r = app.http.get(format!("{base}/api/v1/batches/{id}")).bearer_auth(&dalian).send().await.unwrap();
        assert_problem(r, 404, "not_found").await;
    }
    let (_, list) =
        json_of(app.http.get(format!("{}/api/v1/batches", app.gateway())).bearer_auth(&dalian).send().await.unwrap())
            .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 0);
    // The auditor reads every county.
    let r = app.http.get(format!("{}/api/v1/batches/{id}", app.gateway())).bearer_auth(&auditor).send().await.unwrap();
    assert_eq!(r.status(), 200);
    // Opening a batch for a county the office does not hold.
    let body = assert_problem(open_batch(&app, app.gateway(), &dalian, "210804").await, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "county_code");
    assert_eq!(body["errors"][0]["code"], "county_not_allowed");
    // Wrong roles.
    assert_problem(open_batch(&app, app.gateway(), &clinic, "210804").await, 403, "role_not_allowed").await;
    assert_problem(open_batch(&app, app.gateway(), &auditor, "210804").await, 403, "role_not_allowed").await;
    let r = app
        .http
        .post(format!("{}/api/v1/clients", app.gateway()))
        .bearer_auth(&yingkou)
        .json(&json!({"name": "x", "role": "auditor", "scopes": []}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 403, "role_not_allowed").await;
    let r = app.http.get(format!("{}/api/v1/clients", app.gateway())).bearer_auth(&clinic).send().await.unwrap();
    assert_problem(r, 403, "role_not_allowed").await;
    // Internal message endpoints take only service tokens.
    let r = app.http.post(format!("{}/internal/v1/messages", app.service("collection"))).bearer_auth(&admin)
        .json(&json!({"id": uuid::Uuid::new_v4(), "source": "gateway", "kind": "client_revoked", "created_at": "2026-11-22T00:00:00Z", "payload": {}}))
        .send().await.unwrap();
    assert_problem(r, 403, "role_not_allowed").await;
}

async fn bad_input_gets_a_precise_problem(backend: Backend) {
    let env = TestEnv::new(backend).with("HEALTHCARD_MAX_BODY_BYTES", "65536");
    let app = TestApp::spawn_with(env).await;
    let admin = app.admin_token().await;
    let (_, county) = app.client(&admin, "county_office", &["210804"]).await;
    let gw = app.gateway();
    let batches = format!("{gw}/api/v1/batches");

    let r = app
        .http
        .post(&batches)
        .bearer_auth(&county)
        .header("content-type", "application/json")
        .body("{\"county_code\": ")
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "malformed_json").await;
    let r = app
        .http
        .post(&batches)
        .bearer_auth(&county)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_problem(r, 415, "unsupported_media_type").await;
    let r = app.http.post(&batches).bearer_auth(&county).json(&json!({"title": "no county"})).send().await.unwrap();
    assert_problem(r, 400, "invalid_body").await;
    let r = app
        .http
        .post(&batches)
        .bearer_auth(&county)
        .json(&json!({"county_code": 210804, "title": "x"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "invalid_body").await;
    let r = app
        .http
        .post(&batches)
        .bearer_auth(&county)
        .json(&json!({"county_code": "210804", "title": "  "}))
        .send()
        .await
        .unwrap();
    let body = assert_problem(r, 422, "validation_failed").await;
    assert_eq!(body["errors"][0]["code"], "title_invalid");
    // Unknown routes and methods, through the gateway and at a service.
    assert_problem(
        app.http.get(format!("{gw}/api/v1/no-such-thing")).bearer_auth(&county).send().await.unwrap(),
        404,
        "route_not_found",
    )
    .await;
    assert_problem(app.http.get(format!("{gw}/nowhere")).send().await.unwrap(), 404, "route_not_found").await;
    assert_problem(
        app.http.get(format!("{}/api/v1/nowhere", app.service("settlement"))).send().await.unwrap(),
        404,
        "route_not_found",
    )
    .await;
    assert_problem(
        app.http.put(format!("{gw}/api/v1/clients")).bearer_auth(&admin).send().await.unwrap(),
        405,
        "method_not_allowed",
    )
    .await;
    assert_problem(app.http.delete(&batches).bearer_auth(&county).send().await.unwrap(), 405, "method_not_allowed")
        .await;
    // A path id of the wrong shape names nothing.
    assert_problem(
        app.http.get(format!("{batches}/not-a-batch")).bearer_auth(&county).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    // Bodies over the limits: the gateway's (declared length and streamed), a service's
    // JSON limit, and a 10 MB client secret.
    let big = "x".repeat(100_000);
    let r = app
        .http
        .post(&batches)
        .bearer_auth(&county)
        .header("content-type", "application/json")
        .body(big.clone())
        .send()
        .await
        .unwrap();
    assert_problem(r, 413, "body_too_large").await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..20).map(|_| Ok(vec![b' '; 10_000])).collect();
    let r = app
        .http
        .post(&batches)
        .bearer_auth(&county)
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_problem(r, 413, "body_too_large").await;
    let r = app
        .http
        .post(format!("{}/api/v1/batches", app.service("collection")))
        .bearer_auth(&county)
        .header("content-type", "application/json")
        .body(" ".repeat(2 * 1024 * 1024))
        .send()
        .await
        .unwrap();
    assert_problem(r, 413, "body_too_large").await;
    // A service's message endpoint takes messages over that limit (chunk messages), and
    // refuses what is over its own.
    let service = app.service_token().await;
    let messages = format!("{}/internal/v1/messages", app.service("collection"));
    let envelope = |filler: usize| {
        json!({"id": uuid::Uuid::new_v4(), "source": "verification", "kind": "no_such_kind",
               "created_at": "2026-12-02T08:00:00Z", "payload": {"filler": "x".repeat(filler)}})
    };
    let r = app.http.post(&messages).bearer_auth(&service).json(&envelope(2 * 1024 * 1024)).send().await.unwrap();
    assert_problem(r, 422, "unknown_message_kind").await;
    let r = app.http.post(&messages).bearer_auth(&service).json(&envelope(5 * 1024 * 1024)).send().await.unwrap();
    assert_problem(r, 413, "body_too_large").await;
    let huge_secret = json!({"client_id": uuid::Uuid::new_v4(), "client_secret": "s".repeat(10 * 1024 * 1024)});
    let r = app.http.post(format!("{gw}/api/v1/auth/token")).json(&huge_secret).send().await.unwrap();
    assert_problem(r, 413, "body_too_large").await;
    // Wrong credentials: one answer whatever is wrong.
    for body in [
        json!({"client_id": uuid::Uuid::new_v4(), "client_secret": "guess"}),
        json!({"client_id": "'; DROP TABLE api_clients; --", "client_secret": "guess"}),
        json!({"client_id": uuid::Uuid::new_v4(), "client_secret": "s".repeat(300)}),
    ] {
        let r = app.http.post(format!("{gw}/api/v1/auth/token")).json(&body).send().await.unwrap();
        assert_problem(r, 401, "invalid_client").await;
    }
    let r = app
        .http
        .post(format!("{gw}/api/v1/auth/token"))
        .json(&json!({"client_id": "a", "client_secret": "b", "grant_type": "password"}))
        .send()
        .await
        .unwrap();
    assert_problem(r, 400, "unsupported_grant_type").await;
    // Request ids: ours when none is given, the caller's when it is plain, ours when not.
    let r = app.http.get(format!("{gw}/healthz")).header("x-request-id", "county-210804-42").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "county-210804-42");
    let r = app.http.get(format!("{gw}/healthz")).header("x-request-id", "bad id with spaces").send().await.unwrap();
    assert_ne!(r.headers()["x-request-id"], "bad id with spaces");
    // Still alive after all that.
    assert_eq!(app.http.get(format!("{gw}/healthz")).send().await.unwrap().status(), 200);
}

async fn token_floods_are_rate_limited(backend: Backend) {
    let env =
        TestEnv::new(backend).with("HEALTHCARD_RATE_LIMIT_PER_SECOND", "1").with("HEALTHCARD_RATE_LIMIT_BURST", "3");
    let app = TestApp::spawn_with(env).await;
    let mut limited = None;
    for _ in 0..10 {
        let r = app
            .http
            .post(format!("{}/api/v1/auth/token", app.gateway()))
            .json(&json!({"client_id": uuid::Uuid::new_v4(), "client_secret": "guess"}))
            .send()
            .await
            .unwrap();
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
        assert_problem(r, 401, "invalid_client").await;
    }
    let r = limited.expect("no 429 in a flood of 10 requests with a burst of 3");
    let retry_after: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry_after >= 1);
    assert_problem(r, 429, "rate_limited").await;
}

async fn idempotency_keys_replay_and_refuse_reuse(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (_, county) = app.client(&admin, "county_office", &["210804"]).await;
    let url = format!("{}/api/v1/batches", app.gateway());
    let body = json!({"county_code": "210804", "title": "batch A"});
    let post = |key: &'static str, body: Value| {
        app.http.post(&url).bearer_auth(&county).header("idempotency-key", key).json(&body).send()
    };

    let first = post("key-1", body.clone()).await.unwrap();
    assert!(first.headers().get("idempotent-replayed").is_none());
    let (status, first) = json_of(first).await;
    assert_eq!(status, 201);
    let again = post("key-1", body.clone()).await.unwrap();
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let (status, again) = json_of(again).await;
    assert_eq!((status, &again), (201, &first));
    assert_problem(
        post("key-1", json!({"county_code": "210804", "title": "batch B"})).await.unwrap(),
        422,
        "idempotency_key_reused",
    )
    .await;
    // A refused request is replayed as refused.
    let bad = json!({"county_code": "999999", "title": "x"});
    assert_problem(post("key-2", bad.clone()).await.unwrap(), 422, "validation_failed").await;
    // Concurrent duplicates: one effect; the others replay it or are told it is in progress.
    let concurrent = json!({"county_code": "210804", "title": "batch C"});
    let answers = futures_util::future::join_all((0..8).map(|_| post("key-3", concurrent.clone()))).await;
    let mut ids = std::collections::HashSet::new();
    for r in answers {
        let (status, body) = json_of(r.unwrap()).await;
        match status {
            201 => {
                ids.insert(body["id"].as_str().unwrap().to_string());
            }
            409 => assert_eq!(body["code"], "idempotency_key_in_progress"),
            other => panic!("unexpected {other}: {body}"),
        }
    }
    assert_eq!(ids.len(), 1, "one batch for one key");
    // The same key of another client is another key.
    let (_, other_office) = app.client(&admin, "county_office", &["210804"]).await;
    let r = app
        .http
        .post(&url)
        .bearer_auth(&other_office)
        .header("idempotency-key", "key-1")
        .json(&body)
        .send()
        .await
        .unwrap();
    let (status, other) = json_of(r).await;
    assert_eq!(status, 201);
    assert_ne!(other["id"], first["id"]);
    let (_, list) = json_of(app.http.get(&url).bearer_auth(&county).send().await.unwrap()).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 3, "batch A, batch C and the other office's: {list}");
    let r = app.http.post(&url).bearer_auth(&county).header("idempotency-key", "").json(&body).send().await.unwrap();
    assert_problem(r, 400, "invalid_idempotency_key").await;
}

async fn pagination_walks_every_page_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let (_, county) = app.client(&admin, "county_office", &["210804"]).await;
    let mut created = Vec::new();
    for _ in 0..5 {
        let (_, b) = json_of(open_batch(&app, app.gateway(), &county, "210804").await).await;
        created.push(b["id"].as_str().unwrap().to_string());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut url = format!("{}/api/v1/batches?limit=2", app.gateway());
        if let Some(c) = &cursor {
            url.push_str(&format!("&cursor={c}"));
        }
        let (status, page) = json_of(app.http.get(url).bearer_auth(&county).send().await.unwrap()).await;
        assert_eq!(status, 200, "{page}");
        pages += 1;
        for item in page["items"].as_array().unwrap() {
            seen.push(item["id"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, created, "every batch once, in creation order");
    for (query, code) in [
        ("limit=0", "invalid_limit"),
        ("limit=1001", "invalid_limit"),
        ("limit=x", "invalid_query"),
        ("cursor=%%%", "invalid_cursor"),
        ("cursor=bm9wZQ", "invalid_cursor"),
    ] {
        let r = app
            .http
            .get(format!("{}/api/v1/batches?{query}", app.gateway()))
            .bearer_auth(&county)
            .send()
            .await
            .unwrap();
        assert_problem(r, 400, code).await;
    }
}

async fn client_management_validates_and_lists(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let admin = app.admin_token().await;
    let url = format!("{}/api/v1/clients", app.gateway());
    let cases = [
        (json!({"name": "x", "role": "superuser", "scopes": []}), "role", "role_unknown"),
        (json!({"name": "x", "role": "service", "scopes": []}), "role", "role_unknown"),
        (json!({"name": "x", "role": "county_office", "scopes": []}), "scopes", "scopes_required"),
        (json!({"name": "x", "role": "county_office", "scopes": ["2108"]}), "scopes[0]", "county_code_invalid"),
        (json!({"name": "x", "role": "clinic", "scopes": []}), "scopes", "scopes_exactly_one"),
        (json!({"name": "x", "role": "auditor", "scopes": ["210804"]}), "scopes", "scopes_not_allowed"),
        (json!({"name": "", "role": "auditor", "scopes": []}), "name", "name_invalid"),
    ];
    for (body, field, code) in cases {
        let r = app.http.post(&url).bearer_auth(&admin).json(&body).send().await.unwrap();
        let problem = assert_problem(r, 422, "validation_failed").await;
        let errors = problem["errors"].as_array().unwrap();
        assert!(errors.iter().any(|e| e["field"] == field && e["code"] == code), "{body} -> {problem}");
    }
    let (id, _) = create_client(&app.http, app.gateway(), &admin, "bank", &["ICBC-LN"]).await;
    let (_, list) = json_of(app.http.get(&url).bearer_auth(&admin).send().await.unwrap()).await;
    let listed = list["items"].as_array().unwrap();
    assert_eq!(listed.len(), 2, "the admin and the bank: {list}");
    assert!(listed.iter().all(|c| c.get("client_secret").is_none() && c.get("secret_hash").is_none()));
    let r = app.http.delete(format!("{url}/{}", uuid::Uuid::new_v4())).bearer_auth(&admin).send().await.unwrap();
    assert_problem(r, 404, "not_found").await;
    let claims: Value = serde_json::from_slice(&base64_decode(admin.split('.').nth(1).unwrap())).unwrap();
    let r =
        app.http.delete(format!("{url}/{}", claims["sub"].as_str().unwrap())).bearer_auth(&admin).send().await.unwrap();
    assert_problem(r, 409, "cannot_revoke_self").await;
    assert_eq!(app.http.delete(format!("{url}/{id}")).bearer_auth(&admin).send().await.unwrap().status(), 204);
    let (_, list) = json_of(app.http.get(&url).bearer_auth(&admin).send().await.unwrap()).await;
    let bank = list["items"].as_array().unwrap().iter().find(|c| c["client_id"] == id.as_str()).unwrap().clone();
    assert!(bank["revoked_at"].is_string());
}

fn base64_decode(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).unwrap()
}

async fn operational_endpoints_answer_on_every_service(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let expected_db = match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    };
    for service in SERVICES {
        // Liveness on the API port too, for load balancers; nothing else there.
        let base = app.service(service);
        let (status, body) = json_of(app.http.get(format!("{base}/healthz")).send().await.unwrap()).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
        for path in ["/readyz", "/metrics"] {
            let r = app.http.get(format!("{base}{path}")).send().await.unwrap();
            assert_problem(r, 404, "route_not_found").await;
        }

        let ops = app.ops(service);
        assert!(ops.starts_with("http://127.0.0.1:"), "{service}: {ops}");
        assert_ne!(ops, base);
        let (status, body) = json_of(app.http.get(format!("{ops}/healthz")).send().await.unwrap()).await;
        assert_eq!((status, body["status"].as_str()), (200, Some("ok")));
        let (status, body) = json_of(app.http.get(format!("{ops}/readyz")).send().await.unwrap()).await;
        assert_eq!((status, body["database"].as_str()), (200, Some(expected_db)), "{service}: {body}");
        let r = app.http.get(format!("{ops}/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        let text = r.text().await.unwrap();
        for name in [
            "healthcard_http_requests_total",
            "healthcard_http_request_duration_seconds_bucket",
            "healthcard_db_pool_connections",
            "healthcard_outbox_backlog",
            "healthcard_outbox_oldest_age_seconds",
        ] {
            assert!(text.contains(name), "{service} /metrics lacks {name}");
        }
        assert!(text.contains(&format!("service=\"{service}\"")));
        // The API of a service is not served on its operations listener.
        let r = app.http.get(format!("{ops}/api/v1/batches")).send().await.unwrap();
        assert_problem(r, 404, "route_not_found").await;
    }
    // Requests are counted per route pattern, never per concrete path, on the API port
    // as on the operations listener.
    let text = app.http.get(format!("{}/metrics", app.ops("gateway"))).send().await.unwrap().text().await.unwrap();
    assert!(text.contains("route=\"/healthz\""));
    assert!(text.contains("route=\"/readyz\""));
}

/// With repository spans on (`healthcard=debug`) and span closings logged, the log of
/// one request, found by its request id, names the caller's client id and shows the
/// handler and the repository call beneath it, each with the time it took.
async fn a_request_can_be_followed_down_to_its_repository_calls(backend: Backend) {
    let env =
        TestEnv::new(backend).with("HEALTHCARD_LOG", "info,healthcard=debug").with("HEALTHCARD_LOG_SPANS", "close");
    let app = TestApp::spawn_with(env).await;
    let admin = app.admin_token().await;
    let (client_id, county) = app.client(&admin, "county_office", &["210804"]).await;
    let request_id = format!("trace-{}", uuid::Uuid::new_v4());
    let r = app
        .http
        .post(format!("{}/api/v1/batches", app.gateway()))
        .bearer_auth(&county)
        .header("x-request-id", &request_id)
        .json(&json!({"county_code": "210804", "title": "traced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let log = app.proc.log();
    let lines: Vec<Value> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["spans"].as_array().is_some_and(|spans| {
                spans.iter().any(|s| s["name"] == "request" && s["request_id"] == request_id.as_str())
            })
        })
        .collect();
    let closed = |name: &str| {
        lines.iter().any(|v| {
            let spans = v["spans"].as_array().unwrap();
            v["message"] == "close"
                && v["time.busy"].is_string()
                && v["span"]["name"] == name
                && spans.iter().any(|s| s["name"] == "request" && s["client_id"] == client_id.as_str())
        })
    };
    assert!(closed("open"), "no closed handler span for {request_id}:\n{log}");
    assert!(closed("insert_batch"), "no closed repository span for {request_id}:\n{log}");
}
