//! Starting services: bind, open and migrate the database, build the service's state,
//! serve, and run its background tasks. `healthcard all` starts all five in one process,
//! each on its own port with its own database.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::web;
use futures_util::future::LocalBoxFuture;

use crate::auth::{Authenticator, SigningKeys, TokenVerifier, revocation};
use crate::config::{Config, Service};
use crate::contracts::client::MessageClient;
use crate::db::{DbPool, migrations};
use crate::http::extract::UploadLimit;
use crate::http::metrics::Metrics;
use crate::http::server::{self, ServiceContext};
use crate::outbox::OutboxWaker;
use crate::outbox::dispatcher::{Dispatcher, ServiceTokens, TokenSource};
use crate::pii::PiiKeys;

/// Why a service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{service}: cannot listen on {addr}: {source}")]
    Bind { service: Service, addr: SocketAddr, source: std::io::Error },
    #[error("{service}: database: {reason}")]
    Database { service: Service, reason: String },
    #[error("{0}")]
    Other(String),
}

/// A started service.
pub struct Running {
    pub service: Service,
    pub addr: SocketAddr,
    pub server: Server,
    /// The operations listener (`/metrics`, `/readyz`, `/healthz`).
    pub ops_addr: SocketAddr,
    pub ops_server: Server,
    /// Run after the server has stopped taking requests (see [`ServiceParts::finish`]).
    pub finish: Vec<LocalBoxFuture<'static, ()>>,
}

/// Opens `service`'s pool of `pool_size` connections and applies its migrations.
pub fn open_database(config: &Config, service: Service, pool_size: u32) -> Result<DbPool, StartError> {
    let db_err = |e: crate::db::DbError| StartError::Database { service, reason: e.to_string() };
    let pool = DbPool::open(config.service(service).database_url.expose(), pool_size).map_err(db_err)?;
    let applied = migrations::run(&pool, service).map_err(db_err)?;
    if applied > 0 {
        tracing::info!(service = service.name(), applied, backend = pool.backend().name(), "migrations applied");
    }
    Ok(pool)
}

/// What a service brings to the process: its routes, with the state its handlers
/// read, and its background workers. Each service builds its own from a [`Setup`];
/// [`start`] only starts what it is given, and adds what every service has (token
/// checks, metrics, the outbox dispatcher).
pub struct ServiceParts {
    /// Registers the routes and app data; called once per HTTP worker.
    pub routes: Arc<dyn Fn(&mut web::ServiceConfig) + Send + Sync>,
    /// Background work that runs as long as the server does.
    pub workers: Vec<LocalBoxFuture<'static, ()>>,
    /// Work that must end before the process does, awaited once the server has
    /// answered its last request (writing what a worker still holds in memory).
    pub finish: Vec<LocalBoxFuture<'static, ()>>,
}

/// What a service is built from.
pub struct Setup<'a> {
    pub config: &'a Config,
    pub service: Service,
    pub pool: DbPool,
    /// Wakes the service's outbox dispatcher when a message is written.
    pub outbox: Arc<OutboxWaker>,
    /// The token verifier of the service's handlers.
    pub auth: web::Data<Authenticator>,
    /// The gateway's signing key, where this process holds it.
    pub keys: Option<Arc<SigningKeys>>,
}

impl Setup<'_> {
    /// A start error of this service.
    pub fn error(&self, cause: impl std::fmt::Display) -> StartError {
        StartError::Other(format!("{}: {cause}", self.service))
    }
}

/// Starts `services` (all of them for `healthcard all`) and returns their servers.
pub async fn start(mut config: Config, services: &[Service]) -> Result<Vec<Running>, StartError> {
    let mut listeners: Vec<(Service, TcpListener, SocketAddr, TcpListener, SocketAddr)> = Vec::new();
    for &service in services {
        let bind = |addr| server::bind(addr).map_err(|source| StartError::Bind { service, addr, source });
        let (listener, bound) = bind(config.service(service).listen)?;
        let (ops_listener, ops_bound) = bind(config.service(service).ops_listen)?;
        config.set_bound_url(service, bound);
        listeners.push((service, listener, bound, ops_listener, ops_bound));
    }
    let config = Arc::new(config);
    // The process that runs the gateway holds its key and signs service tokens locally.
    let keys = if services.contains(&Service::Gateway) { Some(signing_keys(&config)?) } else { None };
    let mut running = Vec::new();
    for (service, listener, addr, ops_listener, ops_addr) in listeners {
        let pool = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || open_database(&config, service, config.db_pool_size))
                .await
                .map_err(|e| StartError::Other(e.to_string()))??
        };
        let (server, ops_server, finish) =
            start_service(&config, service, keys.clone(), pool, Listeners { api: listener, ops: ops_listener })?;
        running.push(Running { service, addr, server, ops_addr, ops_server, finish });
    }
    Ok(running)
}

