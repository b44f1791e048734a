use actix_web::{HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/health")
            .route(web::get().to(health))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/ready")
            .route(web::get().to(ready))
            .default_service(web::to(super::method_not_allowed)),
    );
}

/// The process answers.
#[derive(Serialize, ToSchema)]
pub struct HealthView {
    #[schema(example = "ok")]
    pub status: &'static str,
}

/// Whether the database and the object store answer.
#[derive(Serialize, ToSchema)]
pub struct ReadyView {
    /// `ready`, or `unavailable` if either does not answer.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `ok`, or why the database does not answer.
    #[schema(example = "ok")]
    pub database: String,
    /// `ok`, or why the object store does not answer.
    #[schema(example = "ok")]
    pub objects: String,
}

/// Liveness: the process answers
#[utoipa::path(
    get,
    path = "/health",
    tag = "system",
    responses((status = 200, description = "The process is alive.", body = HealthView))
)]
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(HealthView { status: "ok" })
}

/// Readiness: the database and the object store answer
#[utoipa::path(
    get,
    path = "/ready",
    tag = "system",
    responses(
        (status = 200, description = "Both answer.", body = ReadyView),
        (status = 503, description = "The database or the object store does not answer; the body says which.", body = ReadyView),
    )
)]
async fn ready(state: web::Data<ApiState>) -> HttpResponse {
    let database = state
        .store
        .books(None, 1)
        .await
        .err()
        .map(|e| e.to_string());
    let objects = state.objects.check().await.err().map(|e| e.to_string());
    let status = |e: &Option<String>| e.clone().unwrap_or_else(|| "ok".to_owned());
    let ok = database.is_none() && objects.is_none();
    let body = ReadyView {
        status: if ok { "ready" } else { "unavailable" },
        database: status(&database),
        objects: status(&objects),
    };
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
