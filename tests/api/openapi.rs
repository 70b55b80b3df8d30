//! The OpenAPI document and the routes that exist agree, both ways.

use std::collections::BTreeSet;

use healthcard::http::routes::Visibility;
use yaml_rust2::YamlLoader;

use crate::helpers::*;
use crate::on_both_backends;

on_both_backends!(every_documented_route_is_served_through_the_gateway);

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn documented() -> BTreeSet<(String, String)> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi/openapi.yaml");
    let doc = YamlLoader::load_from_str(&std::fs::read_to_string(path).unwrap()).unwrap().remove(0);
    assert_eq!(doc["openapi"].as_str().map(|v| v.starts_with("3.1")), Some(true));
    let mut routes = BTreeSet::new();
    for (path, item) in doc["paths"].as_hash().unwrap() {
        for (method, _) in item.as_hash().unwrap() {
            let method = method.as_str().unwrap();
            if METHODS.contains(&method) {
                routes.insert((method.to_uppercase(), path.as_str().unwrap().to_string()));
            }
        }
    }
    routes
}

fn served() -> BTreeSet<(String, String)> {
    let tables = [
        healthcard::gateway::routes::table(),
        healthcard::collection::routes::table(),
        healthcard::verification::routes::table(),
        healthcard::cardmaking::routes::table(),
        healthcard::settlement::routes::table(),
    ];
    tables
        .iter()
        .flat_map(|t| t.listing())
        .filter(|(_, _, v)| *v == Visibility::Public)
        .map(|(m, p, _)| (m.to_string(), p.to_string()))
        .collect()
}

#[test]
fn the_document_names_exactly_the_public_routes() {
    let documented = documented();
    let served = served();
    let missing: Vec<_> = served.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&served).collect();
    assert!(missing.is_empty(), "public routes missing from openapi/openapi.yaml: {missing:?}");
    assert!(extra.is_empty(), "openapi/openapi.yaml names routes that do not exist: {extra:?}");
}

async fn every_documented_route_is_served_through_the_gateway(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for (method, path) in documented() {
        let concrete = path.replace("{id}", &uuid::Uuid::new_v4().to_string());
        let concrete = regex_free_fill(&concrete);
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let r = app.http.request(method.clone(), format!("{}{concrete}", app.gateway())).send().await.unwrap();
        let status = r.status().as_u16();
        let (_, body) = json_of(r).await;
        assert_ne!(body["code"], "route_not_found", "{method} {path} is documented but not routed");
        assert_ne!(status, 405, "{method} {path} is documented but not with this method");
    }
}

/// Fills any remaining `{param}` with a plausible value.
fn regex_free_fill(path: &str) -> String {
    let mut out = String::new();
    let mut rest = path;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').map(|e| start + e + 1).unwrap_or(rest.len());
        out.push_str("x1");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}
