use actix_web::{HttpResponse, web};
use serde_json::json;

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

/// Liveness: the process answers.
async fn health() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// Readiness: the database answers.
async fn ready(state: web::Data<ApiState>) -> HttpResponse {
    match state.store.books(None, 1).await {
        Ok(_) => HttpResponse::Ok().json(json!({ "status": "ready", "database": "ok" })),
        Err(e) => HttpResponse::ServiceUnavailable().json(json!({
            "status": "unavailable",
            "database": e.to_string(),
        })),
    }
}
