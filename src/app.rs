//! Starting services: bind, open and migrate the database, build the service's state,
//! serve, and run its background tasks. `healthcard all` starts all five in one process,
//! each on its own port with its own database.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::{Server, ServerHandle};
use actix_web::web;

use crate::auth::{Authenticator, SigningKeys, TokenVerifier, revocation};
use crate::config::{Config, Service};
use crate::contracts::client::MessageClient;
use crate::db::{DbPool, migrations};
use crate::gateway::{self, GatewayState};
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

/// Starts `services` (all of them for `healthcard all`) and returns their servers.
pub async fn start(mut config: Config, services: &[Service]) -> Result<Vec<Running>, StartError> {
    let mut listeners: Vec<(Service, TcpListener, SocketAddr)> = Vec::new();
    for &service in services {
        let addr = config.service(service).listen;
        let (listener, bound) = server::bind(addr).map_err(|source| StartError::Bind { service, addr, source })?;
        config.set_bound_url(service, bound);
        listeners.push((service, listener, bound));
    }
    let config = Arc::new(config);
    // The process that runs the gateway holds its key and signs service tokens locally.
    let keys = if services.contains(&Service::Gateway) { Some(signing_keys(&config)?) } else { None };
    let mut running = Vec::new();
    for (service, listener, addr) in listeners {
        let pool = {
            let config = config.clone();
            tokio::task::spawn_blocking(move || open_database(&config, service, config.db_pool_size))
                .await
                .map_err(|e| StartError::Other(e.to_string()))??
        };
        let server = match service {
            Service::Gateway => {
                let keys = keys.clone().ok_or_else(|| StartError::Other("gateway without its key".into()))?;
                start_gateway(&config, keys, pool, listener)?
            }
            other => start_upstream(&config, other, keys.clone(), pool, listener)?,
        };
        running.push(Running { service, addr, server });
    }
    Ok(running)
}

fn metrics(service: Service) -> Result<web::Data<Metrics>, StartError> {
    Metrics::new(service.name()).map(web::Data::new).map_err(|e| StartError::Other(e.to_string()))
}

fn signing_keys(config: &Config) -> Result<Arc<SigningKeys>, StartError> {
    SigningKeys::load_or_create(&config.jwt_key_file, &config.jwt_issuer, &config.jwt_audience, config.token_ttl)
        .map(Arc::new)
        .map_err(|e| StartError::Other(e.to_string()))
}

fn start_gateway(
    config: &Config,
    keys: Arc<SigningKeys>,
    pool: DbPool,
    listener: TcpListener,
) -> Result<Server, StartError> {
    let verifier = TokenVerifier::local(&keys.jwks(), &config.jwt_issuer, &config.jwt_audience)
        .map_err(|e| StartError::Other(e.to_string()))?;
    let auth = web::Data::new(Authenticator::new(verifier));
    let metrics = metrics(Service::Gateway)?;
    let waker = Arc::new(OutboxWaker::default());
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(3))
        .pool_idle_timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| StartError::Other(e.to_string()))?;
    let upstreams: Vec<(Service, String)> =
        Service::UPSTREAMS.iter().map(|&s| (s, config.url(s).to_string())).collect();
    let state = web::Data::new(GatewayState {
        keys: keys.clone(),
        upstreams: upstreams.clone(),
        http,
        limits: gateway::rate_limit::RateLimits::new(config.rate_limit_per_second, config.rate_limit_burst),
        waker: waker.clone(),
        max_body_bytes: config.max_body_bytes,
        hashing: tokio::sync::Semaphore::new(config.workers.max(1)),
    });
    let ctx =
        ServiceContext { service: Service::Gateway, pool: pool.clone(), metrics: metrics.clone(), auth: auth.clone() };
    let server = {
        let state = state.clone();
        server::serve(&ctx, listener, config.workers, move |cfg: &mut web::ServiceConfig| {
            cfg.app_data(state.clone());
            gateway::routes::configure(cfg);
        })
        .map_err(|e| StartError::Other(e.to_string()))?
    };
    // Revocations by other gateway replicas reach this one within a few seconds.
    let auth_arc = auth.clone().into_inner();
    let refresh_pool = pool.clone();
    actix_web::rt::spawn(async move {
        loop {
            if let Err(e) = gateway::clients::refresh_revocations(refresh_pool.clone(), auth_arc.clone()).await {
                tracing::warn!(error = %e, "could not refresh revocations");
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    let limits_state = state.clone();
    actix_web::rt::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_secs(60)).await;
            limits_state.limits.shrink();
        }
    });
    let client = MessageClient::new(Duration::from_secs(10)).map_err(|e| StartError::Other(e.to_string()))?;
    let dispatcher = Dispatcher {
        pool,
        source: Service::Gateway,
        urls: upstreams,
        client,
        tokens: Arc::new(ServiceTokens::new(TokenSource::Local(keys), Service::Gateway)),
        waker,
        metrics: metrics.into_inner(),
        poll: config.outbox_poll,
        lease: config.outbox_lease,
        fault_exit_after_send: config.fault_exit_after_send,
    };
    actix_web::rt::spawn(dispatcher.run());
    Ok(server)
}

