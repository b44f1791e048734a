-- A PDF import: the file (stored at `books/{book}/imports/{job}/source.pdf`), what its
-- analysis found, and the options it runs with. Its pages are book pages whose source is a
-- page of that file; their text is the import job's item, as an uploaded page's is its OCR
-- job's item. The password of an encrypted file is never stored: the stored file is its
-- decrypted copy.
CREATE TABLE pdf_imports (
    job_id      UUID PRIMARY KEY REFERENCES jobs (id) ON DELETE CASCADE,
    book_id     UUID NOT NULL REFERENCES books (id) ON DELETE CASCADE,
    file_bytes  BIGINT NOT NULL CHECK (file_bytes > 0),
    pages       BIGINT NOT NULL CHECK (pages > 0),
    first_page  BIGINT NOT NULL,
    last_page   BIGINT NOT NULL,
    mode        TEXT NOT NULL CHECK (mode IN ('auto', 'text', 'ocr')),
    dpi         BIGINT NOT NULL CHECK (dpi BETWEEN 72 AND 600),
    encrypted   BOOLEAN NOT NULL,
    -- JSON: the outline's entries (depth, title, page) and the page labels.
    outline     TEXT NOT NULL,
    labels      TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    CHECK (1 <= first_page AND first_page <= last_page AND last_page <= pages)
);

ALTER TABLE pages DROP CONSTRAINT pages_content_type_check;
ALTER TABLE pages ADD CONSTRAINT pages_content_type_check
    CHECK (content_type IN ('image/png', 'image/jpeg', 'image/tiff', 'image/webp', 'application/pdf'));
-- A page of a PDF import: the import and the page's number in its file.
ALTER TABLE pages ADD COLUMN pdf_import UUID REFERENCES pdf_imports (job_id) ON DELETE CASCADE;
ALTER TABLE pages ADD COLUMN pdf_page BIGINT CHECK (pdf_page > 0);
-- The page's text layer as the analysis read it (NULL: not read yet, or none).
ALTER TABLE pages ADD COLUMN text_layer TEXT;
-- The book's own number for the page ("iv", "12"), from the PDF's page labels.
ALTER TABLE pages ADD COLUMN label TEXT CHECK (length(label) <= 64);
ALTER TABLE pages ADD CONSTRAINT pages_pdf_import_page_check CHECK ((pdf_import IS NULL) = (pdf_page IS NULL));
ALTER TABLE pages ADD CONSTRAINT pages_pdf_source_check
    CHECK ((content_type = 'application/pdf') = (pdf_import IS NOT NULL));
CREATE INDEX pages_by_import ON pages (pdf_import) WHERE pdf_import IS NOT NULL;
