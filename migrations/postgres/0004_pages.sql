-- Pages of a book. A page's OCR state is not copied here: it is the state of the page's item
-- in the newest OCR job that has one, so page and item can never disagree. A page row and
-- its first OCR item are written in one transaction.
CREATE TABLE pages (
    book_id        UUID NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    page_no        BIGINT NOT NULL CHECK (page_no BETWEEN 1 AND 100000),
    content_type   TEXT NOT NULL
        CHECK (content_type IN ('image/png', 'image/jpeg', 'image/tiff', 'image/webp')),
    bytes          BIGINT NOT NULL CHECK (bytes > 0),
    -- The name the file was uploaded under, for display only: never a path.
    original_name  TEXT CHECK (length(original_name) <= 255),
    -- The upload job that added the page.
    added_by       UUID,
    review_status  TEXT NOT NULL DEFAULT 'unreviewed'
        CHECK (review_status IN ('unreviewed', 'approved', 'rejected', 'edited')),
    review_text    TEXT,
    -- The OCR job whose text was reviewed: a newer OCR run makes the review stale.
    review_job_id  UUID,
    reviewed_at    BIGINT,
    created_at     BIGINT NOT NULL,
    PRIMARY KEY (book_id, page_no),
    CHECK ((review_status = 'edited') = (review_text IS NOT NULL)),
    CHECK ((review_status = 'unreviewed') = (reviewed_at IS NULL))
);

CREATE INDEX pages_added_by ON pages (added_by) WHERE added_by IS NOT NULL;
-- Finding a page's newest OCR item walks the book's OCR jobs.
CREATE INDEX jobs_by_book_kind ON jobs (book_id, kind, id);
