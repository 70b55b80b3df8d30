//! The gateway's signing key as an operator handles it: the key file is PKCS#8 v1,
//! which OpenSSL reads, and `healthcard keys rotate` replaces the key under a running
//! system, without a restart. Tokens of the replaced key stay valid until its
//! retirement, at the gateway and at the services; after it they are refused.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(a_rotated_key_keeps_its_tokens_valid_until_it_retires);

/// Seconds the replaced key stays: ample for the checks made before its retirement.
const RETIRE_AFTER: &str = "20";

async fn jwks(app: &TestApp) -> Vec<(String, String)> {
    let r = app.http.get(format!("{}/.well-known/jwks.json", app.gateway())).send().await.unwrap();
    let body: Value = r.json().await.unwrap();
    let keys = body["keys"].as_array().unwrap().iter();
    keys.map(|k| (k["kid"].as_str().unwrap().to_string(), k["x"].as_str().unwrap().to_string())).collect()
}

fn kids(keys: &[(String, String)]) -> Vec<&str> {
    keys.iter().map(|(kid, _)| kid.as_str()).collect()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

async fn list_batches(app: &TestApp, base: &str, token: &str) -> reqwest::Response {
    app.http.get(format!("{base}/api/v1/batches")).bearer_auth(token).send().await.unwrap()
}

/// The public key that `openssl pkey` derives from the key file, base64url as in a
/// JWK; `None` where openssl is not installed.
fn openssl_public_x(key_file: &Path) -> Option<String> {
    use base64::Engine;
    let text = std::process::Command::new("openssl")
        .args(["pkey", "-in"])
        .arg(key_file)
        .args(["-noout", "-text"])
        .output()
        .ok()?;
    assert!(text.status.success(), "openssl pkey: {}", String::from_utf8_lossy(&text.stderr));
    let der = std::process::Command::new("openssl")
        .args(["pkey", "-in"])
        .arg(key_file)
        .args(["-pubout", "-outform", "DER"])
        .output()
        .unwrap();
    assert!(der.status.success());
    // An Ed25519 SubjectPublicKeyInfo: 12 fixed bytes, then the 32-byte key.
    assert_eq!(der.stdout.len(), 44);
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&der.stdout[12..]))
}

fn unknown_kid_token(sub: &str) -> String {
    use ed25519_dalek::pkcs8::EncodePrivateKey;
    let pem = ed25519_dalek::SigningKey::from_bytes(&[5u8; 32])
        .to_pkcs8_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
        .unwrap();
    let now = Utc::now().timestamp();
    let claims = serde_json::json!({"iss": "healthcard-gateway", "aud": "healthcard-api", "sub": sub,
        "role": "county_office", "scopes": ["210804"], "iat": now, "exp": now + 300, "jti": "x"});
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
    header.kid = Some("no-such-kid".into());
    jsonwebtoken::encode(&header, &claims, &jsonwebtoken::EncodingKey::from_ed_pem(pem.as_bytes()).unwrap()).unwrap()
}

async fn a_rotated_key_keeps_its_tokens_valid_until_it_retires(backend: Backend) {
    // Services fetch the JWKS every 5 seconds (a minute by default), so that the test
    // waits little for them to drop the retired key.
    let app = TestApp::spawn_with(TestEnv::new(backend).with("HEALTHCARD_JWKS_REFRESH_SECONDS", "5")).await;
    let admin = app.admin_token().await;
    let (county_id, county_secret) =
        create_client(&app.http, app.gateway(), &admin, "county_office", &["210804"]).await;
    let before = token(&app.http, app.gateway(), &county_id, &county_secret).await;
    let first = jwks(&app).await;
    assert_eq!(kids(&first), [kid_of(&before).as_str()]);
    let key_file = app.env.data_dir.path().join("keys/jwt-ed25519.pem");
    match openssl_public_x(&key_file) {
        Some(x) => assert_eq!(x, first[0].1, "openssl reads another key than the one published"),
        None => eprintln!("openssl is not installed: the key file was not read with it"),
    }
    let (gateway, collection) = (app.gateway(), app.service("collection"));
    for base in [gateway, collection] {
        assert_eq!(list_batches(&app, base, &before).await.status(), 200);
    }

    let out = tokio::task::block_in_place(|| app.env.cli(&["keys", "rotate", "--retire-after", RETIRE_AFTER]));
    assert!(out.status.success(), "keys rotate: {}", String::from_utf8_lossy(&out.stderr));
    let rotation: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rotation["event"], "rotated");
    assert_eq!(rotation["replaced_kid"].as_str(), Some(first[0].0.as_str()));
    let new_kid = rotation["current_kid"].as_str().unwrap().to_string();
    let retire_at: DateTime<Utc> = rotation["retire_at"].as_str().unwrap().parse().unwrap();
    // A token with a key id nobody has makes collection fetch the JWKS now, most likely
    // before the gateway took the new key up: the first token of the new key, soon
    // after, must still be waited for rather than refused as unknown.
    let unknown = unknown_kid_token(&county_id);
    assert_problem(list_batches(&app, collection, &unknown).await, 401, "token_unknown_key").await;

    // The running gateway takes the new key up by itself and publishes both.
    let expected = [new_kid.as_str(), first[0].0.as_str()];
    eventually("the JWKS lists the new key, then the replaced one", || async { kids(&jwks(&app).await) == expected })
        .await;
    let after = token(&app.http, app.gateway(), &county_id, &county_secret).await;
    assert_eq!(kid_of(&after), new_kid);
    for base in [collection, gateway] {
        assert_eq!(list_batches(&app, base, &before).await.status(), 200, "{base}: a token of the replaced key");
        assert_eq!(list_batches(&app, base, &after).await.status(), 200, "{base}: a token of the new key");
    }
    assert!(Utc::now() < retire_at, "the checks before the retirement ended after it: they proved nothing");
    let published = jwks(&app).await;
    if let Some(x) = openssl_public_x(&key_file) {
        assert_eq!(x, published[0].1, "the key file is not the new key");
    }

    // Retired: no longer published, and its tokens refused; the gateway at once, the
    // services from their next JWKS fetch.
    let wait = (retire_at - Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(wait + Duration::from_millis(100)).await;
    assert_eq!(kids(&jwks(&app).await), [new_kid.as_str()]);
    assert_problem(list_batches(&app, gateway, &before).await, 401, "token_unknown_key").await;
    eventually("collection refuses the retired key's token", || async {
        list_batches(&app, collection, &before).await.status() == 401
    })
    .await;
    assert_problem(list_batches(&app, collection, &before).await, 401, "token_unknown_key").await;
    for base in [gateway, collection] {
        assert_eq!(list_batches(&app, base, &after).await.status(), 200, "{base}: a token of the new key");
    }
}
