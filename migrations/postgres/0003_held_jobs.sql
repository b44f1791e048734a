-- A held job holds its book's JobLock while its items are still arriving (an upload in
-- progress). It gets its items, and a JobActor, when released.
ALTER TABLE jobs ADD COLUMN held BOOLEAN NOT NULL DEFAULT FALSE
    CHECK (NOT held OR status IN ('pending', 'failed', 'cancelled'));
