// Quire's admin UI: plain JavaScript on the REST API, no build step and no dependencies.
// Views are rendered from the API's answers; an active job is polled every 2 s until it ends.
"use strict";

const MAX_FILE_BYTES = 10 * 1024 * 1024;
const IMAGE_TYPES = ["image/png", "image/jpeg", "image/tiff", "image/webp"];
const POLL_MS = 2000;

const main = () => document.getElementById("main");
let poller = null;

function stopPolling() {
  if (poller) clearTimeout(poller);
  poller = null;
}

// --- API --------------------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    const e = (body && body.error) || {};
    super(e.message || `HTTP ${status}`);
    this.status = status;
    this.code = e.code || "HTTP_" + status;
    this.details = e.details;
  }
}

async function api(method, path, body) {
  const init = { method, headers: {} };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const res = await fetch("/api/v1" + path, init);
  const text = await res.text();
  const json = text ? JSON.parse(text) : null;
  if (!res.ok) throw new ApiError(res.status, json);
  return json;
}

// --- Small helpers ----------------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    // Through the CSSOM: the page's CSP allows no inline style attributes.
    else if (k === "style") el.style.cssText = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function toast(message, bad = false) {
  const box = document.getElementById("toast");
  const item = h("div", { class: bad ? "bad" : "" }, message);
  box.append(item);
  setTimeout(() => item.remove(), 6000);
}

function fail(e) {
  toast(e instanceof ApiError ? `${e.message} (${e.code})` : String(e), true);
}

const ICONS = { pending: "◷", processing: "⟳", running: "⟳", cancelling: "⟳",
  completed: "✓", failed: "✗", cancelled: "⊘", unreviewed: "·", approved: "✓",
  rejected: "✗", edited: "✎" };

// A status is shown by icon and word, never by colour alone.
function status(s) {
  return h("span", { class: `status s-${s}` },
    h("span", { class: "icon", "aria-hidden": "true" }, ICONS[s] || "•"), s);
}

function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

