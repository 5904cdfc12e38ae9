//! Application JWTs, signed the way an application's backend signs them for sotong. Owns the
//! secret every test server is configured with.

/// The HS256 secret every [`crate::TestServer`] accepts JWTs for (long enough for the
/// server's minimum); pass it to a server the test starts some other way, too.
pub const JWT_SECRET: &str = "integration-test-secret-0123456789";

/// A JWT for `username`, valid for `ttl_secs` from now (negative: already expired), signed
/// with [`JWT_SECRET`]: the server creates the user on its first use.
pub fn jwt(username: &str, ttl_secs: i64) -> String {
    jwt_with_secret(username, ttl_secs, JWT_SECRET)
}

/// Like [`jwt`], signed with `secret` (a wrong secret, or a server configured with another).
pub fn jwt_with_secret(username: &str, ttl_secs: i64, secret: &str) -> String {
    let exp = time::OffsetDateTime::now_utc().unix_timestamp() + ttl_secs;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &serde_json::json!({"sub": username, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("jwt")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwt_names_its_user_and_expires_after_its_ttl() {
        let token = jwt("alice", 60);
        let mut validation = jsonwebtoken::Validation::default();
        validation.set_required_spec_claims(&["sub", "exp"]);
        let claims = jsonwebtoken::decode::<serde_json::Value>(
            &token,
            &jsonwebtoken::DecodingKey::from_secret(JWT_SECRET.as_bytes()),
            &validation,
        )
        .expect("valid")
        .claims;
        assert_eq!(claims["sub"], "alice");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let exp = claims["exp"].as_i64().expect("exp");
        assert!((now + 59..=now + 60).contains(&exp), "{exp} vs {now}");
    }
}
