//! One typed configuration, read from `HEALTHCARD_*` environment variables.
//!
//! Every variable the binary reads is listed by [`env_vars`]; the deployment files are
//! checked against that list in tests, so a typo in `docker-compose.yml` fails CI.

use std::collections::BTreeMap;
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The services of the system. Each owns its own database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, clap::ValueEnum)]
pub enum Service {
    Gateway,
    Collection,
    Verification,
    Cardmaking,
    Settlement,
}

impl Service {
    pub const ALL: [Service; 5] =
        [Service::Gateway, Service::Collection, Service::Verification, Service::Cardmaking, Service::Settlement];

    /// Services other than the gateway: they sit behind it.
    pub const UPSTREAMS: [Service; 4] =
        [Service::Collection, Service::Verification, Service::Cardmaking, Service::Settlement];

    pub fn name(self) -> &'static str {
        match self {
            Service::Gateway => "gateway",
            Service::Collection => "collection",
            Service::Verification => "verification",
            Service::Cardmaking => "cardmaking",
            Service::Settlement => "settlement",
        }
    }

    /// Upper-case name used in environment variable names.
    pub fn env_name(self) -> &'static str {
        match self {
            Service::Gateway => "GATEWAY",
            Service::Collection => "COLLECTION",
            Service::Verification => "VERIFICATION",
            Service::Cardmaking => "CARDMAKING",
            Service::Settlement => "SETTLEMENT",
        }
    }

    pub fn parse(name: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.name() == name)
    }

    fn default_port(self) -> u16 {
        match self {
            Service::Gateway => 8080,
            Service::Collection => 8081,
            Service::Verification => 8082,
            Service::Cardmaking => 8083,
            Service::Settlement => 8084,
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Every environment variable the binary reads (per-service ones expanded).
pub fn env_vars() -> Vec<String> {
    let mut vars: Vec<String> = GLOBAL_ENV_VARS.iter().map(|s| s.to_string()).collect();
    for service in Service::ALL {
        for suffix in PER_SERVICE_SUFFIXES {
            vars.push(format!("HEALTHCARD_{}_{}", service.env_name(), suffix));
        }
    }
    vars
}

/// Variables that are not per service.
pub const GLOBAL_ENV_VARS: &[&str] = &[
    "HEALTHCARD_DATA_DIR",
    "HEALTHCARD_LOG",
    "HEALTHCARD_LOG_FORMAT",
    "HEALTHCARD_WORKERS",
    "HEALTHCARD_DB_POOL_SIZE",
    "HEALTHCARD_JWKS_URL",
    "HEALTHCARD_JWT_KEY_FILE",
    "HEALTHCARD_JWT_ISSUER",
    "HEALTHCARD_JWT_AUDIENCE",
    "HEALTHCARD_TOKEN_TTL_SECONDS",
    "HEALTHCARD_RATE_LIMIT_PER_SECOND",
    "HEALTHCARD_RATE_LIMIT_BURST",
    "HEALTHCARD_MAX_BODY_BYTES",
    "HEALTHCARD_RECONCILIATION_MAX_BODY_BYTES",
    "HEALTHCARD_OUTBOX_POLL_MS",
    "HEALTHCARD_OUTBOX_LEASE_SECONDS",
    "HEALTHCARD_FAULT_EXIT_AFTER_SEND",
    "HEALTHCARD_PII_KEY_FILE",
    "HEALTHCARD_CARD_LEASE_SECONDS",
    "HEALTHCARD_DEBIT_ENVELOPE_SIZE",
    "HEALTHCARD_IDEMPOTENCY_RETENTION_SECONDS",
    "HEALTHCARD_PAYMENT_MAX_ATTEMPTS",
    "HEALTHCARD_DISCLOSURE_OBJECTION_DAYS",
    "HEALTHCARD_DISCLOSURE_OFFICE_PHONES",
];

/// Suffixes of per-service variables: `HEALTHCARD_<SERVICE>_<SUFFIX>`.
pub const PER_SERVICE_SUFFIXES: &[&str] = &["LISTEN", "DATABASE_URL", "URL", "CLIENT_ID", "CLIENT_SECRET"];

/// Why the configuration cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{var}: {reason}")]
    Invalid { var: String, reason: String },
}

/// A secret string that never prints.
#[derive(Clone)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Configuration of one service process (or of one service inside `all`).
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    pub service: Service,
    pub listen: SocketAddr,
    /// Database URL: `postgres://...` or `sqlite://path` / a path. Credentials are secret.
    pub database_url: Secret,
    /// Credentials of this service's `service` client at the gateway, used by a
    /// standalone service to send messages (inside `all` tokens are signed locally).
    pub client_credentials: Option<(String, Secret)>,
}

