//! Running the service: the inference thread, the HTTP server on a listener, and graceful
//! shutdown (stop accepting, answer what is queued, end).

use std::future::{Future, IntoFuture};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use byline_infer::Model;
use tokio::net::TcpListener;
use tokio::sync::oneshot;

use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::http::{router, AppState};
use crate::metrics::Metrics;

/// Opens the listening socket.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })
}

/// Serves `model` (byline's tagger or a plain token-classification checkpoint) on `listener` until `shutdown` completes, then stops accepting, answers
/// the requests already received (for at most `config.timeout` and one second more) and
/// returns once the inference thread has finished what was queued.
pub async fn serve<F>(
    listener: TcpListener,
    model: impl Into<Model>,
    config: Config,
    shutdown: F,
) -> Result<()>
where
    F: Future<Output = ()> + Send + 'static,
{
    let metrics = Arc::new(Metrics::default());
    let (engine, thread) = Engine::start(
        model.into(),
        config.limits,
        config.queue,
        Arc::clone(&metrics),
    )?;
    let grace = config.timeout + Duration::from_secs(1);
    let state = Arc::new(AppState {
        engine,
        metrics,
        config,
    });
    let (fired_tx, fired_rx) = oneshot::channel::<()>();
    let signal = async move {
        shutdown.await;
        tracing::info!("shutting down: no new connections; answering what is queued");
        let _ = fired_tx.send(());
    };
    let server = axum::serve(listener, router(Arc::clone(&state)))
        .with_graceful_shutdown(signal)
        .into_future();
    let grace_over = async move {
        if fired_rx.await.is_err() {
            std::future::pending::<()>().await;
        }
        tokio::time::sleep(grace).await;
    };
    let served = tokio::select! {
        served = server => served.map_err(|source| Error::Io { what: "the server failed", source }),
        () = grace_over => {
            tracing::warn!("connections still open {} s after shutdown; leaving them", grace.as_secs());
            Ok(())
        }
    };
    state.engine.close();
    let joined = tokio::task::spawn_blocking(move || thread.join()).await;
    served?;
    match joined {
        Ok(Ok(())) => Ok(()),
        _ => Err(Error::EnginePanicked),
    }
}

/// The address a listener is bound to (for `--addr 127.0.0.1:0`).
pub fn local_addr(listener: &TcpListener) -> Result<SocketAddr> {
    listener.local_addr().map_err(|source| Error::Io {
        what: "cannot read the listening address",
        source,
    })
}
