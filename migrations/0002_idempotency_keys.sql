-- Idempotency-Key reservations: which native run the first attempt of a keyed create started, so a
-- retry attaches to that run instead of creating it again (and, on the 1flowbase fork, executing it a
-- second time: a replayed key of a running run is started again, native-api.md errata 2).
-- No content and no key: the client's key is hashed together with the owner's key fingerprint and
-- the route; the request fingerprint is a digest of the canonical client body.
CREATE TABLE IF NOT EXISTS idempotency_keys (
  key_hash            TEXT    PRIMARY KEY,
  request_fingerprint TEXT    NOT NULL,
  attempt             TEXT    NOT NULL,
  native_run_id       TEXT,
  created_at          INTEGER NOT NULL,
  expires_at          INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS idempotency_keys_expiry ON idempotency_keys (expires_at);
