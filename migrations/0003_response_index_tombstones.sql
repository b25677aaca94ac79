-- Tombstones: DELETE /v1/responses/{id} marks the row deleted instead of removing it, so that an
-- ownership claim still in flight (it is written alongside the stream, not before it) can never
-- bring a deleted id back: the claim's INSERT ... ON CONFLICT DO NOTHING loses to the tombstone.
-- Tombstones expire with the row (expires_at) and are purged like any expired row.
ALTER TABLE response_index ADD COLUMN deleted_at INTEGER;