function duration(ms) {
  if (ms === null || ms === undefined) return "";
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m ${s % 60}s` : `${Math.floor(m / 60)}h ${m % 60}m`;
}

function when(t) {
  return t ? new Date(t).toLocaleString() : "";
}

const isActive = (job) => job && ["pending", "running", "cancelling"].includes(job.status);

// Items of OCR and extraction jobs are pages; other kinds count plain items.
const PAGED = ["ocr", "extract", "pdf_import"];
const KINDS = { ocr: "OCR", extract: "Guidelines", finalize: "Finalization", export_epub: "EPUB export",
  pdf_import: "PDF import", synthetic: "Synthetic" };
const kindName = (kind) => KINDS[kind] || kind;

function progressBar(job, label) {
  const p = job.progress;
  const unit = PAGED.includes(job.kind) ? " pages" : "";
  const done = p.completed + p.failed;
  const pct = p.total ? Math.floor((done * 100) / p.total) : 0;
  const share = (n) => (p.total ? (n * 100) / p.total : 0);
  return h("div", { class: "job-progress" },
    h("div", { class: "progress-line" },
      h("span", {}, label, " ", status(job.status)),
      h("span", { class: "num", "data-test": "progress-text" }, `${done}/${p.total}${unit} (${pct}%)`)),
    h("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
      "aria-valuenow": String(pct), "aria-label": label },
      h("span", { style: `width:${share(p.completed)}%` }),
      h("span", { class: "failed", style: `width:${share(p.failed)}%` })),
    h("div", { class: "row muted" },
      p.current_item !== null && isActive(job) ? h("span", {}, `Current page: ${p.current_item}`) : null,
      h("span", {}, `Failed: ${p.failed}`),
      job.elapsed_ms !== null ? h("span", {}, `Elapsed: ${duration(job.elapsed_ms)}`) : null,
      isActive(job) ? h("span", {}, "You can leave this page; the job goes on.") : null));
}

// What an ended job left undone: its failed items (with their errors) and the first item
// not completed, where a resume starts. Null when it left nothing.
async function leftUndone(job) {
  if (!job || isActive(job) || (job.status !== "failed" && job.progress.failed === 0 && job.progress.remaining === 0)) {
    return null;
  }
  const [failed, waiting] = await Promise.all([
    api("GET", `/jobs/${job.id}/items?status=failed&limit=100`),
    api("GET", `/jobs/${job.id}/items?status=pending&limit=1`),
  ]);
  const first = [failed.items[0], waiting.items[0]].filter(Boolean).map((i) => i.item_no);
  return first.length ? { failed: failed.items, first: Math.min(...first) } : null;
}

// --- Router -----------------------------------------------------------------------------

async function route() {
  stopPolling();
  const parts = location.hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  try {
    if (parts[0] === "books" && parts[1] && parts[2] === "pages" && parts[3]) {
      await pageView(parts[1], Number(parts[3]));
    } else if (parts[0] === "books" && parts[1]) {
      await bookView(parts[1]);
    } else {
      await booksView();
    }
  } catch (e) {
    main().replaceChildren(h("div", { class: "card error", role: "alert" },
      e instanceof ApiError ? `${e.message} (${e.code})` : String(e)));
  }
  main().focus();
}

window.addEventListener("hashchange", route);
window.addEventListener("DOMContentLoaded", route);

// --- Books ------------------------------------------------------------------------------

async function booksView() {
  document.title = "Books · Quire";
  const list = await api("GET", "/books?limit=200");
  const title = h("input", { type: "text", id: "new-title", required: true, maxlength: "500",
    placeholder: "e.g. Fractions, Grade 5" });
  const form = h("form", { class: "row", onsubmit: async (ev) => {
    ev.preventDefault();
    try {
      const book = await api("POST", "/books", { title: title.value });
      location.hash = `#/books/${book.id}`;
    } catch (e) { fail(e); }
  } }, h("label", { for: "new-title" }, "New book"), title, h("button", { type: "submit" }, "Create"));
  const rows = list.items.map((b) => h("tr", {},
    h("td", {}, h("a", { href: `#/books/${b.id}` }, b.title)),
    h("td", { class: "num" }, `${b.pages.total} (${b.pages.completed} read, ${b.pages.failed} failed)`),
    h("td", {}, b.latest_job ? [kindName(b.latest_job.kind), " ", status(b.latest_job.status)] : h("span", { class: "muted" }, "no job yet")),
    h("td", { class: "muted" }, when(b.created_at))));
  main().replaceChildren(
    h("h1", {}, "Books"),
    h("div", { class: "card" }, form),
    h("div", { class: "card" }, list.items.length
      ? h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Title"), h("th", {}, "Pages"),
          h("th", {}, "Latest job"), h("th", {}, "Created"))), h("tbody", {}, rows))
      : h("p", { class: "muted" }, "No books yet. Create one above.")));
}

// --- One book: upload, OCR progress, pages, jobs ----------------------------------------

async function bookView(bookId) {
  const book = await api("GET", `/books/${bookId}`);
  document.title = `${book.title} · Quire`;
  const jobBox = h("div", { id: "job", "aria-live": "polite" });
  const pagesBox = h("div", { id: "pages" });
  const jobsBox = h("div", { id: "jobs" });
  const guidelinesBox = h("div", { id: "guidelines", "aria-live": "polite" });
  main().replaceChildren(
    h("p", {}, h("a", { href: "#/" }, "← Books")),
    h("h1", {}, book.title),
    uploadPanel(bookId, () => refresh()),
    h("section", { class: "card", "aria-labelledby": "job-h" }, h("h2", { id: "job-h" }, "Latest job"), jobBox),
    h("section", { class: "card", "aria-labelledby": "guidelines-h" }, h("h2", { id: "guidelines-h" }, "Guidelines"), guidelinesBox),
    h("section", { class: "card", "aria-labelledby": "pages-h" }, h("h2", { id: "pages-h" }, "Pages"), pagesBox),
    h("section", { class: "card", "aria-labelledby": "jobs-h" }, h("h2", { id: "jobs-h" }, "Job history"), jobsBox));

  async function refresh() {
    stopPolling();
    let job = null;
    try {
      job = await api("GET", `/books/${bookId}/jobs/latest`);
    } catch (e) {
      if (e.code !== "JOB_NOT_FOUND") throw e;
    }
    const [pages, history, guidelines] = await Promise.all([
      api("GET", `/books/${bookId}/pages?limit=500`),
      api("GET", `/books/${bookId}/jobs?limit=20`),
      api("GET", `/books/${bookId}/guidelines`),
    ]);
    // The latest job, if it is the extraction, is the same read as `busy` comes from.
    const extraction = job && job.kind === "extract"
      ? job
      : history.items.find((j) => j.kind === "extract") || null;
    const undone = await leftUndone(extraction);
    const exported = history.items.some((j) => j.kind === "export_epub" && j.status === "completed");
    renderGuidelines(guidelinesBox, bookId, guidelines, extraction, undone, exported, job, refresh);
    renderJob(jobBox, job, refresh);
    renderPages(pagesBox, bookId, pages, isActive(job), refresh);
    renderHistory(jobsBox, history.items, refresh);
    // Stop at a terminal state; a new job (an upload, a retry) starts polling again.
    if (isActive(job)) poller = setTimeout(() => refresh().catch(fail), POLL_MS);
  }
  await refresh();
}

