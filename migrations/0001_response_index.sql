-- The ownership index: response id -> native run id, owned by a key fingerprint.
-- It holds no message content and never the API key (SHA-256 fingerprint only).
CREATE TABLE IF NOT EXISTS response_index (
  response_id     TEXT    PRIMARY KEY,
  native_run_id   TEXT    NOT NULL,
  owner_fingerprint TEXT  NOT NULL,
  created_at      INTEGER NOT NULL,
  expires_at      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS response_index_expiry ON response_index (expires_at);
