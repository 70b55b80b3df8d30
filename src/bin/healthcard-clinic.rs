//! `healthcard-clinic`: clinics asking for eligibility and settling claims, for
//! benchmarks. Runs `--concurrency` tasks, each asking `GET
//! /api/v1/eligibility?card_no=..&purpose=bench` through the gateway one request after
//! another for `--seconds`, over the card numbers of `--cards` (one a line) in turn,
//! each task from its own starting point; the tasks share the tokens round-robin. With
//! `--claims-share S`, that share of each task's requests are claim settlements
//! instead (`POST /api/v1/claims`, an inpatient stay at a county hospital that ended
//! a second ago, small enough that no cap is reached), each with its own msgid (the
//! token's `--institution` code, the time in China, a sequence number) and
//! `ipt_otp_no`. Prints one JSON object: requests, errors (anything but 200, and
//! failed requests), throughput per second, and latency percentiles in milliseconds,
//! overall and per kind.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
    /// Share of the requests that are claim settlements (0 to 1).
    #[arg(long, default_value_t = 0.0)]
    claims_share: f64,
    /// The institution code of each `--token`, in the same order (required with
    /// `--claims-share`): the first 12 characters of its claims' msgids.
    #[arg(long = "institution")]
    institutions: Vec<String>,
    /// `inscp_scp_amt` of each claim, in fen.
    #[arg(long, default_value_t = 40_000)]
    claim_amount: i64,
}

/// The two kinds of request.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Lookup,
    Claim,
}

/// What a task needs to write claims.
struct Claims {
    share: f64,
    amount: i64,
    /// Per institution, the next msgid sequence number.
    sequence: Vec<AtomicU64>,
    /// The next `ipt_otp_no`, shared by every task.
    next_key: AtomicU64,
    /// Makes the keys of this run differ from an earlier run's.
    run: String,
}

/// Now in China, as the platform writes times.
fn china_now() -> chrono::NaiveDateTime {
    (chrono::Utc::now() + chrono::Duration::hours(8)).naive_utc()
}

fn claim_body(claims: &Claims, institution: (usize, &str), card: &str) -> Vec<u8> {
    let now = china_now();
    let seq = claims.sequence[institution.0].fetch_add(1, Ordering::Relaxed) % 10_000;
    let key = claims.next_key.fetch_add(1, Ordering::Relaxed);
    let msgid = format!("{}{}{seq:04}", institution.1, now.format("%Y%m%d%H%M%S"));
    let begin = (now - chrono::Duration::seconds(1)).format("%Y-%m-%d %H:%M:%S").to_string();
    let end = now.format("%Y-%m-%d %H:%M:%S").to_string();
    let inscp = claims.amount;
    json!({
        "msgid": msgid, "ipt_otp_no": format!("B{}-{key}", claims.run), "mdtrt_cert_type": "03",
        "mdtrt_cert_no": card, "insutype": "390", "med_type": "21", "level": "county",
        "begntime": begin, "endtime": end,
        "medfee_sumamt": inscp + 100_000, "fulamt_ownpay_amt": 50_000, "overlmt_selfpay": 20_000,
        "preselfpay_amt": 30_000, "inscp_scp_amt": inscp
    })
    .to_string()
    .into_bytes()
}

/// What one task saw.
#[derive(Default)]
struct Tally {
    /// Latency of every lookup answered 200, in seconds.
    latencies: Vec<f64>,
    /// Latency of every claim answered 200, in seconds.
    claim_latencies: Vec<f64>,
    errors: u64,
    claim_errors: u64,
    /// The first few error answers, for the report.
    samples: Vec<String>,
}