/// The whole configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub workers: usize,
    pub db_pool_size: u32,
    pub services: Vec<ServiceConfig>,
    /// Base URLs of the services, as others reach them (`http://host:port`).
    pub urls: Vec<(Service, String)>,
    /// Services whose URL was configured rather than derived from the listen address.
    pub explicit_urls: Vec<Service>,
    pub jwks_url: Option<String>,
    pub jwt_key_file: PathBuf,
    /// Keys protecting personal data at rest (see `pii`), shared by collection and
    /// verification.
    pub pii_key_file: PathBuf,
    pub jwt_issuer: String,
    pub jwt_audience: String,
    pub token_ttl: Duration,
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    pub max_body_bytes: usize,
    /// Largest body of a detail reconciliation (`POST /api/v1/reconciliations/detail`),
    /// the one route whose bodies may be larger than `max_body_bytes`: a million rows
    /// of CSV are about 130 MB.
    pub reconciliation_max_body_bytes: usize,
    pub outbox_poll: Duration,
    pub outbox_lease: Duration,
    /// How long a card maker holds the orders of one lease.
    pub card_lease: Duration,
    /// How long idempotency keys and their sealed responses are kept.
    pub idempotency_retention: Duration,
    /// Most instructions in one envelope to a bank (premium debits and payments).
    pub debit_envelope_size: usize,
    /// How many times the bank is asked to pay one payment instruction before a person
    /// must act on it.
    pub payment_max_attempts: i32,
    /// How many days from its posting the public may object to a disclosure notice.
    pub disclosure_objection_days: u32,
    /// The phone number objections go to, per county code, printed on the county's
    /// disclosure notices.
    pub disclosure_office_phones: BTreeMap<String, String>,
    /// Test-only fault injection: exit the process right after a message was delivered
    /// and before it is marked delivered, to prove redelivery.
    pub fault_exit_after_send: bool,
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_lookup(|k| std::env::var(k).ok())
    }

    /// Reads the configuration through `lookup` (tests pass a map).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        let data_dir = PathBuf::from(get("HEALTHCARD_DATA_DIR").unwrap_or_else(|| "data".into()));
        let mut services = Vec::new();
        let mut urls = Vec::new();
        let mut explicit_urls = Vec::new();
        for service in Service::ALL {
            let var = format!("HEALTHCARD_{}_LISTEN", service.env_name());
            let listen = match get(&var) {
                Some(v) => parse_var::<SocketAddr>(&var, &v)?,
                None => SocketAddr::from(([127, 0, 0, 1], service.default_port())),
            };
            let var = format!("HEALTHCARD_{}_DATABASE_URL", service.env_name());
            let database_url = get(&var)
                .unwrap_or_else(|| format!("sqlite://{}", data_dir.join(format!("{}.db", service.name())).display()));
            crate::db::Backend::from_url(&database_url)
                .map_err(|e| ConfigError::Invalid { var: var.clone(), reason: e.to_string() })?;
            let var = format!("HEALTHCARD_{}_URL", service.env_name());
            if let Some(url) = get(&var) {
                explicit_urls.push(service);
                urls.push((service, url.trim_end_matches('/').to_string()));
            } else {
                urls.push((service, format!("http://{}", reachable(listen))));
            }
            let client_id = get(&format!("HEALTHCARD_{}_CLIENT_ID", service.env_name()));
            let client_secret = get(&format!("HEALTHCARD_{}_CLIENT_SECRET", service.env_name()));
            let client_credentials = client_id.zip(client_secret).map(|(id, secret)| (id, Secret::new(secret)));
            services.push(ServiceConfig {
                service,
                listen,
                database_url: Secret::new(database_url),
                client_credentials,
            });
        }
        let num = |var: &str, default: u64| -> Result<u64, ConfigError> {
            match get(var) {
                Some(v) => parse_var::<u64>(var, &v),
                None => Ok(default),
            }
        };
        let workers = num("HEALTHCARD_WORKERS", 2)?.clamp(1, 64) as usize;
        let db_pool_size = num("HEALTHCARD_DB_POOL_SIZE", 8)?.clamp(1, 200) as u32;
        let token_ttl = Duration::from_secs(num("HEALTHCARD_TOKEN_TTL_SECONDS", 900)?.clamp(30, 86_400));
        Ok(Config {
            jwks_url: get("HEALTHCARD_JWKS_URL"),
            jwt_key_file: get("HEALTHCARD_JWT_KEY_FILE")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("keys").join("jwt-ed25519.pem")),
            pii_key_file: get("HEALTHCARD_PII_KEY_FILE")
                .map(PathBuf::from)
                .unwrap_or_else(|| data_dir.join("keys").join("pii.key")),
            jwt_issuer: get("HEALTHCARD_JWT_ISSUER").unwrap_or_else(|| "healthcard-gateway".into()),
            jwt_audience: get("HEALTHCARD_JWT_AUDIENCE").unwrap_or_else(|| "healthcard-api".into()),
            token_ttl,
            rate_limit_per_second: num("HEALTHCARD_RATE_LIMIT_PER_SECOND", 50)?.clamp(1, 1_000_000) as u32,
            rate_limit_burst: num("HEALTHCARD_RATE_LIMIT_BURST", 100)?.clamp(1, 1_000_000) as u32,
            max_body_bytes: num("HEALTHCARD_MAX_BODY_BYTES", 64 * 1024 * 1024)?.clamp(1024, 1 << 34) as usize,
            reconciliation_max_body_bytes: num("HEALTHCARD_RECONCILIATION_MAX_BODY_BYTES", 256 * 1024 * 1024)?
                .clamp(1024, 1 << 34) as usize,
            outbox_poll: Duration::from_millis(num("HEALTHCARD_OUTBOX_POLL_MS", 500)?.clamp(10, 60_000)),
            outbox_lease: Duration::from_secs(num("HEALTHCARD_OUTBOX_LEASE_SECONDS", 30)?.clamp(1, 3600)),
            card_lease: Duration::from_secs(num("HEALTHCARD_CARD_LEASE_SECONDS", 900)?.clamp(1, 86_400)),
            idempotency_retention: Duration::from_secs(
                num("HEALTHCARD_IDEMPOTENCY_RETENTION_SECONDS", 86_400)?.clamp(1, 90 * 86_400),
            ),
            debit_envelope_size: num("HEALTHCARD_DEBIT_ENVELOPE_SIZE", 10_000)?.clamp(1, 100_000) as usize,
            payment_max_attempts: num("HEALTHCARD_PAYMENT_MAX_ATTEMPTS", 3)?.clamp(1, 100) as i32,
            disclosure_objection_days: num("HEALTHCARD_DISCLOSURE_OBJECTION_DAYS", 7)?.clamp(1, 90) as u32,
            disclosure_office_phones: match get("HEALTHCARD_DISCLOSURE_OFFICE_PHONES") {
                Some(v) => office_phones("HEALTHCARD_DISCLOSURE_OFFICE_PHONES", &v)?,
                None => BTreeMap::new(),
            },
            fault_exit_after_send: get("HEALTHCARD_FAULT_EXIT_AFTER_SEND").is_some_and(|v| v == "1"),
            data_dir,
            workers,
            db_pool_size,
            services,
            urls,
            explicit_urls,
        })
    }

    pub fn service(&self, service: Service) -> &ServiceConfig {
        // `from_lookup` fills one entry per service, in `Service::ALL` order.
        &self.services[service as usize]
    }

    pub fn url(&self, service: Service) -> &str {
        &self.urls[service as usize].1
    }

    /// Points `service`'s URL at the address it really bound (port 0 in tests), unless
    /// a URL was configured explicitly.
    pub fn set_bound_url(&mut self, service: Service, addr: SocketAddr) {
        if !self.explicit_urls.contains(&service) {
            self.urls[service as usize].1 = format!("http://{}", reachable(addr));
        }
    }

    /// The JWKS URL services fetch the gateway's public keys from.
    pub fn jwks_url(&self) -> String {
        self.jwks_url.clone().unwrap_or_else(|| format!("{}/.well-known/jwks.json", self.url(Service::Gateway)))
    }
}

