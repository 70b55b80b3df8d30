//! Starting the real binary for a test, and the HTTP calls tests share.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::{Value, json};

pub const BIN: &str = env!("CARGO_BIN_EXE_healthcard");
pub const SERVICES: [&str; 5] = ["gateway", "collection", "verification", "cardmaking", "settlement"];

/// Runs `$name(Backend)` as one test per backend.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            )*
        }
    };
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

fn pg_admin_url() -> String {
    std::env::var("HEALTHCARD_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".to_string())
}

fn pg_url(db: &str) -> String {
    format!("{}/{db}", pg_admin_url().trim_end_matches('/'))
}

fn pg_admin() -> PgConnection {
    PgConnection::establish(&pg_url("postgres"))
        .unwrap_or_else(|e| panic!("PostgreSQL is needed for the postgres tests ({}): {e}", pg_admin_url()))
}

/// Hash of every migration file, so templates are rebuilt when migrations change.
fn migrations_fingerprint() -> String {
    use sha2::{Digest, Sha256};
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() { walk(&path, out) } else { out.push(path) }
        }
    }
    let mut files = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/postgres"), &mut files);
    files.sort();
    let mut hash = Sha256::new();
    for f in files {
        hash.update(f.to_string_lossy().as_bytes());
        hash.update(std::fs::read(&f).unwrap());
    }
    hash.finalize().iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Migrated template databases, one per service, built once (under an advisory lock, so
/// parallel test processes agree).
fn pg_templates() -> String {
    static DONE: Mutex<Option<String>> = Mutex::new(None);
    let mut done = DONE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(prefix) = done.as_ref() {
        return prefix.clone();
    }
    let prefix = format!("hc_tpl_{}", migrations_fingerprint());
    let mut admin = pg_admin();
    admin.batch_execute("SELECT pg_advisory_lock(727274)").unwrap();
    let exists = |admin: &mut PgConnection, name: &str| -> bool {
        #[derive(diesel::QueryableByName)]
        struct N {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            n: i64,
        }
        let rows: Vec<N> = diesel::sql_query(format!("SELECT count(*) AS n FROM pg_database WHERE datname = '{name}'"))
            .load(admin)
            .unwrap();
        rows[0].n > 0
    };
    let ready_marker = format!("{prefix}_settlement");
    if !exists(&mut admin, &ready_marker) {
        for s in SERVICES {
            admin.batch_execute(&format!("DROP DATABASE IF EXISTS {prefix}_{s}")).unwrap();
            admin.batch_execute(&format!("CREATE DATABASE {prefix}_{s}")).unwrap();
        }
        let mut cmd = Command::new(BIN);
        clean_env(&mut cmd);
        for s in SERVICES {
            cmd.env(format!("HEALTHCARD_{}_DATABASE_URL", s.to_uppercase()), pg_url(&format!("{prefix}_{s}")));
        }
        let out = cmd.arg("migrate").output().unwrap();
        assert!(
            out.status.success(),
            "migrating templates failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    admin.batch_execute("SELECT pg_advisory_unlock(727274)").unwrap();
    *done = Some(prefix.clone());
    prefix
}

fn clean_env(cmd: &mut Command) {
    for (key, _) in std::env::vars() {
        if key.starts_with("HEALTHCARD_") {
            cmd.env_remove(key);
        }
    }
}

/// The databases and data dir of one test: survives restarts of its processes.
pub struct TestEnv {
    pub data_dir: tempfile::TempDir,
    pg_databases: Vec<String>,
    pub vars: Vec<(String, String)>,
}

impl TestEnv {
    pub fn new(backend: Backend) -> TestEnv {
        TestEnv::with_databases(backend, true)
    }

    /// Like [`TestEnv::new`], with databases that have no tables at all (PostgreSQL:
    /// created empty; SQLite: no files yet), for tests that build a schema themselves.
    pub fn unmigrated(backend: Backend) -> TestEnv {
        TestEnv::with_databases(backend, false)
    }

    fn with_databases(backend: Backend, migrated: bool) -> TestEnv {
        let data_dir = tempfile::tempdir().unwrap();
        let mut vars = vec![
            ("HEALTHCARD_DATA_DIR".to_string(), data_dir.path().display().to_string()),
            ("HEALTHCARD_LOG".to_string(), "info".to_string()),
            ("HEALTHCARD_WORKERS".to_string(), "1".to_string()),
            ("HEALTHCARD_DB_POOL_SIZE".to_string(), "4".to_string()),
            ("HEALTHCARD_OUTBOX_POLL_MS".to_string(), "100".to_string()),
        ];
        for s in SERVICES {
            vars.push((format!("HEALTHCARD_{}_LISTEN", s.to_uppercase()), "127.0.0.1:0".to_string()));
            vars.push((format!("HEALTHCARD_{}_OPS_LISTEN", s.to_uppercase()), "127.0.0.1:0".to_string()));
        }
        let mut pg_databases = Vec::new();
        if backend == Backend::Postgres {
            let id = uuid::Uuid::new_v4().simple().to_string();
            let template = |s: &str| if migrated { format!(" TEMPLATE {}_{s}", pg_templates()) } else { String::new() };
            let mut admin = pg_admin();
            for s in SERVICES {
                let name = format!("hc_t_{}_{s}", &id[..12]);
                admin.batch_execute(&format!("CREATE DATABASE {name}{}", template(s))).unwrap();
                vars.push((format!("HEALTHCARD_{}_DATABASE_URL", s.to_uppercase()), pg_url(&name)));
                pg_databases.push(name);
            }
        }
        TestEnv { data_dir, pg_databases, vars }
    }

    /// Where `service`'s database is: a PostgreSQL URL, or the SQLite file's path.
    pub fn database(&self, service: &str) -> String {
        let key = format!("HEALTHCARD_{}_DATABASE_URL", service.to_uppercase());
        match self.vars.iter().find(|(k, _)| *k == key) {
            Some((_, url)) => url.clone(),
            None => self.data_dir.path().join(format!("{service}.db")).display().to_string(),
        }
    }

    pub fn with(mut self, key: &str, value: &str) -> TestEnv {
        self.set(key, value);
        self
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.vars.retain(|(k, _)| k != key);
        self.vars.push((key.to_string(), value.to_string()));
    }

    pub fn command(&self, extra: &[(&str, &str)]) -> Command {
        let mut cmd = Command::new(BIN);
        clean_env(&mut cmd);
        for (k, v) in &self.vars {
            cmd.env(k, v);
        }
        for (k, v) in extra {
            cmd.env(k, v);
        }
        cmd
    }

    /// Runs a CLI subcommand to completion.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.command(&[]).args(args).output().unwrap()
    }

    /// Creates a client through the CLI (as the first admin is created).
    pub fn cli_client(&self, role: &str, scopes: &[&str]) -> (String, String) {
        let mut args = vec!["clients", "create", "--name", "test client", "--role", role];
        for s in scopes {
            args.push("--scope");
            args.push(s);
        }
        let out = self.cli(&args);
        assert!(
            out.status.success(),
            "clients create failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            String::from_utf8_lossy(&out.stdout)
        );
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        (v["client_id"].as_str().unwrap().to_string(), v["client_secret"].as_str().unwrap().to_string())
    }

    /// The gateway's private signing key (PEM), created on its first start.
    pub fn signing_key_pem(&self) -> Vec<u8> {
        std::fs::read(self.data_dir.path().join("keys/jwt-ed25519.pem")).unwrap()
    }

    /// Starts `healthcard <subcommand>` and waits until it reports its listening URLs.
    pub fn start(&self, subcommand: &str, extra: &[(&str, &str)]) -> Proc {
        let log_path = self.data_dir.path().join(format!("{subcommand}-{}.log", uuid::Uuid::new_v4().simple()));
        let log = std::fs::File::create(&log_path).unwrap();
        let mut child =
            self.command(extra).arg(subcommand).stdout(Stdio::piped()).stderr(Stdio::from(log)).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let expected = if subcommand == "all" { SERVICES.len() } else { 1 };
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Ok(v) = serde_json::from_str::<Value>(&line)
                    && v["event"] == "listening"
                {
                    let service = v["service"].as_str().unwrap_or("").to_string();
                    let url = |key: &str| v[key].as_str().unwrap_or("").to_string();
                    let _ = tx.send((service, url("url"), url("ops_url")));
                }
            }
        });
        let mut urls = HashMap::new();
        let mut ops_urls = HashMap::new();
        while urls.len() < expected {
            match rx.recv_timeout(Duration::from_secs(60)) {
                Ok((service, url, ops_url)) => {
                    urls.insert(service.clone(), url);
                    ops_urls.insert(service, ops_url);
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("{subcommand} did not start: {}", std::fs::read_to_string(&log_path).unwrap_or_default());
                }
            }
        }
        Proc { child: Some(child), urls, ops_urls, log_path }
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        if self.pg_databases.is_empty() {
            return;
        }
        if let Ok(mut admin) = PgConnection::establish(&pg_url("postgres")) {
            for db in &self.pg_databases {
                let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
            }
        }
    }
}