#[allow(clippy::too_many_arguments)]
async fn task(
    http: reqwest::Client,
    gateway: String,
    url: String,
    token: String,
    institution: Option<(usize, String)>,
    claims: Arc<Claims>,
    cards: Arc<Vec<String>>,
    start: usize,
    until: Instant,
) -> Tally {
    let mut tally = Tally::default();
    let mut i = start;
    let mut owed = 0.0;
    let claims_url = format!("{gateway}/api/v1/claims");
    while Instant::now() < until {
        let card = &cards[i % cards.len()];
        i += 1;
        owed += claims.share;
        let kind = match &institution {
            Some(_) if owed >= 1.0 => {
                owed -= 1.0;
                Kind::Claim
            }
            _ => Kind::Lookup,
        };
        let t = Instant::now();
        let sent = match (kind, &institution) {
            (Kind::Claim, Some((k, code))) => {
                let body = claim_body(&claims, (*k, code), card);
                http.post(&claims_url)
                    .bearer_auth(&token)
                    .header("content-type", "application/json")
                    .body(body)
                    .send()
                    .await
            }
            // Card numbers are digits: nothing to escape.
            _ => http.get(format!("{url}&card_no={card}")).bearer_auth(&token).send().await,
        };
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
        let seconds = t.elapsed().as_secs_f64();
        match (failure, kind) {
            (None, Kind::Lookup) => tally.latencies.push(seconds),
            (None, Kind::Claim) => tally.claim_latencies.push(seconds),
            (Some(what), kind) => {
                tally.errors += 1;
                if kind == Kind::Claim {
                    tally.claim_errors += 1;
                }
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
    if !(0.0..=1.0).contains(&cli.claims_share)
        || (cli.claims_share > 0.0 && cli.institutions.len() != cli.tokens.len())
        || cli.institutions.iter().any(|c| c.len() != 12 || !c.is_ascii())
    {
        eprintln!("healthcard-clinic: --claims-share from 0 to 1, with one 12-character --institution per --token");
        return ExitCode::FAILURE;
    }
    let claims = Arc::new(Claims {
        share: cli.claims_share,
        amount: cli.claim_amount,
        sequence: cli.institutions.iter().map(|_| AtomicU64::new(0)).collect(),
        next_key: AtomicU64::new(0),
        run: chrono::Utc::now().format("%H%M%S").to_string(),
    });
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
        let institution =
            (cli.claims_share > 0.0).then(|| (k % cli.tokens.len(), cli.institutions[k % cli.tokens.len()].clone()));
        let start = k * cards.len() / cli.concurrency;
        tasks.push(tokio::spawn(task(
            http.clone(),
            cli.gateway.clone(),
            url.clone(),
            token,
            institution,
            claims.clone(),
            cards.clone(),
            start,
            until,
        )));
    }
    let (mut latencies, mut claim_latencies) = (Vec::new(), Vec::new());
    let (mut errors, mut claim_errors, mut samples) = (0u64, 0u64, Vec::new());
    for t in tasks {
        match t.await {
            Ok(tally) => {
                latencies.extend(tally.latencies);
                claim_latencies.extend(tally.claim_latencies);
                errors += tally.errors;
                claim_errors += tally.claim_errors;
                samples.extend(tally.samples);
            }
            Err(_) => {
                eprintln!("healthcard-clinic: a task panicked");
                return ExitCode::FAILURE;
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let per_s = |n: usize| (n as f64 / elapsed * 10.0).round() / 10.0;
    let summary = |latencies: &mut Vec<f64>, errors: u64| {
        latencies.sort_by(f64::total_cmp);
        let requests = latencies.len() + errors as usize;
        json!({
            "requests": requests,
            "ok": latencies.len(),
            "errors": errors,
            "throughput_per_s": per_s(requests),
            "p50_ms": percentile_ms(latencies, 50.0),
            "p90_ms": percentile_ms(latencies, 90.0),
            "p99_ms": percentile_ms(latencies, 99.0),
            "p999_ms": percentile_ms(latencies, 99.9),
            "max_ms": percentile_ms(latencies, 100.0),
        })
    };
    let lookups = summary(&mut latencies, errors - claim_errors);
    let claims = summary(&mut claim_latencies, claim_errors);
    let mut all = latencies;
    all.extend(claim_latencies);
    all.sort_by(f64::total_cmp);
    let requests = all.len() as u64 + errors;
    samples.truncate(5);
    let report = json!({
        "requests": requests,
        "ok": all.len(),
        "errors": errors,
        "error_samples": samples,
        "elapsed_s": (elapsed * 1000.0).round() / 1000.0,
        "concurrency": cli.concurrency,
        "claims_share": cli.claims_share,
        "throughput_per_s": per_s(requests as usize),
        "ok_per_s": per_s(all.len()),
        "p50_ms": percentile_ms(&all, 50.0),
        "p90_ms": percentile_ms(&all, 90.0),
        "p99_ms": percentile_ms(&all, 99.0),
        "p999_ms": percentile_ms(&all, 99.9),
        "max_ms": percentile_ms(&all, 100.0),
        "lookups": lookups,
        "claims": claims,
    });
    println!("{report}");
    ExitCode::SUCCESS
}