// Generate, follow, resume or restart, finalize and export the book's guidelines. After a
// failure the summary says what was done, what failed and why, and where a resume starts.
function renderGuidelines(box, bookId, found, extraction, undone, exported, latest, refresh) {
  const busy = isActive(latest);
  const start = (mode) => async () => {
    try { await api("POST", `/books/${bookId}/guidelines/generate`, { mode }); await refresh(); } catch (e) { fail(e); }
  };
  const post = (path) => async () => {
    try { await api("POST", path, {}); await refresh(); } catch (e) { fail(e); }
  };
  const actions = h("div", { class: "row actions" });
  if (!extraction) {
    actions.append(h("button", { disabled: busy, onclick: start("start") }, "Generate guidelines"));
  } else if (!isActive(extraction)) {
    if (undone) {
      actions.append(
        h("button", { disabled: busy, "data-test": "resume", onclick: start("resume") }, `Resume from page ${undone.first}`),
        h("button", { class: "secondary", disabled: busy, onclick: start("restart") }, "Restart from page 1"));
    }
    if (extraction.status === "completed") {
      actions.append(
        h("button", { class: undone ? "secondary" : "", disabled: busy, onclick: post(`/books/${bookId}/guidelines/finalize`) },
          found.status === "final" ? "Finalize again" : "Finalize"),
        h("button", { class: "secondary", disabled: busy, onclick: post(`/books/${bookId}/exports/epub`) }, "Export EPUB"));
      if (exported) {
        actions.append(h("a", { class: "button secondary", href: `/api/v1/books/${bookId}/exports/epub`, download: "" }, "Download EPUB"));
      }
      if (!undone) {
        actions.append(h("button", { class: "secondary", disabled: busy, onclick: start("restart") }, "Generate again"));
      }
    }
  }
  const p = extraction ? extraction.progress : null;
  const failure = extraction && !isActive(extraction) && undone
    ? h("div", { class: "failure", role: "alert", "data-test": "guidelines-failure" },
        extraction.error ? h("p", { class: "error" }, `${extraction.error.message} (${extraction.error.code})`) : null,
        extraction.status === "cancelled" ? h("p", {}, "The run was cancelled.") : null,
        h("p", { class: "num" }, `${p.completed} page(s) done, ${p.failed} failed, ${p.remaining} remaining.`),
        undone.failed.length ? h("ul", { class: "error" }, undone.failed.map((i) => h("li", { "data-page": String(i.item_no) },
          `Page ${i.item_no}: ${i.error ? `${i.error.message} (${i.error.code})` : "failed"}`))) : null)
    : null;
  const summary = h("p", { class: "muted num", "data-test": "guidelines-summary" },
    `${found.status === "final" ? "Final" : "Draft"}: ${found.topics.length} topic(s), ${found.subtopics} subtopic(s) from ${found.pages} page(s)`);
  const topics = h("ul", { class: "topics" }, found.topics.map((t) => topicView(bookId, t)));
  box.replaceChildren(h("div", {},
    extraction ? progressBar(extraction, "Guidelines") : null,
    failure, summary, actions, found.topics.length ? topics : null));
}

