//! The admin UI: three static files compiled into the binary and served at `/`. It is plain
//! JavaScript on the REST API, so there is nothing to build and no second server to run.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

const INDEX: &str = include_str!("ui/index.html");
const SCRIPT: &str = include_str!("ui/app.js");
const STYLE: &str = include_str!("ui/app.css");

/// Same-origin only: the UI loads nothing from elsewhere and talks only to this server.
const POLICY: &str = "default-src 'self'; img-src 'self'; style-src 'self'; script-src 'self'; \
                      connect-src 'self'; frame-ancestors 'none'";

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/")
            .route(web::get().to(|| asset("text/html; charset=utf-8", INDEX)))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/ui/app.js")
            .route(web::get().to(|| asset("text/javascript; charset=utf-8", SCRIPT)))
            .default_service(web::to(super::method_not_allowed)),
    )
    .service(
        web::resource("/ui/app.css")
            .route(web::get().to(|| asset("text/css; charset=utf-8", STYLE)))
            .default_service(web::to(super::method_not_allowed)),
    );
}

async fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CONTENT_SECURITY_POLICY, POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .body(body)
}
