//! The HTTP API: `POST /v1/tag`, `GET /healthz`, `GET /metrics`, `GET /openapi.json`.
//! Every error is a JSON body `{"error": "..."}`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use byline_core::jsonl;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::api_error::json_headers;
pub use crate::api_error::ApiError;
use crate::config::Config;
use crate::engine::{Engine, Results, SubmitError};
use crate::metrics::Metrics;
use crate::request::parse;

/// The OpenAPI 3 description served at `/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

/// What the handlers share.
#[derive(Debug)]
pub struct AppState {
    pub engine: Engine,
    pub metrics: Arc<Metrics>,
    pub config: Config,
}

/// The service's routes over shared state.
pub fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/v1/tag", post(tag))
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .fallback(not_found)
        .with_state(state)
}

async fn tag(State(state): State<Arc<AppState>>, headers: HeaderMap, body: Body) -> Response {
    let start = Instant::now();
    let timeout = state.config.timeout;
    let response = match tokio::time::timeout(timeout, answer(&state, &headers, body)).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => e.into_response(),
        Err(_) => ApiError::new(
            StatusCode::GATEWAY_TIMEOUT,
            format!(
                "not answered within the deadline ({} ms)",
                timeout.as_millis()
            ),
        )
        .into_response(),
    };
    state
        .metrics
        .request(response.status().as_u16(), start.elapsed());
    response
}

/// Reads, queues and answers one `POST /v1/tag`.
async fn answer(state: &AppState, headers: &HeaderMap, body: Body) -> Result<Response, ApiError> {
    let max = state.config.max_body_bytes;
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the body is larger than {max} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    let bytes = match Limited::new(body, max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.downcast_ref::<LengthLimitError>().is_some() => return Err(too_large()),
        Err(e) => return Err(ApiError::bad_request(format!("cannot read the body: {e}"))),
    };
    let request = parse(&bytes, state.config.max_documents)?;
    let ids: Vec<String> = request.documents.iter().map(|d| d.id.clone()).collect();
    let rx = state.engine.submit(request.documents).map_err(|e| {
        let mut err = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string());
        if e == SubmitError::QueueFull {
            let wait = state.config.limits.max_wait + Duration::from_millis(999);
            err.retry_after = Some(wait.as_secs().max(1));
        }
        err
    })?;
    let results = rx.await.map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "the inference thread ended before answering",
        )
    })?;
    let records = records(&ids, results);
    let body = if request.single {
        records.into_iter().next().unwrap_or_default()
    } else {
        format!("{{\"documents\":[{}]}}", records.join(","))
    };
    Ok((StatusCode::OK, json_headers(), body).into_response())
}

/// The `byline tag` JSONL record of each result; a document without a result is an error.
fn records(ids: &[String], results: Results) -> Vec<String> {
    let mut results = results.into_iter();
    ids.iter()
        .map(|id| match results.next() {
            Some(Ok(t)) => jsonl::prediction_line(&t.document, &t.source_entities)
                .unwrap_or_else(|e| jsonl::error_line(&t.document.id, &e.to_string())),
            Some(Err(e)) => jsonl::error_line(&e.id, &e.message),
            None => jsonl::error_line(id, "the tagger gave no result"),
        })
        .collect()
}

async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    let body = serde_json::json!({
        "status": "ok",
        "model": state.config.model_name,
        "queue_depth": state.metrics.queue_depth.load(std::sync::atomic::Ordering::Relaxed).max(0),
    });
    (StatusCode::OK, json_headers(), body.to_string()).into_response()
}

async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

async fn openapi() -> Response {
    (StatusCode::OK, json_headers(), OPENAPI).into_response()
}

async fn not_found(uri: Uri) -> Response {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!("no such endpoint: {}", uri.path()),
    )
    .into_response()
}
