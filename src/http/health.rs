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

/// Readiness: the database and the object store answer.
async fn ready(state: web::Data<ApiState>) -> HttpResponse {
    let database = state
        .store
        .books(None, 1)
        .await
        .err()
        .map(|e| e.to_string());
    let objects = state.objects.check().await.err().map(|e| e.to_string());
    let status = |e: &Option<String>| e.clone().unwrap_or_else(|| "ok".to_owned());
    let body = json!({
        "status": if database.is_none() && objects.is_none() { "ready" } else { "unavailable" },
        "database": status(&database),
        "objects": status(&objects),
    });
    if database.is_none() && objects.is_none() {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
