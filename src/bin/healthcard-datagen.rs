//! `healthcard-datagen`: deterministic, seeded test data for the health card
//! backend (enrollee batches, the matching household register, and a sidecar
//! of deliberate defects with their expected outcomes). See `healthcard::datagen`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use healthcard::datagen::{Format, Options, OutputOptions, generate_files};

#[derive(Debug, Parser)]
#[command(name = "healthcard-datagen", version, about = "Deterministic test data for the health card backend")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Write a batch of enrollee records (and optionally the household register).
    Batch(BatchArgs),
    /// Write `registration_requested` envelopes (NDJSON) for the card-making benchmark.
    Registrations(RegistrationArgs),
    /// Write `card_status_changed` envelopes (NDJSON), one activated card per person in
    /// county 210804, for the settlement benchmark.
    CardStatuses(CardStatusArgs),
}

#[derive(Debug, Args)]
struct CardStatusArgs {
    /// Number of people, each with one activated card (one envelope each).
    #[arg(long)]
    count: u64,
    /// Seed: distinct seeds (modulo 10) give distinct card numbers.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The deployment's personal-data key file (HEALTHCARD_PII_KEY_FILE).
    #[arg(long)]
    pii_key_file: PathBuf,
    #[arg(long)]
    out: PathBuf,
}

fn card_statuses(args: &CardStatusArgs) -> Result<u64, Box<dyn std::error::Error>> {
    let pii = healthcard::pii::PiiKeys::load_or_create(&args.pii_key_file)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args.out)?);
    let messages = healthcard::datagen::card_statuses::write(&mut out, &pii, args.count, args.seed)?;
    std::io::Write::flush(&mut out)?;
    Ok(messages)
}

#[derive(Debug, Args)]
struct RegistrationArgs {
    /// Number of registrations (card orders to be).
    #[arg(long)]
    count: u64,
    /// Registrations per envelope.
    #[arg(long, default_value_t = 500)]
    per_message: usize,
    /// Seed: distinct seeds give distinct record ids.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// The deployment's personal-data key file (HEALTHCARD_PII_KEY_FILE).
    #[arg(long)]
    pii_key_file: PathBuf,
    #[arg(long)]
    out: PathBuf,
}

fn registrations(args: &RegistrationArgs) -> Result<u64, Box<dyn std::error::Error>> {
    let pii = healthcard::pii::PiiKeys::load_or_create(&args.pii_key_file)?;
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args.out)?);
    let messages =
        healthcard::datagen::registrations::write(&mut out, &pii, args.count, args.per_message.max(1), args.seed)?;
    std::io::Write::flush(&mut out)?;
    Ok(messages)
}

#[derive(Debug, Args)]
struct BatchArgs {
    /// Number of batch rows.
    #[arg(long)]
    records: u64,
    /// Seed: the same seed gives the same bytes.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Share of rows with a deliberate defect (0 to 1).
    #[arg(long, default_value_t = 0.02)]
    defect_rate: f64,
    /// Batch format: csv, csv-gb18030, ndjson or json.
    #[arg(long, default_value = "csv", value_parser = clap::value_parser!(Format))]
    format: Format,
    /// Batch file; the defects go to FILE.defects.csv.
    #[arg(long)]
    out: PathBuf,
    /// Household register file (CSV, UTF-8).
    #[arg(long)]
    register_out: Option<PathBuf>,
    /// People in the register beyond those in the batch.
    #[arg(long, default_value_t = 0)]
    register_extra: u64,
    /// CSV header in Chinese (姓名,性别,...).
    #[arg(long)]
    chinese_headers: bool,
    /// Scheme year of the NCMS numbers.
    #[arg(long, default_value_t = 2024)]
    year: u16,
}

/// Reports how many envelopes a message subcommand wrote.
fn messages_written(result: Result<u64, Box<dyn std::error::Error>>) -> ExitCode {
    match result {
        Ok(messages) => {
            println!("{{\"messages\":{messages}}}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("healthcard-datagen: {err}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Registrations(args) => messages_written(registrations(&args)),
        Command::CardStatuses(args) => messages_written(card_statuses(&args)),
        Command::Batch(args) => {
            let options = Options {
                records: args.records,
                seed: args.seed,
                defect_rate: args.defect_rate,
                register_extra: args.register_extra,
                year: args.year,
            };
            let output = OutputOptions { format: args.format, chinese_headers: args.chinese_headers };
            match generate_files(&options, output, &args.out, args.register_out.as_deref()) {
                Ok(summary) => match serde_json::to_string(&summary) {
                    Ok(line) => {
                        println!("{line}");
                        ExitCode::SUCCESS
                    }
                    Err(err) => {
                        eprintln!("healthcard-datagen: {err}");
                        ExitCode::FAILURE
                    }
                },
                Err(err) => {
                    eprintln!("healthcard-datagen: {err}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
