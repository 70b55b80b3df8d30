//! `healthcard-cardmaker`: a card maker's side of the handoff, for benchmarks and
//! demonstrations. Each client (one per token) leases orders through the gateway,
//! answers every order of the lease (`produced` with a unique Luhn-valid card number,
//! or every `--fail-every`th order `failed`) and leases again until the queue is
//! empty. Prints one JSON object: orders leased and answered, orders handed to two
//! clients, and the time of every call.

use std::collections::HashSet;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::Parser;
use serde::{Deserialize, Serialize};
use serde_json::json;

use healthcard::domain::pan::check_digit;

const FAILURE_CODES: [&str; 6] =
    ["bank_kyc_failed", "bad_address", "bad_photo", "duplicate_account", "chip_write_error", "other"];

#[derive(Debug, Parser)]
#[command(name = "healthcard-cardmaker", version, about = "Simulated card-maker clients")]
struct Cli {
    /// The gateway's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    gateway: String,
    /// A card maker's access token; one concurrent client per token.
    #[arg(long = "token", required = true)]
    tokens: Vec<String>,
    /// Orders per lease.
    #[arg(long, default_value_t = 5000)]
    lease: u32,
    /// Every n-th order is reported failed (0: none).
    #[arg(long, default_value_t = 50)]
    fail_every: u64,
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    leased: Vec<String>,
    answered: u64,
    /// (seconds since start, duration) of each lease call.
    lease_calls: Vec<(f64, f64)>,
    results_calls: Vec<f64>,
}

/// What the client reads of a lease: the card fields are skipped unread.
#[derive(Deserialize)]
struct Lease {
    lease_id: String,
    orders: Vec<LeasedOrder>,
}

#[derive(Deserialize)]
struct LeasedOrder {
    order_id: String,
}

#[derive(Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
enum OrderResult<'a> {
    Produced { order_id: &'a str, card_no: String, chip_serial: String },
    Failed { order_id: &'a str, code: &'static str, message: &'static str },
}

#[derive(Serialize)]
struct Results<'a> {
    lease_id: &'a str,
    results: Vec<OrderResult<'a>>,
}

#[derive(Deserialize)]
struct Answer {
    recorded: u64,
    errors: Vec<serde_json::Value>,
}

fn pan(client: usize, n: u64) -> String {
    let body = format!("62220{client}{n:012}");
    let digit = check_digit(&body).unwrap_or('0');
    format!("{body}{digit}")
}

async fn post<B: Serialize, T: for<'de> Deserialize<'de>>(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &B,
) -> Result<T, String> {
    let response = http.post(url).bearer_auth(token).json(body).send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!(
            "{url}: {status}: {}",
            String::from_utf8_lossy(&bytes).chars().take(500).collect::<String>()
        ));
    }
    serde_json::from_slice(&bytes).map_err(|e| e.to_string())
}

async fn client(cli: Arc<Cli>, k: usize, started: Instant) -> Result<Tally, String> {
    let http = reqwest::Client::new();
    let token = &cli.tokens[k];
    let lease_url = format!("{}/api/v1/card-orders/lease", cli.gateway);
    let results_url = format!("{}/api/v1/card-orders/results", cli.gateway);
    let mut tally = Tally::default();
    let mut n: u64 = 0;
    loop {
        let t = Instant::now();
        let lease: Lease = post(&http, &lease_url, token, &json!({ "limit": cli.lease })).await?;
        tally.lease_calls.push((t.duration_since(started).as_secs_f64(), t.elapsed().as_secs_f64()));
        if lease.orders.is_empty() {
            return Ok(tally);
        }
        let mut results = Vec::with_capacity(lease.orders.len());
        for order in &lease.orders {
            let order_id = order.order_id.as_str();
            if cli.fail_every > 0 && n % cli.fail_every == 7 {
                let code = FAILURE_CODES[(n % FAILURE_CODES.len() as u64) as usize];
                results.push(OrderResult::Failed { order_id, code, message: "simulated" });
            } else {
                results.push(OrderResult::Produced {
                    order_id,
                    card_no: pan(k, n),
                    chip_serial: format!("C{k}{n:011}"),
                });
            }
            n += 1;
        }
        let t = Instant::now();
        let answer: Answer = post(&http, &results_url, token, &Results { lease_id: &lease.lease_id, results }).await?;
        tally.results_calls.push(t.elapsed().as_secs_f64());
        if !answer.errors.is_empty() {
            return Err(format!("results refused: {:?}", answer.errors));
        }
        tally.leased.extend(lease.orders.into_iter().map(|o| o.order_id));
        tally.answered += answer.recorded;
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Arc::new(Cli::parse());
    let started = Instant::now();
    let tallies = Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for k in 0..cli.tokens.len() {
        let (cli, tallies) = (cli.clone(), tallies.clone());
        tasks.push(tokio::spawn(async move {
            let tally = client(cli, k, started).await;
            if let Ok(mut all) = tallies.lock() {
                all.push(tally);
            }
        }));
    }
    for task in tasks {
        if task.await.is_err() {
            eprintln!("a client panicked");
            return ExitCode::FAILURE;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let Ok(tallies) = Arc::try_unwrap(tallies).map(|m| m.into_inner().unwrap_or_default()) else {
        return ExitCode::FAILURE;
    };
    let mut seen = HashSet::new();
    let mut twice = 0u64;
    let mut report = json!({ "elapsed_s": elapsed });
    let (mut per_client, mut lease_calls, mut results_calls, mut answered) = (vec![], vec![], vec![], 0);
    for tally in tallies {
        let tally = match tally {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::FAILURE;
            }
        };
        per_client.push(tally.leased.len());
        for id in tally.leased {
            if !seen.insert(id) {
                twice += 1;
            }
        }
        answered += tally.answered;
        lease_calls.extend(tally.lease_calls);
        results_calls.extend(tally.results_calls);
    }
    report["leased"] = json!(seen.len() as u64 + twice);
    report["answered"] = json!(answered);
    report["handed_to_two_clients"] = json!(twice);
    report["per_client_orders"] = json!(per_client);
    report["lease_calls"] = json!(lease_calls);
    report["results_calls"] = json!(results_calls);
    println!("{report}");
    ExitCode::SUCCESS
}
