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

/// Whether the database and the object store answer. Why one does not is in the server's
/// log only: its error may name hosts, buckets or users.
#[derive(Serialize, ToSchema)]
pub struct ReadyView {
    /// `ready`, or `unavailable` if either does not answer.
    #[schema(example = "ready")]
    pub status: &'static str,
    /// `ok` or `unavailable`.
    #[schema(example = "ok")]
    pub database: &'static str,
    /// `ok` or `unavailable`.
    #[schema(example = "ok")]
    pub objects: &'static str,
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
        (status = 503, description = "The database or the object store does not answer; the body says which (the reason is in the server's log).", body = ReadyView),
    )
)]
async fn ready(state: web::Data<ApiState>) -> HttpResponse {
    let database = state.store.books(None, 1).await.err();
    if let Some(error) = &database {
        tracing::warn!(%error, "not ready: the database does not answer");
    }
    let objects = state.objects.check().await.err();
    if let Some(error) = &objects {
        tracing::warn!(%error, "not ready: the object store does not answer");
    }
    let status = |failed: bool| if failed { "unavailable" } else { "ok" };
    let ok = database.is_none() && objects.is_none();
    let body = ReadyView {
        status: if ok { "ready" } else { "unavailable" },
        database: status(database.is_some()),
        objects: status(objects.is_some()),
    };
    if ok {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
