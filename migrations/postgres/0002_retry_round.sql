-- The auto retry round a job is in, so a restarted JobActor neither repeats nor skips rounds.
ALTER TABLE jobs ADD COLUMN retry_round BIGINT NOT NULL DEFAULT 0 CHECK (retry_round >= 0);
