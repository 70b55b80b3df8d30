//! Links posted ledger transactions into their county's chain in the background
//! ([`super::ledger::chain`]), a moment after they commit: postings never wait for
//! the chain, and one transaction of the chainer links everything posted meanwhile.
//!
//! Several settlement processes may run it at once: they take turns on each county's
//! head row, and the second finds nothing left. When the service stops, one last round
//! links what was posted before the last answer.

use std::time::Duration;

use futures_util::future::LocalBoxFuture;
use tokio::sync::oneshot;

use super::ledger;
use super::repo::ledger as repo;
use crate::db::DbPool;
use crate::http::ApiError;

/// How long the chainer rests when it found nothing to link.
const REST: Duration = Duration::from_millis(100);

/// The chainer's task and the future that stops it after one last round.
pub fn worker(pool: DbPool) -> (LocalBoxFuture<'static, ()>, LocalBoxFuture<'static, ()>) {
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let (done_tx, done_rx) = oneshot::channel::<()>();
    let task = Box::pin(run(pool, stop_rx, done_tx));
    let finish = Box::pin(async move {
        let _ = stop_tx.send(());
        let _ = done_rx.await;
    });
    (task, finish)
}

async fn run(pool: DbPool, mut stop: oneshot::Receiver<()>, done: oneshot::Sender<()>) {
    loop {
        let linked = round(&pool).await;
        if linked == 0 {
            tokio::select! {
                _ = tokio::time::sleep(REST) => {}
                _ = &mut stop => break,
            }
        }
    }
    round(&pool).await;
    let _ = done.send(());
}

/// Links every county's unchained transactions once; returns how many it linked.
pub async fn round(pool: &DbPool) -> usize {
    let counties = match pool.read(|conn| repo::unchained_counties(conn).map_err(ApiError::from)).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "could not look for unchained ledger transactions");
            return 0;
        }
    };
    let mut linked = 0;
    for county in counties {
        match pool.write(move |conn| ledger::chain(conn, &county)).await {
            Ok(n) => linked += n,
            Err(e) => tracing::warn!(error = %e, "could not chain ledger transactions"),
        }
    }
    linked
}
