-- A PDF import: the file (stored at `books/{book}/imports/{job}/source.pdf`), what its
-- analysis found, and the options it runs with. Its pages are book pages whose source is a
-- page of that file; their text is the import job's item, as an uploaded page's is its OCR
-- job's item. The password of an encrypted file is never stored: the stored file is its
-- decrypted copy.
CREATE TABLE pdf_imports (
    job_id      BLOB PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    book_id     BLOB NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    file_bytes  INTEGER NOT NULL CHECK (file_bytes > 0),
    pages       INTEGER NOT NULL CHECK (pages > 0),
    first_page  INTEGER NOT NULL,
    last_page   INTEGER NOT NULL,
    mode        TEXT NOT NULL CHECK (mode IN ('auto', 'text', 'ocr')),
    dpi         INTEGER NOT NULL CHECK (dpi BETWEEN 72 AND 600),
    encrypted   BOOLEAN NOT NULL,
    -- JSON: the outline's entries (depth, title, page) and the page labels.
    outline     TEXT NOT NULL,
    labels      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    CHECK (1 <= first_page AND first_page <= last_page AND last_page <= pages)
);

-- SQLite cannot change a CHECK in place: the pages table is rebuilt to take PDF pages.
CREATE TABLE pages_new (
    book_id        BLOB NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    page_no        INTEGER NOT NULL CHECK (page_no BETWEEN 1 AND 100000),
    content_type   TEXT NOT NULL
        CHECK (content_type IN ('image/png', 'image/jpeg', 'image/tiff', 'image/webp', 'application/pdf')),
    bytes          INTEGER NOT NULL CHECK (bytes > 0),
    original_name  TEXT CHECK (length(original_name) <= 255),
    added_by       BLOB,
    review_status  TEXT NOT NULL DEFAULT 'unreviewed'
        CHECK (review_status IN ('unreviewed', 'approved', 'rejected', 'edited')),
    review_text    TEXT,
    review_job_id  BLOB,
    reviewed_at    INTEGER,
    created_at     INTEGER NOT NULL,
    object_id      TEXT CHECK (object_id IS NULL OR length(object_id) = 32),
    -- A page of a PDF import: the import and the page's number in its file.
    pdf_import     BLOB REFERENCES pdf_imports (job_id) ON DELETE CASCADE,
    pdf_page       INTEGER CHECK (pdf_page > 0),
    -- The page's text layer as the analysis read it (NULL: not read yet, or none).
    text_layer     TEXT,
    -- The book's own number for the page ("iv", "12"), from the PDF's page labels.
    label          TEXT CHECK (length(label) <= 64),
    PRIMARY KEY (book_id, page_no),
    CHECK ((review_status = 'edited') = (review_text IS NOT NULL)),
    CHECK ((review_status = 'unreviewed') = (reviewed_at IS NULL)),
    CHECK ((pdf_import IS NULL) = (pdf_page IS NULL)),
    CHECK ((content_type = 'application/pdf') = (pdf_import IS NOT NULL))
) WITHOUT ROWID;

INSERT INTO pages_new (book_id, page_no, content_type, bytes, original_name, added_by,
    review_status, review_text, review_job_id, reviewed_at, created_at, object_id)
SELECT book_id, page_no, content_type, bytes, original_name, added_by,
    review_status, review_text, review_job_id, reviewed_at, created_at, object_id
FROM pages;
DROP TABLE pages;
ALTER TABLE pages_new RENAME TO pages;
CREATE INDEX pages_added_by ON pages (added_by) WHERE added_by IS NOT NULL;
CREATE INDEX pages_by_import ON pages (pdf_import) WHERE pdf_import IS NOT NULL;
