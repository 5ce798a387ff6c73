//! The web dashboard and JSON API, served by `tierwatch serve` and `tierwatch demo`.
//!
//! Pages and API answer from rollups only (see `store::query`), so they stay fast however
//! many invocations are stored. Every page is server-rendered HTML with inline SVG charts and
//! works without JavaScript; time window and filters live in the query string (`scope`).
//!
//! Routes: pages `/`, `/models`, `/models/{model}`, `/callers`, `/quotas`, `/reports`,
//! `/reports/{month}[.csv|.json]`, `/data-health`, `/alerts`; JSON under `/api/v1/`; `/metrics`
//! (Prometheus); `/healthz` and `/readyz` (no auth, for load balancers).

mod access;
mod api;
pub mod charts;
pub mod data;
pub mod format;
mod pages;
mod prices;
mod prometheus;
pub mod scope;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::store::Store;

pub use access::{AccessError, check_bind};

/// What request handlers share.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    /// Required as a bearer token or basic-auth password, when set.
    pub auth_token: Option<Arc<str>>,
    /// Unix seconds now (replaceable so tests can pin "today").
    pub clock: Arc<dyn Fn() -> i64 + Send + Sync>,
    /// The configured alert rules, for the alerts page.
    pub alerts: Arc<crate::config::AlertsConfig>,
    /// How prices are configured (the user's table), for the prices page.
    pub pricing: Arc<crate::config::PricingConfig>,
    /// Charts drawn for recent pages.
    pub charts: Arc<pages::ChartMemo>,
}

impl AppState {
    pub fn new(store: Store, auth_token: Option<String>) -> AppState {
        AppState {
            store,
            auth_token: auth_token.map(Arc::from),
            clock: Arc::new(|| chrono::Utc::now().timestamp()),
            alerts: Arc::default(),
            pricing: Arc::new(crate::config::PricingConfig::default()),
            charts: Arc::default(),
        }
    }

    /// Shows the table this pricing configuration makes on the prices page.
    pub fn with_pricing(mut self, pricing: crate::config::PricingConfig) -> AppState {
        self.pricing = Arc::new(pricing);
        self
    }

    /// Shows these rules on the alerts page.
    pub fn with_alerts(mut self, alerts: crate::config::AlertsConfig) -> AppState {
        self.alerts = Arc::new(alerts);
        self
    }

    pub fn now_s(&self) -> i64 {
        (self.clock)()
    }
}

/// Every route, with access control and security headers.
pub fn router(state: AppState) -> Router {
    let protected = Router::new()
        .route("/", get(pages::overview))
        .route("/models", get(pages::models))
        .route("/models/{model}", get(pages::model))
        .route("/callers", get(pages::callers))
        .route("/quotas", get(pages::quotas))
        .route("/reports", get(pages::reports))
        .route("/reports/{file}", get(pages::report))
        .route("/data-health", get(pages::health))
        .route("/alerts", get(pages::alerts))
        .route("/prices", get(prices::page))
        .route("/static/style.css", get(pages::stylesheet))
        .route("/api/v1/overview", get(api::overview))
        .route("/api/v1/models", get(api::models))
        .route("/api/v1/models/{model}", get(api::model))
        .route("/api/v1/callers", get(api::callers))
        .route("/api/v1/quotas", get(api::quotas))
        .route("/api/v1/reports", get(api::reports))
        .route("/api/v1/reports/{month}", get(api::report))
        .route("/api/v1/health", get(api::health))
        .route("/api/v1/alerts", get(api::alerts))
        .route("/api/v1/prices", get(prices::api))
        .route("/metrics", get(prometheus::metrics))
        .fallback(pages::not_found)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::require_token,
        ));
    Router::new()
        .route("/healthz", get(api::healthz))
        .route("/readyz", get(api::readyz))
        .merge(protected)
        .layer(axum::middleware::from_fn(access::security_headers))
        .with_state(state)
}

/// Serves the dashboard on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Binds the dashboard's address, refusing a non-loopback one without a token.
pub async fn bind(
    address: SocketAddr,
    auth_token: Option<&str>,
) -> Result<tokio::net::TcpListener, AccessError> {
    check_bind(address, auth_token)?;
    tokio::net::TcpListener::bind(address)
        .await
        .map_err(|source| AccessError::Bind { address, source })
}
