//! The HTTP endpoints: `/metrics` (Prometheus text format), `/health` (liveness: the consumer
//! loop is turning) and `/ready` (readiness: consuming and writing normally). Both probes answer
//! 200 or 503 with a one-line reason.

use super::{Metrics, Readiness};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;

/// Starts serving on `addr` (port 0 picks a free port) on `runtime`; returns the bound address.
pub fn serve(
    addr: SocketAddr,
    metrics: Arc<Metrics>,
    runtime: &tokio::runtime::Runtime,
) -> Result<SocketAddr, String> {
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(addr))
        .map_err(|e| {
            format!("cannot listen on {addr} for metrics: {e} (set metrics.listen in --config, or SPANFLOW_METRICS_LISTEN, to a free host:port)")
        })?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("metrics listener on {addr}: {e}"))?;
    let app = Router::new()
        .route("/metrics", get(metrics_text))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .with_state(metrics);
    runtime.spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "The metrics endpoint stopped.");
        }
    });
    tracing::info!(address = %bound, "Serving /metrics, /health and /ready.");
    Ok(bound)
}

async fn metrics_text(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        m.render(),
    )
}

async fn health(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    match m.health.live() {
        Ok(()) => (StatusCode::OK, "ok\n".to_string()),
        Err(idle) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "stuck: the consumer loop has not turned for {:.0} s\n",
                idle.as_secs_f64()
            ),
        ),
    }
}

async fn ready(State(m): State<Arc<Metrics>>) -> impl IntoResponse {
    match m.health.readiness() {
        Readiness::Ready => (StatusCode::OK, "ready\n".to_string()),
        Readiness::NotReady(why) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("not ready: {why}\n"),
        ),
    }
}