// Links to the pages a topic or subtopic came from, each opening the page's review.
function pageLinks(bookId, pages) {
  if (!pages || !pages.length) return null;
  return h("span", { class: "muted pages", "data-test": "pages" }, pages.length === 1 ? " · page " : " · pages ",
    ...pages.flatMap((n, i) => [i ? ", " : "", h("a", { href: `#/books/${bookId}/pages/${n}` }, String(n))]));
}

// What a subtopic teaches, by kind; empty kinds are left out.
const CONTENT = [
  ["objectives", "Objectives"], ["key_concepts", "Key concepts"], ["examples", "Examples"],
  ["exercises", "Exercises"], ["common_mistakes", "Common mistakes"],
];

function contentView(item) {
  return CONTENT.filter(([key]) => (item[key] || []).length).map(([key, label]) =>
    h("div", { class: "content", "data-test": key },
      h("h4", {}, label),
      h("ul", {}, item[key].map((text) => h("li", {}, text)))));
}

function topicView(bookId, t) {
  const points = (t.key_points || []).length
    ? h("div", { class: "content", "data-test": "key_points" }, h("h4", {}, "Key points"),
        h("ul", {}, t.key_points.map((p) => h("li", {}, p))))
    : null;
  return h("li", { "data-topic": t.name },
    h("strong", {}, t.name), ` (${t.subtopics.length})`, pageLinks(bookId, t.pages), points,
    h("ul", {}, t.subtopics.map((s) => h("li", { "data-subtopic": s.name },
      h("span", {}, s.name), pageLinks(bookId, s.pages), ...contentView(s)))));
}

function renderJob(box, job, refresh) {
  if (!job) {
    box.replaceChildren(h("p", { class: "muted" }, "No job yet: upload pages to start OCR."));
    return;
  }
  const label = kindName(job.kind);
  const actions = h("div", { class: "row actions" });
  if (isActive(job)) {
    actions.append(h("button", { class: "danger", onclick: async () => {
      try { await api("POST", `/jobs/${job.id}/cancel`); await refresh(); } catch (e) { fail(e); }
    } }, "Cancel job"));
  } else if (job.progress.remaining > 0 || job.status === "failed") {
    actions.append(h("button", { onclick: async () => {
      try { await api("POST", `/jobs/${job.id}/resume`, { mode: "resume" }); await refresh(); } catch (e) { fail(e); }
    } }, "Resume"));
  }
  const stage = job.stage && isActive(job)
    ? h("p", { class: "muted", "data-test": "stage" }, `Stage: ${job.stage}`) : null;
  const report = h("div", { "data-test": "import-report" });
  box.replaceChildren(h("div", {},
    progressBar(job, label),
    stage,
    job.error ? h("p", { class: "error", role: "alert" }, `${job.error.message} (${job.error.code})`) : null,
    report,
    actions));
  if (job.kind === "pdf_import" && !isActive(job)) {
    api("GET", `/jobs/${job.id}`).then((full) => renderReport(report, full.import)).catch(fail);
  }
}

// A PDF import's quality report: where the text came from, what failed, the chapters.
function renderReport(box, imp) {
  if (!imp) return;
  const r = imp.report;
  const conf = r.mean_ocr_confidence == null ? "" : `, mean OCR confidence ${Math.round(r.mean_ocr_confidence * 100)}%`;
  box.replaceChildren(h("div", { class: "report" },
    h("p", { class: "num" }, `Quality ${r.score}/100: ${r.text_layer_pages} page(s) from the text layer, ${r.ocr_pages} by OCR${conf}; ${r.empty_pages} empty, ${r.failed_pages.length} failed.`),
    r.failed_pages.length ? h("ul", { class: "error" }, r.failed_pages.map((f) =>
      h("li", {}, `Page ${f.page_no} (PDF page ${f.pdf_page}): ${f.code}`))) : null,
    h("p", { class: "muted" }, r.chapters.length
      ? `${r.chapters.length} chapter(s) from the outline: ${r.chapters.map((c) => c.title).join("; ")}`
      : "No outline: no chapters found.")));
}

