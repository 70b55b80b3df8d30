//! The deployment files agree with the binary.

use std::collections::HashSet;

use yaml_rust2::{Yaml, YamlLoader};

use crate::helpers::SERVICES;

fn load(path: &str) -> Yaml {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
    YamlLoader::load_from_str(&text).unwrap().remove(0)
}

#[test]
fn compose_runs_every_service_with_only_known_variables() {
    let compose = load("docker-compose.yml");
    let known: HashSet<String> = healthcard::config::env_vars().into_iter().collect();
    let services = compose["services"].as_hash().expect("services");
    for name in SERVICES {
        let service = &compose["services"][name];
        assert!(!service.is_badvalue(), "compose has no {name} service");
        let command = &service["command"];
        let first = command.as_vec().and_then(|v| v.first()).and_then(Yaml::as_str).or_else(|| command.as_str());
        assert_eq!(first, Some(name), "{name} runs another subcommand");
        assert!(!service["healthcheck"].is_badvalue(), "{name} has no health check");
        let env = service["environment"].as_hash().unwrap_or_else(|| panic!("{name}: environment as a map"));
        for key in env.keys() {
            let key = key.as_str().unwrap();
            assert!(known.contains(key), "{name} sets {key}, which the binary does not read");
        }
        let db_var = format!("HEALTHCARD_{}_DATABASE_URL", name.to_uppercase());
        let db = env
            .get(&Yaml::String(db_var.clone()))
            .and_then(Yaml::as_str)
            .unwrap_or_else(|| panic!("{name} lacks {db_var}"));
        assert!(db.starts_with("postgres://"), "{name} should use PostgreSQL in compose");
    }
    assert!(services.keys().any(|k| k.as_str() == Some("postgres")));
}
