-- Search: a trigram index of message text (pg_trgm), which answers `ILIKE '%word%'` for any
-- word of three characters or more, whatever the script, case-insensitively. pg_trgm is a
-- trusted extension (PostgreSQL 13 and later): the database's owner may create it without
-- being a superuser. Korean (and every non-ASCII letter) gets trigrams only under a database
-- whose LC_CTYPE is not "C" (e.g. C.UTF-8 or en_US.UTF-8); under "C" such queries are still
-- answered exactly, without the index's help. A tombstone's body is '', which has no
-- trigrams. Shorter queries are answered without the index (see `store::SEARCH_SCAN_WINDOW`).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX messages_body_trgm ON messages USING gin (body gin_trgm_ops);