/// An address other processes on this machine can connect to: an "every interface"
/// listen address is reached on loopback.
fn reachable(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    addr
}

fn parse_var<T: std::str::FromStr>(var: &str, value: &str) -> Result<T, ConfigError>
where
    T::Err: fmt::Display,
{
    value
        .trim()
        .parse::<T>()
        .map_err(|e| ConfigError::Invalid { var: var.to_string(), reason: format!("cannot parse {value:?}: {e}") })
}

/// Longest office phone text, in characters ("0417-2812345 转 8001").
const MAX_PHONE_CHARS: usize = 40;

/// A JSON object of county codes to phone texts: `{"210804": "0417-2812345"}`.
fn office_phones(var: &str, value: &str) -> Result<BTreeMap<String, String>, ConfigError> {
    let invalid = |reason: String| ConfigError::Invalid { var: var.to_string(), reason };
    let map: BTreeMap<String, String> = serde_json::from_str(value)
        .map_err(|e| invalid(format!("a JSON object of county codes to phone numbers: {e}")))?;
    let mut phones = BTreeMap::new();
    for (county, phone) in map {
        let code = crate::domain::CountyCode::parse(&county)
            .map_err(|e| invalid(format!("{county:?} is not a county code: {e}")))?;
        let phone = phone.trim().to_string();
        if phone.is_empty() || phone.chars().count() > MAX_PHONE_CHARS || phone.chars().any(char::is_control) {
            return Err(invalid(format!(
                "the phone of {county} must be 1 to {MAX_PHONE_CHARS} characters, none a control character"
            )));
        }
        phones.insert(code.as_str().to_string(), phone);
    }
    Ok(phones)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn defaults_use_sqlite_files_in_the_data_dir() {
        let c = config(&[]).unwrap();
        assert_eq!(c.service(Service::Gateway).listen.port(), 8080);
        assert_eq!(c.service(Service::Settlement).database_url.expose(), "sqlite://data/settlement.db");
        assert_eq!(c.jwks_url(), "http://127.0.0.1:8080/.well-known/jwks.json");
    }

    #[test]
    fn unknown_database_scheme_is_refused() {
        let err = config(&[("HEALTHCARD_COLLECTION_DATABASE_URL", "mysql://x")]).unwrap_err();
        assert!(err.to_string().contains("HEALTHCARD_COLLECTION_DATABASE_URL"));
    }

    #[test]
    fn bad_numbers_are_refused_with_the_variable_name() {
        let err = config(&[("HEALTHCARD_WORKERS", "many")]).unwrap_err();
        assert!(err.to_string().starts_with("HEALTHCARD_WORKERS"));
    }

    #[test]
    fn office_phones_are_a_map_of_county_codes() {
        let c = config(&[
            ("HEALTHCARD_DISCLOSURE_OFFICE_PHONES", r#"{"210804": " 0417-2812345 ", "210803": "0417-2800000"}"#),
            ("HEALTHCARD_DISCLOSURE_OBJECTION_DAYS", "10"),
        ])
        .unwrap();
        assert_eq!(c.disclosure_office_phones.get("210804").map(String::as_str), Some("0417-2812345"));
        assert_eq!((c.disclosure_office_phones.len(), c.disclosure_objection_days), (2, 10));
        let defaults = config(&[]).unwrap();
        assert_eq!((defaults.disclosure_office_phones.len(), defaults.disclosure_objection_days), (0, 7));
        for bad in [r#"["0417"]"#, r#"{"2108": "0417-2812345"}"#, r#"{"210804": ""}"#, r#"{"210804": "a\nb"}"#, "{"] {
            let err = config(&[("HEALTHCARD_DISCLOSURE_OFFICE_PHONES", bad)]).unwrap_err();
            assert!(err.to_string().starts_with("HEALTHCARD_DISCLOSURE_OFFICE_PHONES"), "{bad}: {err}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let c = config(&[("HEALTHCARD_GATEWAY_DATABASE_URL", "postgres://u:pw@h/db")]).unwrap();
        assert!(!format!("{c:?}").contains("pw"));
    }
}