fn start_upstream(
    config: &Config,
    service: Service,
    keys: Option<Arc<SigningKeys>>,
    pool: DbPool,
    listener: TcpListener,
) -> Result<Server, StartError> {
    let other = |e: &dyn std::fmt::Display| StartError::Other(format!("{service}: {e}"));
    let verifier =
        TokenVerifier::remote(config.jwks_url(), &config.jwt_issuer, &config.jwt_audience).map_err(|e| other(&e))?;
    let auth = web::Data::new(Authenticator::new(verifier));
    let metrics = metrics(service)?;
    let ctx = ServiceContext { service, pool: pool.clone(), metrics: metrics.clone(), auth: auth.clone() };
    let routes = match service {
        Service::Collection => crate::collection::routes::configure,
        Service::Verification => crate::verification::routes::configure,
        Service::Cardmaking => crate::cardmaking::routes::configure,
        Service::Settlement => crate::settlement::routes::configure,
        Service::Gateway => return Err(StartError::Other("the gateway is not an upstream".into())),
    };
    let pii = web::Data::new(PiiKeys::load_or_create(&config.pii_key_file).map_err(|e| other(&e))?);
    let registration_keys = pii.get_ref().clone();
    let upload_limit = web::Data::new(UploadLimit(config.max_body_bytes));
    let lease_term = web::Data::new(crate::cardmaking::leases::LeaseTerm(config.card_lease));
    let waker = Arc::new(OutboxWaker::default());
    let waker_data = web::Data::from(waker.clone());
    let feeder = Arc::new(crate::collection::feeder::FeederWaker::default());
    let feeder_data = web::Data::from(feeder.clone());
    let server = server::serve(&ctx, listener, config.workers, move |cfg: &mut web::ServiceConfig| {
        cfg.app_data(pii.clone())
            .app_data(waker_data.clone())
            .app_data(feeder_data.clone())
            .app_data(upload_limit.clone())
            .app_data(lease_term.clone());
        routes(cfg);
    })
    .map_err(|e| other(&e))?;
    if service == Service::Collection {
        actix_web::rt::spawn(crate::collection::feeder::run(pool.clone(), feeder, waker.clone(), config.outbox_poll));
        actix_web::rt::spawn(crate::collection::registration::run(
            pool.clone(),
            registration_keys,
            waker.clone(),
            config.outbox_poll,
        ));
        actix_web::rt::spawn(crate::collection::tallies::run_compactor(pool.clone(), Duration::from_secs(10)));
    }
    let source = match (keys, &config.service(service).client_credentials) {
        (Some(keys), _) => TokenSource::Local(keys),
        (None, Some((client_id, client_secret))) => TokenSource::ClientCredentials {
            token_url: format!("{}/api/v1/auth/token", config.url(Service::Gateway)),
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().map_err(|e| other(&e))?,
        },
        (None, None) => TokenSource::Missing,
    };
    let client = MessageClient::new(Duration::from_secs(30)).map_err(|e| other(&e))?;
    let dispatcher = Dispatcher {
        pool: pool.clone(),
        source: service,
        urls: config.urls.clone(),
        client,
        tokens: Arc::new(ServiceTokens::new(source, service)),
        waker,
        metrics: metrics.into_inner(),
        poll: config.outbox_poll,
        lease: config.outbox_lease,
        fault_exit_after_send: config.fault_exit_after_send,
    };
    actix_web::rt::spawn(dispatcher.run());
    // Revocations arrive by message; replicas of this service pick up each other's
    // from the database.
    let auth_arc = auth.into_inner();
    actix_web::rt::spawn(async move {
        loop {
            match pool.read(|conn| revocation::load(conn).map_err(crate::http::ApiError::from)).await {
                Ok(ids) => auth_arc.revoked.replace(ids),
                Err(e) => tracing::warn!(error = %e, "could not refresh revocations"),
            }
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    Ok(server)
}

/// Serves until SIGINT or SIGTERM, then stops every server gracefully.
pub async fn serve_until_signal(running: Vec<Running>) -> std::io::Result<()> {
    let handles: Vec<ServerHandle> = running.iter().map(|r| r.server.handle()).collect();
    let servers = futures_util::future::try_join_all(running.into_iter().map(|r| r.server));
    tokio::select! {
        result = servers => result.map(|_| ()),
        _ = shutdown_signal() => {
            tracing::info!("shutting down");
            for handle in handles {
                handle.stop(true).await;
            }
            Ok(())
        }
    }
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