function renderPages(box, bookId, pages, busy, refresh) {
  const c = pages.counts;
  if (!pages.items.length) {
    box.replaceChildren(h("p", { class: "muted" }, "No pages yet."));
    return;
  }
  const rows = pages.items.map((p) => {
    const err = p.ocr.error;
    return h("tr", { "data-page": String(p.page_no) },
      h("td", { class: "num" }, p.page_no),
      h("td", {}, p.pdf ? `PDF page ${p.pdf.page}` : p.original_name || ""),
      h("td", { "data-test": "source" }, p.ocr.source === "text_layer" ? "text layer" : p.ocr.source === "ocr" ? "OCR" : ""),
      h("td", {}, status(p.ocr.status),
        err && p.ocr.status === "failed" ? h("div", { class: "error" }, `${err.message} (${err.code})`) : null),
      h("td", {}, status(p.review.status)),
      h("td", { class: "row" },
        h("a", { class: "button secondary", href: `#/books/${bookId}/pages/${p.page_no}` }, "Review"),
        p.ocr.status === "failed" ? h("button", { disabled: busy, "data-test": `retry-${p.page_no}`,
          title: busy ? "Another job holds the book" : "Read this page again",
          onclick: async () => {
            try { await api("POST", `/books/${bookId}/pages/${p.page_no}/retry-ocr`, {}); await refresh(); } catch (e) { fail(e); }
          } }, "Retry") : null));
  });
  box.replaceChildren(
    h("p", { class: "muted num" },
      `${c.total} pages: ${c.completed} read, ${c.processing} in progress, ${c.pending} waiting, ${c.failed} failed, ${c.reviewed} reviewed`),
    h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Page"), h("th", {}, "File"),
      h("th", {}, "Text from"), h("th", {}, "OCR"), h("th", {}, "Review"), h("th", {}, ""))), h("tbody", {}, rows)));
}

function renderHistory(box, jobs, refresh) {
  if (!jobs.length) {
    box.replaceChildren(h("p", { class: "muted" }, "No jobs yet."));
    return;
  }
  box.replaceChildren(h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Job"), h("th", {}, "Status"), h("th", {}, "Items"),
      h("th", {}, "Started"), h("th", {}, "Duration"), h("th", {}, "Error"), h("th", {}, ""))),
    h("tbody", {}, jobs.map((j) => h("tr", {},
      h("td", {}, kindName(j.kind), j.resumed_from ? " (resumed)" : ""),
      h("td", {}, status(j.status)),
      h("td", { class: "num" }, `${j.progress.completed + j.progress.failed}/${j.progress.total}`),
      h("td", { class: "muted" }, when(j.started_at || j.created_at)),
      h("td", { class: "num" }, duration(j.elapsed_ms)),
      h("td", { class: "error" }, j.error ? `${j.error.code}: ${j.error.message}` : ""),
      h("td", {}, isActive(j) ? h("button", { class: "danger", onclick: async () => {
        try { await api("POST", `/jobs/${j.id}/cancel`); await refresh(); } catch (e) { fail(e); }
      } }, "Cancel") : null))))));
}

// --- Upload -----------------------------------------------------------------------------

