//! The command line: `healthcard <all|gateway|collection|verification|cardmaking|settlement|migrate|clients|ledger>`.

use std::io::Write;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::app;
use crate::auth::Role;
use crate::config::{Config, Service};
use crate::gateway::clients::{CreateClient, NewClientCommand, create, new_credentials};
use crate::http::ApiError;

#[derive(Debug, Parser)]
#[command(name = "healthcard", version, about = "Resident health card lifecycle backend (NCMS)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway and every service in one process, each on its own port and
    /// with its own database (SQLite files under ./data unless configured).
    All,
    /// Run the gateway alone.
    Gateway,
    /// Run the collection service alone.
    Collection,
    /// Run the verification service alone.
    Verification,
    /// Run the card-making service alone.
    Cardmaking,
    /// Run the settlement service alone.
    Settlement,
    /// Apply pending migrations (of one service, or of all) and exit.
    Migrate {
        #[arg(value_enum)]
        service: Option<Service>,
    },
    /// Manage API clients directly in the gateway's database.
    Clients {
        #[command(subcommand)]
        action: ClientsCommand,
    },
    /// Work with the fund ledger in the settlement database.
    Ledger {
        #[command(subcommand)]
        action: LedgerCommand,
    },
}

#[derive(Debug, Subcommand)]
enum LedgerCommand {
    /// Re-derive every balance and verify every transaction balances and every hash
    /// link holds; exits 1 on any violation.
    Check {
        /// Only this county's ledger.
        #[arg(long)]
        county: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum ClientsCommand {
    /// Create an API client and print its id and secret (shown only this once).
    Create {
        #[arg(long)]
        name: String,
        /// county_office, registry_admin, provincial_admin, card_maker, clinic, bank,
        /// auditor, or service (the credentials of a standalone service process).
        #[arg(long)]
        role: String,
        /// A county code, institution code or card maker code; repeat for several.
        #[arg(long = "scope")]
        scopes: Vec<String>,
    },
}

pub fn main() -> ExitCode {
    // Before anything touches OpenSSL (libpq's TLS, reqwest): keeps OpenSSL from
    // registering its clean-up as an exit handler. That handler frees OpenSSL's state
    // while other threads may still use it (a pool opening a connection, a dispatcher
    // mid-request), and the process then crashed on its way out, after its work was done.
    openssl_sys::init();
    let cli = Cli::parse();
    crate::telemetry::init();
    let config = match Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::All => serve(config, &Service::ALL),
        Command::Gateway => serve(config, &[Service::Gateway]),
        Command::Collection => serve(config, &[Service::Collection]),
        Command::Verification => serve(config, &[Service::Verification]),
        Command::Cardmaking => serve(config, &[Service::Cardmaking]),
        Command::Settlement => serve(config, &[Service::Settlement]),
        Command::Migrate { service } => migrate(&config, service),
        Command::Clients { action: ClientsCommand::Create { name, role, scopes } } => {
            create_client(&config, CreateClient { name, role, scopes })
        }
        Command::Ledger { action: LedgerCommand::Check { county } } => check_ledger(&config, county.as_deref()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn serve(config: Config, services: &[Service]) -> Result<(), String> {
    let services = services.to_vec();
    actix_web::rt::System::new().block_on(async move {
        let gateway_db = config.service(Service::Gateway).database_url.clone();
        let running = app::start(config, &services).await.map_err(|e| e.to_string())?;
        let mut out = std::io::stdout().lock();
        for r in &running {
            // One JSON line per service on stdout: tests and scripts read the real ports.
            let line = serde_json::json!({"event": "listening", "service": r.service.name(), "url": format!("http://{}", r.addr)});
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
        drop(out);
        if services.contains(&Service::Gateway) && no_clients_yet(gateway_db.expose()) {
            eprintln!(
                "No API client exists yet. Create the first provincial admin (the secret is shown once):\n  \
                 cargo run --release -- clients create --name \"Provincial admin\" --role provincial_admin"
            );
        }
        app::serve_until_signal(running).await.map_err(|e| e.to_string())
    })
}

fn no_clients_yet(url: &str) -> bool {
    let Ok(pool) = crate::db::DbPool::open(url, ONE_SHOT_POOL) else {
        return false;
    };
    pool.run_blocking(false, |conn| crate::gateway::repo::count_active(conn).map_err(ApiError::from))
        .is_ok_and(|n| n == 0)
}

/// A command that runs once and exits keeps one connection. With more, the pool opened
/// spare connections on background threads that could still be connecting as the
/// command exited (which crashed in OpenSSL's exit handler; see [`main`]). With one,
/// the pool opens it before `open` returns and never has a second to open.
const ONE_SHOT_POOL: u32 = 1;

fn migrate(config: &Config, service: Option<Service>) -> Result<(), String> {
    let services = service.map(|s| vec![s]).unwrap_or_else(|| Service::ALL.to_vec());
    for service in services {
        app::open_database(config, service, ONE_SHOT_POOL).map_err(|e| e.to_string())?;
        println!("{}", serde_json::json!({"event": "migrated", "service": service.name()}));
    }
    Ok(())
}

fn create_client(config: &Config, request: CreateClient) -> Result<(), String> {
    // A `service` client (what a standalone service uses to send its messages) is
    // made here only, never through the API.
    let service_client = request.role == Role::Service.as_str();
    if service_client && !request.scopes.is_empty() {
        return Err("a service client takes no scopes".into());
    }
    let command = if service_client {
        Ok(NewClientCommand { name: request.name.trim().to_string(), role: Role::Service, scopes: Vec::new() })
    } else {
        NewClientCommand::try_from(request)
    };
    let command = command.map_err(|e| match e {
        ApiError::Validation { errors } => {
            errors.iter().map(|e| format!("{}: {} ({})", e.field, e.message, e.code)).collect::<Vec<_>>().join("; ")
        }
        other => other.to_string(),
    })?;
    let pool = app::open_database(config, Service::Gateway, ONE_SHOT_POOL).map_err(|e| e.to_string())?;
    let (secret, hash) = new_credentials().map_err(|e| e.to_string())?;
    let created =
        pool.run_blocking(true, |conn| create(conn, &command, secret, &hash, None)).map_err(|e| e.to_string())?;
    let json = serde_json::to_string(&created).map_err(|e| e.to_string())?;
    println!("{json}");
    Ok(())
}

fn check_ledger(config: &Config, county: Option<&str>) -> Result<(), String> {
    let county = county
        .map(|c| {
            crate::domain::CountyCode::parse(c).map_err(|_| format!("--county {c}: not a six-digit county-level code"))
        })
        .transpose()?;
    let county = county.as_ref().map(|c| c.as_str());
    let pool = app::open_database(config, Service::Settlement, ONE_SHOT_POOL).map_err(|e| e.to_string())?;
    let report = pool
        .run_blocking(false, |conn| crate::settlement::ledger_check::check(conn, county).map_err(ApiError::from))
        .map_err(|e| format!("ledger check: {e}"))?;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "ledger check: {} counties, {} transactions ({} not yet chained), {} entries, {} balances checked",
        report.counties, report.transactions, report.unchained, report.entries, report.balances
    );
    for violation in &report.violations {
        let _ = writeln!(out, "violation: {violation}");
    }
    if report.is_clean() {
        let _ = writeln!(out, "ledger check: ok");
    }
    let _ = out.flush();
    if report.is_clean() { Ok(()) } else { Err(format!("ledger check: {} violations", report.violations.len())) }
}