/// The sockets one service serves on.
struct Listeners {
    api: TcpListener,
    ops: TcpListener,
}

/// A started service's API server, its operations server, and what must run after.
type Started = (Server, Server, Vec<LocalBoxFuture<'static, ()>>);

/// Builds `service` from its own description, serves it, and starts its workers and
/// its outbox dispatcher.
fn start_service(
    config: &Config,
    service: Service,
    keys: Option<Arc<SigningKeys>>,
    pool: DbPool,
    listeners: Listeners,
) -> Result<Started, StartError> {
    let other = |e: &dyn std::fmt::Display| StartError::Other(format!("{service}: {e}"));
    let verifier = match (service, &keys) {
        (Service::Gateway, Some(keys)) => TokenVerifier::local(keys.clone()),
        (Service::Gateway, None) => return Err(other(&"the gateway needs its signing key")),
        _ => {
            TokenVerifier::remote(config.jwks_url(), &config.jwt_issuer, &config.jwt_audience).map_err(|e| other(&e))?
        }
    };
    let auth = web::Data::new(Authenticator::new(verifier));
    if service != Service::Gateway {
        actix_web::rt::spawn(jwks_refresher(auth.clone().into_inner(), config.jwks_refresh));
    }
    let metrics = metrics(service)?;
    let setup = Setup {
        config,
        service,
        pool: pool.clone(),
        outbox: Arc::new(OutboxWaker::default()),
        auth: auth.clone(),
        keys: keys.clone(),
    };
    let parts = match service {
        Service::Gateway => crate::gateway::service::parts(&setup)?,
        Service::Collection => crate::collection::service::parts(&setup)?,
        Service::Verification => crate::verification::service::parts(&setup)?,
        Service::Cardmaking => crate::cardmaking::service::parts(&setup)?,
        Service::Settlement => crate::settlement::service::parts(&setup)?,
    };
    let ctx = ServiceContext { service, pool: pool.clone(), metrics: metrics.clone(), auth };
    let routes = parts.routes;
    let server = server::serve(&ctx, listeners.api, config.workers, move |cfg: &mut web::ServiceConfig| routes(cfg))
        .map_err(|e| other(&e))?;
    // One worker: a scraper and a probe are all that call it.
    let ops_server = server::serve(&ctx, listeners.ops, 1, crate::http::ops::configure).map_err(|e| other(&e))?;
    for worker in parts.workers {
        actix_web::rt::spawn(worker);
    }
    actix_web::rt::spawn(crate::http::idempotency::purge_worker(pool.clone(), config.idempotency_retention));
    let dispatcher = Dispatcher {
        pool,
        source: service,
        urls: config.urls.clone(),
        client: MessageClient::new(Duration::from_secs(30)).map_err(|e| other(&e))?,
        tokens: Arc::new(ServiceTokens::new(token_source(config, service, keys).map_err(|e| other(&e))?, service)),
        waker: setup.outbox,
        metrics: metrics.into_inner(),
        poll: config.outbox_poll,
        lease: config.outbox_lease,
        fault_exit_after_send: config.fault_exit_after_send,
    };
    actix_web::rt::spawn(dispatcher.run());
    Ok((server, ops_server, parts.finish))
}

/// Fetches the gateway's JWKS every `every`: a key the gateway retired is then refused
/// here too, and the tokens it signed with it are forgotten.
async fn jwks_refresher(auth: Arc<Authenticator>, every: Duration) {
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = auth.verifier.refresh().await {
            tracing::warn!(error = %e, "could not fetch the gateway's public keys; the keys fetched before stay");
        }
    }
}