function uploadPanel(bookId, done) {
  let chosen = [];
  const input = h("input", { type: "file", id: "files", multiple: true,
    accept: IMAGE_TYPES.join(",") + ",.png,.jpg,.jpeg,.tif,.tiff,.webp,application/pdf,.pdf" });
  const list = h("ul", { class: "files", "aria-label": "Selected files" });
  const summary = h("p", { class: "muted", "data-test": "selection" }, "No files selected.");
  const single = h("input", { type: "checkbox", id: "single" });
  const pageNo = h("input", { type: "number", id: "page-no", min: "1", style: "width:6rem",
    "aria-label": "Page number (optional)", placeholder: "next" });
  const total = h("div", { class: "bar", role: "progressbar", "aria-label": "Upload progress",
    "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": "0" }, h("span", { style: "width:0%" }));
  const totalText = h("span", { class: "num" }, "");
  const button = h("button", { disabled: true, onclick: () => send() }, "Upload all & start OCR");

  const isPdf = (f) => f.type === "application/pdf" || /\.pdf$/i.test(f.name);

  function why(f) {
    if (isPdf(f)) {
      if (f.size === 0) return "empty";
      return chosen.length > 1 ? "a PDF is imported on its own: choose it alone" : null;
    }
    const typed = IMAGE_TYPES.includes(f.type) || /\.(png|jpe?g|tiff?|webp)$/i.test(f.name);
    if (!typed) return "not a PNG, JPEG, TIFF or WebP image, nor a PDF";
    if (f.size === 0) return "empty";
    if (f.size > MAX_FILE_BYTES) return `larger than ${bytes(MAX_FILE_BYTES)}`;
    return null;
  }

  function choose(files) {
    chosen = [...files].map((f) => ({ file: f, reason: null, state: "queued" }));
    for (const c of chosen) c.reason = why(c.file);
    draw();
  }

  function draw() {
    const ok = chosen.filter((c) => !c.reason);
    const size = ok.reduce((n, c) => n + c.file.size, 0);
    const rejected = chosen.length - ok.length;
    summary.textContent = chosen.length
      ? `${ok.length} file(s), ${bytes(size)}` + (rejected ? `; ${rejected} rejected` : "")
      : "No files selected.";
    list.replaceChildren(...chosen.map((c) => h("li", { class: c.reason ? "rejected" : "" },
      h("span", {}, c.file.name), h("span", {}, c.reason ? `rejected: ${c.reason}` : `${bytes(c.file.size)} · ${c.state}`))));
    const pdf = ok.length === 1 && isPdf(ok[0].file);
    button.disabled = ok.length === 0 || (single.checked && ok.length !== 1);
    button.textContent = pdf ? "Import PDF" : single.checked ? "Upload page & start OCR" : "Upload all & start OCR";
  }

  function send() {
    const ok = chosen.filter((c) => !c.reason);
    const pdf = ok.length === 1 && isPdf(ok[0].file);
    const form = new FormData();
    for (const c of ok) form.append("files", c.file, c.file.name);
    const path = pdf
      ? `/api/v1/books/${bookId}/pdf`
      : single.checked
        ? `/api/v1/books/${bookId}/pages` + (pageNo.value ? `?page_no=${encodeURIComponent(pageNo.value)}` : "")
        : `/api/v1/books/${bookId}/pages/bulk`;
    const xhr = new XMLHttpRequest();
    xhr.open("POST", path);
    if (pdf) xhr.setRequestHeader("Content-Type", "application/pdf");
    xhr.upload.onprogress = (ev) => {
      if (!ev.lengthComputable) return;
      const pct = Math.floor((ev.loaded * 100) / ev.total);
      total.firstChild.style.width = `${pct}%`;
      total.setAttribute("aria-valuenow", String(pct));
      totalText.textContent = `${bytes(ev.loaded)} of ${bytes(ev.total)} (${pct}%)`;
      // Files go in order: those whose bytes have all been sent are marked sent.
      let sent = 0;
      for (const c of ok) {
        sent += c.file.size;
        c.state = sent <= ev.loaded ? "sent" : "uploading";
      }
      draw();
    };
    xhr.onload = () => {
      let body = null;
      try { body = JSON.parse(xhr.responseText); } catch (_) { /* not JSON */ }
      if (xhr.status === 202) {
        for (const c of ok) c.state = "stored";
        toast(pdf
          ? `PDF stored: ${body.progress.total} page(s); import started.`
          : `${body.pages.length} page(s) stored; OCR started.`);
        chosen = [];
        input.value = "";
        draw();
        done();
      } else {
        for (const c of ok) c.state = "not stored";
        draw();
        fail(new ApiError(xhr.status, body));
      }
      button.disabled = false;
    };
    xhr.onerror = () => { fail("the upload broke off; the job lists the pages that were stored"); button.disabled = false; };
    button.disabled = true;
    xhr.send(pdf ? ok[0].file : form);
  }

  input.addEventListener("change", () => choose(input.files));
  single.addEventListener("change", draw);
  const drop = h("div", { class: "drop", "data-test": "dropzone",
    ondragover: (ev) => { ev.preventDefault(); drop.classList.add("over"); },
    ondragleave: () => drop.classList.remove("over"),
    ondrop: (ev) => { ev.preventDefault(); drop.classList.remove("over"); choose(ev.dataTransfer.files); } },
    h("p", {}, "Drop page images or one PDF here, or ", h("label", { for: "files" }, "choose files"), " "), input);
  return h("section", { class: "card", "aria-labelledby": "upload-h" },
    h("h2", { id: "upload-h" }, "Upload pages"),
    drop, summary, list,
    h("div", { class: "row" }, single, h("label", { for: "single" }, "Single page (a correction)"), pageNo),
    h("div", { class: "row", style: "margin-top:.5rem" }, button, totalText),
    h("div", { style: "margin-top:.5rem" }, total));
}