/// A running process of the binary.
pub struct Proc {
    child: Option<Child>,
    pub urls: HashMap<String, String>,
    /// Each service's operations listener (`/metrics`, `/readyz`, `/healthz`).
    pub ops_urls: HashMap<String, String>,
    pub log_path: PathBuf,
}

impl Proc {
    pub fn url(&self, service: &str) -> &str {
        self.urls.get(service).map(String::as_str).unwrap_or_else(|| panic!("{service} is not in this process"))
    }

    pub fn ops_url(&self, service: &str) -> &str {
        self.ops_urls.get(service).map(String::as_str).unwrap_or_else(|| panic!("{service} is not in this process"))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Waits for the process to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        let child = self.child.as_mut().unwrap();
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "process did not exit; log:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the process as an operator would (SIGTERM) and waits for it to exit.
    pub fn terminate(&mut self, timeout: Duration) {
        let pid = self.child.as_ref().unwrap().id().to_string();
        let sent = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(sent.success());
        let status = self.wait_exit(timeout);
        assert!(status.success(), "exit {status}; log:\n{}", self.log());
        self.child = None;
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A free port on loopback (for a process started later).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A test's whole system: `healthcard all` with fresh databases.
pub struct TestApp {
    pub env: TestEnv,
    pub proc: Proc,
    pub http: reqwest::Client,
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        TestApp::spawn_with(TestEnv::new(backend)).await
    }

    pub async fn spawn_with(env: TestEnv) -> TestApp {
        let proc = tokio::task::block_in_place(|| env.start("all", &[]));
        TestApp { env, proc, http: client() }
    }

    pub fn gateway(&self) -> &str {
        self.proc.url("gateway")
    }

    pub fn service(&self, name: &str) -> &str {
        self.proc.url(name)
    }

    /// The operations listener of service `name`.
    pub fn ops(&self, name: &str) -> &str {
        self.proc.ops_url(name)
    }

    /// A provincial admin created with the CLI, and its token.
    pub async fn admin_token(&self) -> String {
        let (id, secret) = tokio::task::block_in_place(|| self.env.cli_client("provincial_admin", &[]));
        token(&self.http, self.gateway(), &id, &secret).await
    }

    /// A token of role `service`, as the gateway signs for our own services.
    pub async fn service_token(&self) -> String {
        let jwks: Value = self
            .http
            .get(format!("{}/.well-known/jwks.json", self.gateway()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let kid = jwks["keys"][0]["kid"].as_str().unwrap().to_string();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let claims = json!({"iss": "healthcard-gateway", "aud": "healthcard-api", "sub": "service:gateway", "role": "service",
                            "scopes": [], "iat": now, "exp": now + 300, "jti": uuid::Uuid::new_v4().to_string()});
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.kid = Some(kid);
        let key = jsonwebtoken::EncodingKey::from_ed_pem(&self.env.signing_key_pem()).unwrap();
        jsonwebtoken::encode(&header, &claims, &key).unwrap()
    }

    /// A client created through the API by `admin`; returns its id and token.
    pub async fn client(&self, admin: &str, role: &str, scopes: &[&str]) -> (String, String) {
        let (id, secret) = create_client(&self.http, self.gateway(), admin, role, scopes).await;
        let token = token(&self.http, self.gateway(), &id, &secret).await;
        (id, token)
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap()
}

pub async fn create_client(
    http: &reqwest::Client,
    gateway: &str,
    admin: &str,
    role: &str,
    scopes: &[&str],
) -> (String, String) {
    let r = http
        .post(format!("{gateway}/api/v1/clients"))
        .bearer_auth(admin)
        .json(&json!({"name": format!("{role} client"), "role": role, "scopes": scopes}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 201, "create client: {body}");
    (body["client_id"].as_str().unwrap().to_string(), body["client_secret"].as_str().unwrap().to_string())
}

pub async fn token(http: &reqwest::Client, gateway: &str, id: &str, secret: &str) -> String {
    let r = http
        .post(format!("{gateway}/api/v1/auth/token"))
        .json(&json!({"client_id": id, "client_secret": secret}))
        .send()
        .await
        .unwrap();
    let status = r.status();
    let body: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "token: {body}");
    assert_eq!(body["token_type"], "Bearer");
    body["access_token"].as_str().unwrap().to_string()
}

/// Status and JSON body of a response (problem+json included).
pub async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.unwrap();
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

/// Asserts a problem+json answer with `status` and `code`.
pub async fn assert_problem(r: reqwest::Response, status: u16, code: &str) -> Value {
    let content_type = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
    assert!(r.headers().contains_key("x-request-id"), "no X-Request-Id");
    let (got, body) = json_of(r).await;
    assert_eq!((got, body["code"].as_str().unwrap_or("")), (status, code), "body: {body}");
    assert!(content_type.starts_with("application/problem+json"), "content type {content_type}");
    assert_eq!(body["status"], status);
    body
}

/// Polls `check` until it returns true: for effects that arrive asynchronously
/// (outbox deliveries). The bound is a liveness limit, not a performance assertion.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("never happened: {what}");
}

/// The value of a Prometheus sample whose line starts with `prefix` and contains
/// every one of `labels`, from the `/metrics` of the operations listener at `ops`.
pub async fn metric(http: &reqwest::Client, ops: &str, name: &str, labels: &[&str]) -> f64 {
    let text = http.get(format!("{ops}/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter(|l| labels.iter().all(|lab| l.contains(lab)))
        .filter_map(|l| l.rsplit(' ').next().and_then(|v| v.parse::<f64>().ok()))
        .sum()
}

/// A direct connection to one service's database, past the service.
pub enum Direct {
    Pg(PgConnection),
    Sqlite(diesel::SqliteConnection),
}

impl Direct {
    pub fn open(env: &TestEnv, service: &str) -> Direct {
        let at = env.database(service);
        if at.starts_with("postgres") {
            Direct::Pg(PgConnection::establish(&at).unwrap())
        } else {
            Direct::Sqlite(diesel::SqliteConnection::establish(&at).unwrap())
        }
    }

    pub fn run(&mut self, sql: &str) -> Result<(), String> {
        match self {
            Direct::Pg(c) => c.batch_execute(sql),
            Direct::Sqlite(c) => c.batch_execute(sql),
        }
        .map_err(|e| e.to_string())
    }

    /// The values of a query's one text column named `v`.
    pub fn texts(&mut self, sql: &str) -> Vec<String> {
        #[derive(diesel::QueryableByName)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::Text)]
            v: String,
        }
        let rows: Vec<Row> = match self {
            Direct::Pg(c) => diesel::sql_query(sql).load(c),
            Direct::Sqlite(c) => diesel::sql_query(sql).load(c),
        }
        .unwrap();
        rows.into_iter().map(|r| r.v).collect()
    }
}
