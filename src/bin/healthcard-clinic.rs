//! `healthcard-clinic`: clinics asking for eligibility, for benchmarks. Runs
//! `--concurrency` tasks, each asking `GET /api/v1/eligibility?card_no=..&purpose=bench`
//! through the gateway one request after another for `--seconds`, over the card
//! numbers of `--cards` (one a line) in turn, each task from its own starting point;
//! the tasks share the tokens round-robin. Prints one JSON object: requests, errors
//! (anything but 200, and failed requests), throughput per second, and latency
//! percentiles in milliseconds.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;

#[derive(Debug, Parser)]
#[command(name = "healthcard-clinic", version, about = "Simulated clinics asking for eligibility")]
struct Cli {
    /// The gateway's base URL, e.g. http://127.0.0.1:8080.
    #[arg(long)]
    gateway: String,
    /// A clinic's access token; the tasks take them in turn.
    #[arg(long = "token", required = true)]
    tokens: Vec<String>,
    /// File of card numbers, one a line.
    #[arg(long)]
    cards: std::path::PathBuf,
    /// Concurrent requests (one task and connection each).
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// How long to ask, in seconds.
    #[arg(long, default_value_t = 30.0)]
    seconds: f64,
    /// The `purpose` of the lookups.
    #[arg(long, default_value = "bench")]
    purpose: String,
}

/// What one task saw.
#[derive(Default)]
struct Tally {
    /// Latency of every request answered 200, in seconds.
    latencies: Vec<f64>,
    errors: u64,
    /// The first few error answers, for the report.
    samples: Vec<String>,
}

async fn task(
    http: reqwest::Client,
    url: String,
    token: String,
    cards: Arc<Vec<String>>,
    start: usize,
    until: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut i = start;
    while Instant::now() < until {
        let card = &cards[i % cards.len()];
        i += 1;
        let t = Instant::now();
        // Card numbers are digits: nothing to escape.
        let sent = http.get(format!("{url}&card_no={card}")).bearer_auth(&token).send().await;
        let failure = match sent {
            Ok(response) => {
                let status = response.status();
                match response.bytes().await {
                    Ok(_) if status == reqwest::StatusCode::OK => None,
                    Ok(body) => Some(format!(
                        "{status}: {}",
                        String::from_utf8_lossy(&body).chars().take(300).collect::<String>()
                    )),
                    Err(e) => Some(format!("{status}: body: {e}")),
                }
            }
            Err(e) => Some(e.to_string()),
        };
        match failure {
            None => tally.latencies.push(t.elapsed().as_secs_f64()),
            Some(what) => {
                tally.errors += 1;
                if tally.samples.len() < 3 {
                    tally.samples.push(what);
                }
            }
        }
    }
    tally
}

/// The `p`th percentile (nearest rank) of sorted `values`, in milliseconds.
fn percentile_ms(values: &[f64], p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    let ms = values[rank.clamp(1, values.len()) - 1] * 1000.0;
    (ms * 1000.0).round() / 1000.0
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let cards: Vec<String> = match std::fs::read_to_string(&cli.cards) {
        Ok(text) => text.lines().map(str::trim).filter(|l| !l.is_empty()).map(String::from).collect(),
        Err(e) => {
            eprintln!("healthcard-clinic: {}: {e}", cli.cards.display());
            return ExitCode::FAILURE;
        }
    };
    if cards.is_empty() || cli.concurrency == 0 {
        eprintln!("healthcard-clinic: no cards, or no concurrency");
        return ExitCode::FAILURE;
    }
    let http = match reqwest::Client::builder().pool_max_idle_per_host(cli.concurrency).build() {
        Ok(http) => http,
        Err(e) => {
            eprintln!("healthcard-clinic: {e}");
            return ExitCode::FAILURE;
        }
    };
    let cards = Arc::new(cards);
    let url = format!("{}/api/v1/eligibility?purpose={}", cli.gateway, cli.purpose);
    let started = Instant::now();
    let until = started + Duration::from_secs_f64(cli.seconds);
    let mut tasks = Vec::with_capacity(cli.concurrency);
    for k in 0..cli.concurrency {
        let token = cli.tokens[k % cli.tokens.len()].clone();
        let start = k * cards.len() / cli.concurrency;
        tasks.push(tokio::spawn(task(http.clone(), url.clone(), token, cards.clone(), start, until)));
    }
    let mut latencies = Vec::new();
    let (mut errors, mut samples) = (0u64, Vec::new());
    for t in tasks {
        match t.await {
            Ok(tally) => {
                latencies.extend(tally.latencies);
                errors += tally.errors;
                samples.extend(tally.samples);
            }
            Err(_) => {
                eprintln!("healthcard-clinic: a task panicked");
                return ExitCode::FAILURE;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    let requests = latencies.len() as u64 + errors;
    samples.truncate(5);
    let report = json!({
        "requests": requests,
        "ok": latencies.len(),
        "errors": errors,
        "error_samples": samples,
        "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        "concurrency": cli.concurrency,
        "throughput_per_s": (requests as f64 / elapsed * 10.0).round() / 10.0,
        "ok_per_s": (latencies.len() as f64 / elapsed * 10.0).round() / 10.0,
        "p50_ms": percentile_ms(&latencies, 50.0),
        "p90_ms": percentile_ms(&latencies, 90.0),
        "p99_ms": percentile_ms(&latencies, 99.0),
        "max_ms": percentile_ms(&latencies, 100.0),
    });
    println!("{report}");
    ExitCode::SUCCESS
}