// --- One page: review -------------------------------------------------------------------

// The PNG OCR read (any browser shows it; a TIFF source it may not), else the upload.
function pageImage(page, n) {
  const img = h("img", { src: `${page.image_url}?variant=ocr`, alt: `Scan of page ${n}` });
  img.addEventListener("error", () => { img.src = page.image_url; }, { once: true });
  return img;
}

async function pageView(bookId, n) {
  const page = await api("GET", `/books/${bookId}/pages/${n}`);
  const pages = await api("GET", `/books/${bookId}/pages?limit=500`);
  const numbers = pages.items.map((p) => p.page_no);
  const at = numbers.indexOf(n);
  const prev = at > 0 ? numbers[at - 1] : null;
  const next = at >= 0 && at < numbers.length - 1 ? numbers[at + 1] : null;
  document.title = `Page ${n} · Quire`;
  const text = h("textarea", { id: "page-text", "aria-label": "Page text" }, page.text || "");
  const act = async (body) => {
    try {
      await api("PUT", `/books/${bookId}/pages/${n}/review`, body);
      toast(`Page ${n}: ${body.action === "edit" ? "text saved" : body.action + "d"}.`);
      await pageView(bookId, n);
    } catch (e) { fail(e); }
  };
  const err = page.ocr.error;
  main().replaceChildren(
    h("p", {}, h("a", { href: `#/books/${bookId}` }, "← Book")),
    h("div", { class: "row", style: "justify-content:space-between" },
      h("h1", {}, `Page ${n}`),
      h("nav", { class: "row", "aria-label": "Pages" },
        prev !== null ? h("a", { class: "button secondary", href: `#/books/${bookId}/pages/${prev}` }, "← Previous") : null,
        next !== null ? h("a", { class: "button secondary", href: `#/books/${bookId}/pages/${next}` }, "Next →") : null)),
    h("div", { class: "card row" },
      h("span", {}, "OCR: ", status(page.ocr.status)),
      page.ocr.confidence !== null ? h("span", { class: "muted" }, `confidence ${(page.ocr.confidence * 100).toFixed(0)}%`) : null,
      h("span", {}, "Review: ", h("span", { "data-test": "review-status" }, status(page.review.status))),
      err && page.ocr.status === "failed" ? h("span", { class: "error" }, `${err.message} (${err.code})`) : null),
    h("div", { class: "review" },
      h("figure", { style: "margin:0" }, pageImage(page, n)),
      h("div", {}, text,
        h("div", { class: "row", style: "margin-top:.5rem" },
          h("button", { onclick: () => act({ action: "approve" }), disabled: page.ocr.status !== "completed" }, "Approve"),
          h("button", { class: "danger", onclick: () => act({ action: "reject" }) }, "Reject"),
          h("button", { class: "secondary", onclick: () => act({ action: "edit", text: text.value }) }, "Save edited text")),
        deletion(bookId, n))));
}

// Deleting a page takes a second, explicit click; the scan can then be uploaded again under
// the same number in single-page mode.
function deletion(bookId, n) {
  const box = h("div", { class: "row actions", style: "margin-top:1.5rem" });
  // Focus follows the buttons as they swap, so a keyboard user is never dropped to the top.
  const ask = () => {
    const keep = h("button", { class: "secondary", onclick: () => offer(true) }, "Keep it");
    box.replaceChildren(
      h("span", {}, `Delete page ${n} and its scan? Its text and review go too.`),
      h("button", { class: "danger", "data-test": "delete-confirm", onclick: async () => {
        try {
          await api("DELETE", `/books/${bookId}/pages/${n}`);
          toast(`Page ${n} deleted; upload its new scan as page ${n} in single-page mode.`);
          location.hash = `#/books/${bookId}`;
        } catch (e) { fail(e); }
      } }, `Delete page ${n}`),
      keep);
    keep.focus();
  };
  const offer = (focus) => {
    const del = h("button", { class: "danger", "data-test": "delete", onclick: ask }, "Delete page…");
    box.replaceChildren(del);
    if (focus) del.focus();
  };
  offer(false);
  return box;
}
