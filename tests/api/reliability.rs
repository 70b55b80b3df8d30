//! What the system keeps of a request: an idempotent answer is stored sealed (a card
//! maker's lease lists citizens in full, and nothing of it may rest in plain text in a
//! database), is replayed exactly, and is purged after its retention period.

use serde_json::json;

use crate::helpers::*;
use crate::on_both_backends;
use crate::province::*;

on_both_backends!(idempotent_answers_are_sealed_replayed_and_purged);

async fn idempotent_answers_are_sealed_replayed_and_purged(backend: Backend) {
    let p = Province::new(backend, &[("HEALTHCARD_IDEMPOTENCY_RETENTION_SECONDS", "4")]).await;
    let folks = people(2);
    p.registered(&folks).await;
    let lease = || {
        p.app
            .http
            .post(format!("{}/api/v1/card-orders/lease", p.gw))
            .bearer_auth(&p.maker)
            .header("Idempotency-Key", "lease-1")
            .json(&json!({"limit": 10}))
            .send()
    };
    let first = lease().await.unwrap();
    assert_eq!(first.status(), 200);
    let first = first.text().await.unwrap();
    assert!(first.contains(&folks[0].id), "a lease carries the citizen ID: {first}");
    let again = lease().await.unwrap();
    assert_eq!(again.headers().get("idempotent-replayed").and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(again.text().await.unwrap(), first);

    let mut db = Direct::open(&p.app.env, "cardmaking");
    let stored = db.texts("SELECT response_body AS v FROM idempotency_keys WHERE response_body IS NOT NULL");
    assert_eq!(stored.len(), 1);
    for person in &folks {
        assert!(!stored[0].contains(&person.id) && !stored[0].contains(person.name), "stored in clear: {}", stored[0]);
    }
    eventually("the key purged after its retention", || async {
        Direct::open(&p.app.env, "cardmaking").texts("SELECT idem_key AS v FROM idempotency_keys").is_empty()
    })
    .await;
}
