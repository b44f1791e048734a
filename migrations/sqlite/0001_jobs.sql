-- Books, jobs and job items. Timestamps are milliseconds since the Unix epoch (UTC) on both
-- backends: one representation lets the SQLite and PostgreSQL stores share their SQL text,
-- and every comparison uses the runtime's (injectable) clock.

CREATE TABLE books (
    id          BLOB PRIMARY KEY,
    title       TEXT NOT NULL CHECK (length(title) BETWEEN 1 AND 500),
    owner       TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX books_by_creation ON books (created_at, id);

CREATE TABLE jobs (
    id                  BLOB PRIMARY KEY,
    book_id             BLOB NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    kind                TEXT NOT NULL
        CHECK (kind IN ('ocr', 'extract', 'finalize', 'pdf_import', 'export_epub', 'synthetic')),
    status              TEXT NOT NULL
        CHECK (status IN ('pending', 'running', 'cancelling', 'completed', 'failed', 'cancelled')),
    params              TEXT NOT NULL DEFAULT '{}',
    stage               TEXT,
    stage_started_at    INTEGER,
    total_items         INTEGER NOT NULL DEFAULT 0 CHECK (total_items >= 0),
    completed_items     INTEGER NOT NULL DEFAULT 0 CHECK (completed_items >= 0),
    failed_items        INTEGER NOT NULL DEFAULT 0 CHECK (failed_items >= 0),
    current_item        INTEGER,
    last_completed_item INTEGER,
    error_code          TEXT,
    error               TEXT,
    resumed_from        BLOB REFERENCES jobs (id) ON DELETE CASCADE,
    lease_owner         TEXT,
    -- The fencing token: grows at every claim or takeover; every lease holder's write checks it.
    lease_generation    INTEGER NOT NULL DEFAULT 0 CHECK (lease_generation >= 0),
    lease_expires_at    INTEGER,
    heartbeat_at        INTEGER,
    cancel_requested_at INTEGER,
    created_at          INTEGER NOT NULL,
    started_at          INTEGER,
    finished_at         INTEGER,
    CHECK (completed_items + failed_items <= total_items),
    -- error iff failed; finished_at iff terminal; cancelling only after a cancel request.
    CHECK ((status = 'failed') = (error_code IS NOT NULL)),
    CHECK ((error_code IS NULL) = (error IS NULL)),
    CHECK ((status IN ('completed', 'failed', 'cancelled')) = (finished_at IS NOT NULL)),
    CHECK (status <> 'cancelling' OR cancel_requested_at IS NOT NULL)
);

-- The JobLock: at most one active job per book.
CREATE UNIQUE INDEX jobs_one_active_per_book ON jobs (book_id)
    WHERE status IN ('pending', 'running', 'cancelling');
CREATE INDEX jobs_by_book ON jobs (book_id, created_at);
CREATE INDEX jobs_active_by_lease ON jobs (lease_expires_at)
    WHERE status IN ('pending', 'running', 'cancelling');

-- A terminal job never changes again.
CREATE TRIGGER jobs_terminal_is_final BEFORE UPDATE ON jobs
    WHEN OLD.status IN ('completed', 'failed', 'cancelled')
BEGIN
    SELECT RAISE(ABORT, 'a terminal job never changes');
END;

CREATE TABLE job_items (
    job_id           BLOB NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    item_no          INTEGER NOT NULL,
    status           TEXT NOT NULL
        CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    -- The lease generation that claimed the item; a commit must present the same one.
    claim_generation INTEGER,
    not_before       INTEGER,
    error_class      TEXT CHECK (error_class IN ('retryable', 'terminal', 'fatal')),
    error_code       TEXT,
    error            TEXT,
    result           TEXT,
    started_at       INTEGER,
    finished_at      INTEGER,
    PRIMARY KEY (job_id, item_no),
    CHECK ((status IN ('completed', 'failed')) = (finished_at IS NOT NULL)),
    CHECK (status <> 'failed' OR error_code IS NOT NULL),
    CHECK (status <> 'completed' OR result IS NOT NULL),
    CHECK (status <> 'processing' OR claim_generation IS NOT NULL)
) WITHOUT ROWID;

CREATE INDEX job_items_pending ON job_items (job_id, item_no) WHERE status = 'pending';
