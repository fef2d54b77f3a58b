//! `GET /health`: 200 while the store answers, 503 otherwise. Load balancers and the local
//! supervisor route by it, so it must not hang when the store does.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use serde_json::json;

use crate::telemetry::Chain;
use crate::web::AppState;

const PING_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn health(State(state): State<AppState>) -> Response {
    let outcome = tokio::time::timeout(PING_TIMEOUT, state.store.ping()).await;
    let ok = match outcome {
        Ok(Ok(())) => true,
        Ok(Err(e)) => {
            tracing::warn!(error = %Chain(&e), "health check: the store failed");
            false
        }
        Err(_) => {
            tracing::warn!("health check: the store did not answer within {PING_TIMEOUT:?}");
            false
        }
    };
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if ok { "ok" } else { "unavailable" },
        "color": state.site.color,
        "version": state.site.version,
        "store": { "kind": state.store.kind(), "ok": ok },
    });
    (status, Json(body)).into_response()
}
