-- An attempt of the item ran past its job kind's soft item limit (`limits.<kind>.item_soft_ms`):
-- kept once set, shown on the item in the API.
ALTER TABLE job_items ADD COLUMN slow BOOLEAN NOT NULL DEFAULT FALSE;
