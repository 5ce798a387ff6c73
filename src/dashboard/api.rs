//! The JSON API: `/api/v1/...` returns what the pages show, exact (USD as decimal strings
//! with six places), with the same query-string scope. Documented in docs/api.md.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::AppState;
use super::data;
use super::scope::{BadParams, Scope, ViewParams};
use crate::report::{self, Month};
use crate::store::StoreError;

/// Why a view could not be served.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("reading the database failed: {0}")]
    Store(#[from] StoreError),
    #[error("loading the price table failed: {0}")]
    Prices(String),
}

impl From<report::ReportError> for ViewError {
    fn from(error: report::ReportError) -> ViewError {
        match error {
            report::ReportError::Store(error) => ViewError::Store(error),
            report::ReportError::Prices(message) => ViewError::Prices(message),
        }
    }
}

impl From<BadParams> for ViewError {
    fn from(error: BadParams) -> ViewError {
        ViewError::BadRequest(error.0)
    }
}

impl ViewError {
    pub fn status(&self) -> StatusCode {
        match self {
            ViewError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ViewError::NotFound(_) => StatusCode::NOT_FOUND,
            ViewError::Store(_) | ViewError::Prices(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Logs server-side failures (the client gets the message, not a backtrace).
    pub fn log(&self) {
        if let ViewError::Store(error) = self {
            tracing::error!(%error, "a dashboard view failed");
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
}

impl IntoResponse for ViewError {
    fn into_response(self) -> Response {
        self.log();
        let message = self.to_string();
        (self.status(), Json(ErrorBody { error: &message })).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ViewError>;

pub(super) fn scope_of(state: &AppState, params: &ViewParams) -> Result<Scope, ViewError> {
    Ok(Scope::from_params(params, state.now_s())?)
}

pub async fn overview(
    State(state): State<AppState>,
    Query(params): Query<ViewParams>,
) -> ApiResult<data::Overview> {
    let scope = scope_of(&state, &params)?;
    Ok(Json(
        data::overview(&state.store, &scope, state.now_s()).await?,
    ))
}

pub async fn models(
    State(state): State<AppState>,
    Query(params): Query<ViewParams>,
) -> ApiResult<data::ModelsView> {
    let scope = scope_of(&state, &params)?;
    Ok(Json(data::models(&state.store, &scope).await?))
}

/// One model: its tiers, and its overview (spend, timeline, latency).
#[derive(Serialize)]
pub struct ModelDetail {
    pub model_id: String,
    pub tiers: data::ModelsView,
    pub overview: data::Overview,
}

/// One model's detail for a scope whose filter names the model.
pub(super) async fn model_detail(
    state: &AppState,
    scope: &Scope,
    model: String,
) -> Result<ModelDetail, ViewError> {
    let (tiers, overview) = data::model_page(&state.store, scope, state.now_s()).await?;
    Ok(ModelDetail {
        model_id: model,
        tiers,
        overview,
    })
}

/// The scope of a model's page: the query string with the model from the path.
pub(super) fn model_scope(
    state: &AppState,
    model: &str,
    mut params: ViewParams,
) -> Result<Scope, ViewError> {
    params.model = Some(model.to_string());
    scope_of(state, &params)
}

pub async fn model(
    State(state): State<AppState>,
    Path(model): Path<String>,
    Query(params): Query<ViewParams>,
) -> ApiResult<ModelDetail> {
    let scope = model_scope(&state, &model, params)?;
    Ok(Json(model_detail(&state, &scope, model).await?))
}

pub async fn callers(
    State(state): State<AppState>,
    Query(params): Query<ViewParams>,
) -> ApiResult<data::CallersView> {
    let scope = scope_of(&state, &params)?;
    Ok(Json(data::callers(&state.store, &scope).await?))
}

pub async fn quotas(
    State(state): State<AppState>,
    Query(params): Query<ViewParams>,
) -> ApiResult<data::QuotasView> {
    let scope = scope_of(&state, &params)?;
    Ok(Json(data::quotas(&state.store, &scope).await?))
}

pub async fn reports(State(state): State<AppState>) -> ApiResult<data::ReportsView> {
    Ok(Json(data::reports(&state.store).await?))
}

/// Reads the month of a report path, as `YYYY-MM`.
pub(super) fn parse_month(text: &str) -> Result<Month, ViewError> {
    text.parse()
        .map_err(|_| ViewError::BadRequest(format!("{text:?} is not a month: expected YYYY-MM")))
}

/// The `report` command's JSON for a month (`?format=csv` for its CSV).
pub async fn report(
    State(state): State<AppState>,
    Path(month): Path<String>,
    Query(format): Query<FormatParam>,
) -> Result<Response, ViewError> {
    let month = parse_month(&month)?;
    let report = report::build_for(&state.store, month, &state.pricing).await?;
    Ok(match format.format.as_deref() {
        Some("csv") => report_file(report.to_csv(), "text/csv; charset=utf-8", month, "csv"),
        None | Some("json") => report_file(report.to_json(), "application/json", month, "json"),
        Some(other) => {
            return Err(ViewError::BadRequest(format!(
                "format={other:?}: expected json or csv"
            )));
        }
    })
}

#[derive(Debug, serde::Deserialize)]
pub struct FormatParam {
    format: Option<String>,
}

/// A report as a download named `tierwatch-YYYY-MM.EXT`.
pub(super) fn report_file(
    body: String,
    content_type: &'static str,
    month: Month,
    ext: &str,
) -> Response {
    let disposition = format!("attachment; filename=\"tierwatch-{month}.{ext}\"");
    (
        [
            (header::CONTENT_TYPE, content_type.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        body,
    )
        .into_response()
}

pub async fn health(
    State(state): State<AppState>,
    Query(params): Query<ViewParams>,
) -> ApiResult<data::HealthView> {
    let scope = scope_of(&state, &params)?;
    Ok(Json(
        data::health(&state.store, &scope, state.now_s()).await?,
    ))
}

pub async fn alerts(State(state): State<AppState>) -> ApiResult<data::AlertsView> {
    Ok(Json(data::alerts(&state.store, &state.alerts).await?))
}

/// Liveness: the process answers.
pub async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness: the database answers.
pub async fn readyz(State(state): State<AppState>) -> Response {
    match state.store.latest_minute().await {
        Ok(_) => (StatusCode::OK, "ready\n").into_response(),
        Err(error) => {
            tracing::warn!(%error, "not ready: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
        }
    }
}
