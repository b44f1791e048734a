-- Claims that ended without an outcome: the process running the item died (out of memory, an
-- abort, a crash in a native library). Counted when the next lease holder finds the item
-- still processing under an older generation. An item with crashes runs alone, so the item
-- that kills the process is told from those that died with it; at `max_attempts` crashes it
-- fails terminal (CRASHED_REPEATEDLY) instead of taking every node that adopts it down.
ALTER TABLE job_items ADD COLUMN crashes BIGINT NOT NULL DEFAULT 0 CHECK (crashes >= 0);
CREATE INDEX job_items_suspects ON job_items (job_id, item_no)
    WHERE crashes > 0 AND status IN ('pending', 'processing');
