//! `/metrics` in the Prometheus text format: jobs and their items by kind and status (from
//! the database, so every node reports the whole cluster), and this node's runtime counters.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use actix_web::{HttpResponse, web};

use super::ApiState;
use super::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/metrics")
            .route(web::get().to(metrics))
            .default_service(web::to(super::method_not_allowed)),
    );
}

async fn metrics(state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let totals = state.store.job_totals().await?;
    let mut out = String::new();
    let mut family =
        |name: &str, kind: &str, help: &str, rows: &mut dyn Iterator<Item = String>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for row in rows {
                let _ = writeln!(out, "{name}{row}");
            }
        };
    let labelled = |value: fn(&crate::store::JobTotals) -> u64| {
        totals
            .iter()
            .map(move |t| {
                format!(
                    "{{kind=\"{}\",status=\"{}\"}} {}",
                    t.kind,
                    t.status,
                    value(t)
                )
            })
            .collect::<Vec<_>>()
    };
    family(
        "quire_jobs",
        "gauge",
        "Jobs by kind and status.",
        &mut labelled(|t| t.jobs).into_iter(),
    );
    family(
        "quire_job_items",
        "gauge",
        "Items of those jobs.",
        &mut labelled(|t| t.items).into_iter(),
    );
    family(
        "quire_job_items_completed",
        "gauge",
        "Items completed, by the kind and status of their job.",
        &mut labelled(|t| t.completed_items).into_iter(),
    );
    family(
        "quire_job_items_failed",
        "gauge",
        "Items failed, by the kind and status of their job.",
        &mut labelled(|t| t.failed_items).into_iter(),
    );
    let stats = state.runtime.stats();
    for (name, help, value) in [
        (
            "quire_runtime_restarts_total",
            "JobActors restarted after a crash on this node.",
            &stats.restarts,
        ),
        (
            "quire_runtime_takeovers_total",
            "Jobs this node took over from an expired lease.",
            &stats.takeovers,
        ),
        (
            "quire_runtime_fenced_total",
            "JobActors stopped because their lease was taken over.",
            &stats.fenced,
        ),
        (
            "quire_provider_rate_limited_total",
            "Provider calls answered with 429.",
            &stats.rate_limited,
        ),
    ] {
        let value = value.load(Ordering::Relaxed);
        family(
            name,
            "counter",
            help,
            &mut std::iter::once(format!(" {value}")),
        );
    }
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out))
}