/// How `service`'s dispatcher gets its tokens: signed here where this process holds
/// the gateway's key, else from the gateway with the service's own credentials.
fn token_source(
    config: &Config,
    service: Service,
    keys: Option<Arc<SigningKeys>>,
) -> Result<TokenSource, reqwest::Error> {
    Ok(match (keys, &config.service(service).client_credentials) {
        (Some(keys), _) => TokenSource::Local(keys),
        (None, Some((client_id, client_secret))) => TokenSource::ClientCredentials {
            token_url: format!("{}/api/v1/auth/token", config.url(Service::Gateway)),
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
        },
        (None, None) => TokenSource::Missing,
    })
}

/// The worker that keeps an upstream service's list of revoked clients current:
/// revocations arrive by message, and replicas of the service pick up each other's
/// from the database.
pub fn revocation_refresher(setup: &Setup<'_>) -> LocalBoxFuture<'static, ()> {
    let (pool, auth) = (setup.pool.clone(), setup.auth.clone().into_inner());
    Box::pin(async move {
        loop {
            match pool.read(|conn| revocation::load(conn).map_err(crate::http::ApiError::from)).await {
                Ok(ids) => auth.revoked.replace(ids),
                Err(e) => tracing::warn!(error = %e, "could not refresh revocations"),
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    })
}

/// The parts of an upstream service whose handlers read the common app data (see
/// [`upstream_data`]) and whatever `configure` adds with its routes; its one worker
/// keeps the revoked clients current. A service with workers of its own adds them.
pub fn upstream_parts(
    setup: &Setup<'_>,
    configure: impl Fn(&mut web::ServiceConfig) + Send + Sync + 'static,
) -> Result<ServiceParts, StartError> {
    Ok(upstream_parts_with(setup, upstream_data(setup)?, configure))
}

/// [`upstream_parts`] over app data the service has already loaded, for a service
/// whose workers read it too.
pub fn upstream_parts_with(
    setup: &Setup<'_>,
    data: UpstreamData,
    configure: impl Fn(&mut web::ServiceConfig) + Send + Sync + 'static,
) -> ServiceParts {
    let routes = Arc::new(move |cfg: &mut web::ServiceConfig| {
        data.register(cfg);
        configure(cfg);
    });
    ServiceParts { routes, workers: vec![revocation_refresher(setup)], finish: Vec::new() }
}

/// The app data every upstream service's handlers read: its personal-data keys, the
/// outbox waker and the upload limit.
pub fn upstream_data(setup: &Setup<'_>) -> Result<UpstreamData, StartError> {
    Ok(UpstreamData {
        pii: web::Data::new(PiiKeys::load_or_create(&setup.config.pii_key_file).map_err(|e| setup.error(e))?),
        outbox: web::Data::from(setup.outbox.clone()),
        upload_limit: web::Data::new(UploadLimit(setup.config.max_body_bytes)),
    })
}

/// See [`upstream_data`].
#[derive(Clone)]
pub struct UpstreamData {
    pub pii: web::Data<PiiKeys>,
    pub outbox: web::Data<OutboxWaker>,
    pub upload_limit: web::Data<UploadLimit>,
}

impl UpstreamData {
    pub fn register(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(self.pii.clone()).app_data(self.outbox.clone()).app_data(self.upload_limit.clone());
    }
}

fn metrics(service: Service) -> Result<web::Data<Metrics>, StartError> {
    Metrics::new(service.name()).map(web::Data::new).map_err(|e| StartError::Other(e.to_string()))
}

fn signing_keys(config: &Config) -> Result<Arc<SigningKeys>, StartError> {
    SigningKeys::load_or_create(&config.jwt_key_file, &config.jwt_issuer, &config.jwt_audience, config.token_ttl)
        .map(Arc::new)
        .map_err(|e| StartError::Other(e.to_string()))
}

/// Serves until SIGINT or SIGTERM, then stops every server gracefully.
pub async fn serve_until_signal(running: Vec<Running>) -> std::io::Result<()> {
    let handles: Vec<ServerHandle> = running.iter().flat_map(|r| [r.server.handle(), r.ops_server.handle()]).collect();
    let mut servers = Vec::new();
    let mut finish = Vec::new();
    for r in running {
        servers.push(r.server);
        servers.push(r.ops_server);
        finish.extend(r.finish);
    }
    let servers = futures_util::future::try_join_all(servers);
    let result = tokio::select! {
        result = servers => result.map(|_| ()),
        _ = shutdown_signal() => {
            tracing::info!("shutting down");
            for handle in handles {
                handle.stop(true).await;
            }
            Ok(())
        }
    };
    futures_util::future::join_all(finish).await;
    result
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
