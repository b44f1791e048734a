//! `/metrics` in the Prometheus text format: jobs and their items by kind and status (from
//! the database, so every node reports the whole cluster), and this node's runtime counters.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use actix_web::{HttpResponse, web};

use quire_actors::runtime::LATENCY_BOUNDS_MS;

use super::ApiState;
use super::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/metrics")
            .route(web::get().to(metrics))
            .default_service(web::to(super::method_not_allowed)),
    );
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "system",
    summary = "Prometheus metrics",
    description = "Jobs and their items by kind and status (cluster-wide, from the database), \
and this node's counters, in the Prometheus text format.",
    responses(
        (status = 200, description = "The metrics.", content_type = "text/plain; version=0.0.4", body = String),
        (status = 503, description = "`STORE_UNAVAILABLE`: the database does not answer.", body = crate::http::error::ErrorBody),
        (status = 500, description = "`INTERNAL`: the database failed.", body = crate::http::error::ErrorBody),
    )
)]
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
        (
            "quire_upload_bytes_total",
            "Page image bytes stored by uploads on this node.",
            &state.uploads.bytes,
        ),
        (
            "quire_upload_files_total",
            "Page images stored by uploads on this node.",
            &state.uploads.files,
        ),
        (
            "quire_uploads_rejected_total",
            "Uploads refused whole (a bad file, too many files).",
            &state.uploads.rejected,
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
    let items = stats.items.snapshot();
    family(
        "quire_item_attempts_total",
        "counter",
        "Item attempts this node finished, by job kind and how they ended.",
        &mut items.attempts.iter().map(|((kind, end), n)| {
            format!("{{kind=\"{kind}\",outcome=\"{}\"}} {n}", end.as_str())
        }),
    );
    family(
        "quire_item_errors_total",
        "counter",
        "Failed item attempts on this node, by job kind and error class.",
        &mut items.errors.iter().map(|((kind, class), n)| {
            format!("{{kind=\"{kind}\",class=\"{}\"}} {n}", class.as_str())
        }),
    );
    family(
        "quire_item_slow_total",
        "counter",
        "Item attempts on this node that ran past their job kind's soft item limit.",
        &mut items
            .slow
            .iter()
            .map(|(kind, n)| format!("{{kind=\"{kind}\"}} {n}")),
    );
    let mut latency = Vec::new();
    for (kind, h) in &items.latency {
        let mut cumulative = 0;
        for (i, count) in h.buckets.iter().enumerate() {
            cumulative += count;
            let le = LATENCY_BOUNDS_MS
                .get(i)
                .map_or("+Inf".to_owned(), |ms| format!("{}", *ms as f64 / 1000.0));
            latency.push(format!(
                "_bucket{{kind=\"{kind}\",le=\"{le}\"}} {cumulative}"
            ));
        }
        latency.push(format!(
            "_sum{{kind=\"{kind}\"}} {}",
            h.sum_ms as f64 / 1000.0
        ));
        latency.push(format!("_count{{kind=\"{kind}\"}} {}", h.count));
    }
    family(
        "quire_item_duration_seconds",
        "histogram",
        "Item attempts from dispatch to answer, by job kind.",
        &mut latency.into_iter(),
    );
    Ok(HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(out))
}
