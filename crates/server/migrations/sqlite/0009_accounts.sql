-- Log out everywhere: application JWTs of the user issued (`iat`, Unix seconds) before this
-- instant are refused, as are JWTs without `iat`; NULL: every JWT is accepted. Session tokens
-- are revoked by deleting their rows, so they need no column.
ALTER TABLE users ADD COLUMN tokens_valid_after BIGINT;
