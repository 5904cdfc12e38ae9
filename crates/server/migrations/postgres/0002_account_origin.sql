-- Where an account came from: 'password' (POST /api/register) or 'jwt' (created by an
-- application JWT on first use). The two never merge: a JWT never signs into a password
-- account, and a JWT account has no password to log in with.
ALTER TABLE users ADD COLUMN origin TEXT NOT NULL DEFAULT 'password'
    CHECK (origin IN ('password', 'jwt'));
UPDATE users SET origin = 'jwt' WHERE password_hash IS NULL;
