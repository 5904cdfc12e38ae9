//! Accounts and tokens: argon2id passwords, opaque session tokens stored only as SHA-256
//! hashes, and HS256 JWTs from an application backend that brings its own users.
//!
//! A token with two dots is a JWT; anything else is a session token. Both resolve to an
//! [`Identity`]: who, by which credential (so a logout can close exactly the sockets opened
//! with that token), and until when (so a socket closes with `token_expired` when its token
//! does, unless the client swaps in a fresh one through `/app/token`).
//!
//! The two kinds of account never merge. A user created by password sign-up can only log in
//! with its password, and one created by a JWT (no password at all) only with JWTs: a JWT
//! whose `sub` names a password account is refused with `identity_conflict`. Otherwise whoever
//! registered `carol` first, with a password, would become the application's user `carol` the
//! day carol's first JWT arrives, and read everything sent to her.

use crate::broker::{Broker, Publication, UserEvent};
use crate::config::{Config, Registration};
use crate::error::Error;
use crate::model::{normalize_name, normalize_username, User, MAX_DISPLAY_NAME_CHARS};
use crate::store::Store;
use crate::store::StoreError;
use crate::throttle::KeyedBuckets;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine;
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::net::IpAddr;
use std::sync::Arc;

/// How a connection or request proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A login session token, known by its hash.
    Session {
        /// SHA-256 of the token.
        token_hash: Vec<u8>,
    },
    /// An application-issued JWT.
    Jwt,
}

/// An authenticated user.
#[derive(Debug, Clone)]
pub struct Identity {
    /// Who.
    pub user: User,
    /// With what.
    pub credential: Credential,
    /// When the credential stops working (Unix seconds).
    pub expires_at: i64,
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    name: Option<String>,
    exp: i64,
    /// When the token was issued (Unix seconds): after a log out everywhere, tokens issued
    /// before it (or without it) are refused.
    #[serde(default)]
    iat: Option<i64>,
}

/// Registers, logs in and authenticates users, throttles guesses, and revokes tokens on the
/// sockets they opened.
pub struct Auth {
    store: Arc<dyn Store>,
    /// Where a logout is announced, so that sockets opened with the token close.
    broker: Arc<dyn Broker>,
    registration: Registration,
    /// Login and registration attempts per IP.
    attempts: KeyedBuckets<IpAddr>,
    /// Failed logins per username and address (a guess reserves a token before the check).
    failed_logins: KeyedBuckets<(String, IpAddr)>,
    jwt: Option<(DecodingKey, Validation)>,
    session_ttl_secs: i64,
    /// A real hash to verify against when the user does not exist, so a login attempt for an
    /// unknown user costs the same time as one with a wrong password.
    dummy_hash: String,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("jwt", &self.jwt.is_some())
            .finish_non_exhaustive()
    }
}

/// The bearer token of an `Authorization: Bearer …` value.
pub fn bearer(header_value: &str) -> Option<&str> {
    let (scheme, token) = header_value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// SHA-256 of a session token: what the store keeps instead of the token.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Auth {
    /// Builds the authenticator from the configuration: a JWT secret enables JWT sign-in,
    /// the limits size the sign-in throttles.
    pub fn new(store: Arc<dyn Store>, broker: Arc<dyn Broker>, config: &Config) -> Self {
        let jwt = config.jwt_secret().map(|secret| {
            let mut validation = Validation::new(Algorithm::HS256);
            validation.set_required_spec_claims(&["exp", "sub"]);
            // `nbf` (optional) is honoured with the same leeway as `exp`: a token that is not
            // valid yet is refused like one that is no longer valid.
            validation.validate_nbf = true;
            validation.leeway = 30;
            (DecodingKey::from_secret(secret.as_bytes()), validation)
        });
        let dummy_hash = hash_password("not a real password").unwrap_or_default();
        let limits = &config.limits;
        Auth {
            store,
            broker,
            registration: config.registration(),
            attempts: KeyedBuckets::new(
                limits.auth_attempts_per_minute,
                limits.auth_attempts_per_minute,
            ),
            failed_logins: KeyedBuckets::new(limits.failed_logins_per_user, 1),
            jwt,
            session_ttl_secs: i64::try_from(config.auth.session_ttl_secs).unwrap_or(i64::MAX / 2),
            dummy_hash,
        }
    }

    /// Creates an account for a client at `client`.
    ///
    /// # Errors
    /// `RegistrationClosed` when sign-up is closed; `RateLimited` after too many attempts from
    /// the address; `Invalid` for a bad username, short password or display name; `Conflict`
    /// when taken.
    pub async fn register(
        &self,
        username: &str,
        password: &str,
        display_name: Option<&str>,
        client: IpAddr,
    ) -> Result<User, Error> {
        if self.registration == Registration::Closed {
            return Err(Error::RegistrationClosed);
        }
        self.throttle_attempt(client)?;
        let username = normalize_username(username).map_err(Error::Invalid)?;
        check_new_password(password)?;
        let display_name = validate_display_name(display_name.unwrap_or(&username))?;
        let password = password.to_string();
        let hash = hash_in_background(password).await?;
        Ok(self
            .store
            .create_user(&username, &display_name, Some(&hash))
            .await?)
    }

    /// Refuses an attempt when the caller's IP has made too many lately (a spray of guesses
    /// over many usernames, or of sign-ups).
    fn throttle_attempt(&self, client: IpAddr) -> Result<(), Error> {
        self.attempts.try_take(&client, 1).map_err(|wait| {
            Error::throttled(
                "too many sign-in attempts from this address; try again later",
                wait,
            )
        })
    }

    /// Checks a password for a client at `client` and opens a session.
    ///
    /// Guesses at one account from one address are slowed down, not blocked (OWASP): keyed by
    /// username *and* address, so a guesser cannot lock the owner out from elsewhere. The
    /// token is taken before the (slow) password check, so concurrent guesses cannot all slip
    /// past a budget that is only charged once they have failed; a success gives it back.
    ///
    /// # Errors
    /// `RateLimited` after too many attempts from the address, or failed logins for the user
    /// from it; `InvalidCredentials` for an unknown user, a wrong password, or an account that
    /// has no password (created by a JWT): the same answer, after the same work, for all three.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        client: IpAddr,
    ) -> Result<(String, User), Error> {
        self.throttle_attempt(client)?;
        let username = username.trim().to_lowercase();
        let key = (username.clone(), client);
        self.failed_logins.try_take(&key, 1).map_err(|wait| {
            Error::throttled(
                "too many failed logins for this user from this address; try again later",
                wait,
            )
        })?;
        let outcome = self.check_password(&username, password).await;
        if outcome.is_ok() {
            self.failed_logins.give_back(&key);
        }
        outcome
    }

    /// The password check and the new session of [`login`](Self::login).
    async fn check_password(
        &self,
        username: &str,
        password: &str,
    ) -> Result<(String, User), Error> {
        let credentials = self.store.user_credentials(username).await?;
        let (stored, user) = match credentials {
            Some(c) => (c.password_hash, Some(c.user)),
            None => (None, None),
        };
        let hash = stored.clone().unwrap_or_else(|| self.dummy_hash.clone());
        let password = password.to_string();
        let ok = tokio::task::spawn_blocking(move || verify_password(&password, &hash))
            .await
            .map_err(Error::backend)?;
        let user = match (ok && stored.is_some(), user) {
            (true, Some(user)) => user,
            _ => return Err(Error::InvalidCredentials),
        };
        let token =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let expires_at = now_unix().saturating_add(self.session_ttl_secs);
        self.store
            .create_session(&token_hash(&token), user.id, expires_at)
            .await?;
        Ok((token, user))
    }

    /// Ends a session token and closes the sockets it opened, on every node; JWTs cannot be
    /// revoked here (they expire).
    ///
    /// # Errors
    /// Only backend failures of the store (an announcement that fails is logged: the token is
    /// gone, and its sockets fail their next check).
    pub async fn logout(&self, identity: &Identity) -> Result<(), Error> {
        let Credential::Session { token_hash } = &identity.credential else {
            return Ok(());
        };
        self.store.delete_session(token_hash).await?;
        let revoked = Publication::ToUser {
            user_id: identity.user.id,
            event: UserEvent::TokenRevoked {
                token_hash: token_hash.clone(),
            },
            except: None,
        };
        if let Err(err) = self.broker.publish(revoked).await {
            tracing::warn!(error = %err, "could not announce a logout to open sockets");
        }
        Ok(())
    }

    /// Changes the caller's password, after checking the current one, and ends every other
    /// session of the user (the one that asked stays signed in), on every node: whoever holds
    /// an old session (a stolen one, say) loses it with the old password.
    ///
    /// The check is throttled like a sign-in (attempts per address, failures per user and
    /// address), so a stolen session cannot be used to guess the password quickly.
    ///
    /// # Errors
    /// `NoPassword` for an account from JWTs; `RateLimited`; `WrongPassword`; `Invalid` for a
    /// new password under 8 characters or over 1024 bytes.
    pub async fn change_password(
        &self,
        identity: &Identity,
        current: &str,
        new: &str,
        client: IpAddr,
    ) -> Result<(), Error> {
        let Credential::Session { token_hash } = &identity.credential else {
            return Err(Error::NoPassword);
        };
        self.throttle_attempt(client)?;
        let user = &identity.user;
        let key = (user.username.clone(), client);
        self.failed_logins.try_take(&key, 1).map_err(|wait| {
            Error::throttled(
                "too many wrong passwords for this user from this address; try again later",
                wait,
            )
        })?;
        let stored = self
            .store
            .user_credentials(&user.username)
            .await?
            .and_then(|c| c.password_hash)
            .ok_or(Error::NoPassword)?;
        let current = current.to_string();
        let ok = tokio::task::spawn_blocking(move || verify_password(&current, &stored))
            .await
            .map_err(Error::backend)?;
        if !ok {
            return Err(Error::WrongPassword);
        }
        self.failed_logins.give_back(&key);
        check_new_password(new)?;
        let hash = hash_in_background(new.to_string()).await?;
        let ended = self
            .store
            .update_password(user.id, &hash, Some(token_hash))
            .await
            .map_err(|err| match err {
                StoreError::NotFound(_) => Error::NoPassword,
                err => Error::from(err),
            })?;
        tracing::info!(user = %user.id, sessions_ended = ended, "password changed");
        self.announce_revocation(user.id, Some(token_hash.clone()))
            .await;
        Ok(())
    }

    /// Logs the user out everywhere: every session token stops working at once (the caller's
    /// too), application JWTs issued before this second are refused from now on (see
    /// [`authenticate`](Self::authenticate)), and every open socket of the user closes, on
    /// every node.
    ///
    /// # Errors
    /// Backend failures of the store (an announcement that fails is logged: the tokens are
    /// gone, and their sockets fail their next check).
    pub async fn logout_everywhere(&self, identity: &Identity) -> Result<(), Error> {
        let user = identity.user.id;
        let ended = self.store.revoke_tokens(user, now_unix()).await?;
        // A device that was logged out must stop showing message texts by push too: its
        // browser keeps the push subscription, so the server forgets it (a new sign-in on
        // that device subscribes again).
        let devices = self.store.push_subscriptions_of(&[user]).await?;
        for device in &devices {
            self.store.delete_push_subscription_by_id(device.id).await?;
        }
        tracing::info!(
            user = %user,
            sessions_ended = ended,
            push_subscriptions_removed = devices.len(),
            "logged out everywhere"
        );
        self.announce_revocation(user, None).await;
        Ok(())
    }

    /// Tells every node that the user's tokens but `keep` were revoked, so that the sockets
    /// they opened close.
    async fn announce_revocation(&self, user: crate::model::UserId, keep: Option<Vec<u8>>) {
        let revoked = Publication::ToUser {
            user_id: user,
            event: UserEvent::TokensRevoked { keep },
            except: None,
        };
        if let Err(err) = self.broker.publish(revoked).await {
            tracing::warn!(error = %err, "could not announce revoked tokens to open sockets");
        }
    }

    /// Sets the caller's display name and tells everyone who shares a room with it (and its
    /// own other connections) with a `user` notification. An account from JWTs takes the
    /// `name` claim again from the next JWT that carries one: its application owns the name.
    ///
    /// # Errors
    /// `Invalid` for a bad name (see [`validate_display_name`]); `NotFound` if the user is gone.
    pub async fn set_display_name(&self, identity: &Identity, name: &str) -> Result<User, Error> {
        let name = validate_display_name(name)?;
        let user = self
            .store
            .update_display_name(identity.user.id, &name)
            .await?
            .ok_or_else(|| Error::NotFound("no such user".into()))?;
        let contacts = self.store.contact_ids(user.id).await?;
        let mut everyone = contacts;
        if !everyone.contains(&user.id) {
            everyone.push(user.id);
        }
        for id in everyone {
            let event = Publication::ToUser {
                user_id: id,
                event: UserEvent::User(user.clone()),
                except: None,
            };
            if let Err(err) = self.broker.publish(event).await {
                tracing::warn!(error = %err, "could not announce a display name");
            }
        }
        Ok(user)
    }

    /// Resolves a bearer token to its identity.
    ///
    /// # Errors
    /// `Unauthorized` for an unknown or invalid token (a JWT before its `nbf` too),
    /// `TokenExpired` for an expired one, `IdentityConflict` for a JWT naming a password account.
    pub async fn authenticate(&self, token: &str) -> Result<Identity, Error> {
        if token.matches('.').count() == 2 {
            return self.authenticate_jwt(token).await;
        }
        let hash = token_hash(token);
        let (user, expires_at) = self
            .store
            .session_user(&hash)
            .await?
            .ok_or(Error::Unauthorized)?;
        if expires_at <= now_unix() {
            return Err(Error::TokenExpired);
        }
        Ok(Identity {
            user,
            credential: Credential::Session { token_hash: hash },
            expires_at,
        })
    }

    async fn authenticate_jwt(&self, token: &str) -> Result<Identity, Error> {
        let (key, validation) = self.jwt.as_ref().ok_or(Error::Unauthorized)?;
        let claims = jsonwebtoken::decode::<Claims>(token, key, validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => Error::TokenExpired,
                _ => Error::Unauthorized,
            })?
            .claims;
        let username = normalize_username(&claims.sub).map_err(|_| Error::Unauthorized)?;
        let name = match claims.name.as_deref() {
            Some(name) => Some(validate_display_name(name).map_err(|_| Error::Unauthorized)?),
            None => None,
        };
        let user = self
            .store
            .upsert_user(&username, name.as_deref())
            .await
            .map_err(|err| match err {
                StoreError::Conflict(_) => Error::IdentityConflict,
                err => Error::from(err),
            })?;
        if let Some(valid_after) = self.store.tokens_valid_after(user.id).await? {
            if !issued_in_time(claims.iat, valid_after) {
                return Err(Error::Unauthorized);
            }
        }
        Ok(Identity {
            user,
            credential: Credential::Jwt,
            expires_at: claims.exp,
        })
    }
}

/// Checks and normalises a display name (see [`normalize_name`]): 1–64 visible characters,
/// NFKC, no bidirectional or control characters, invisible ones removed.
///
/// # Errors
/// `Invalid` with the reason.
pub fn validate_display_name(name: &str) -> Result<String, Error> {
    normalize_name(name, "display name", MAX_DISPLAY_NAME_CHARS).map_err(Error::Invalid)
}

/// Whether a JWT issued at `iat` is still good for a user who logged out everywhere at
/// `valid_after` (both Unix seconds): issued in that second or later. A JWT without `iat`
/// cannot show that it is newer, so it is refused.
fn issued_in_time(iat: Option<i64>, valid_after: i64) -> bool {
    iat.is_some_and(|iat| iat >= valid_after)
}

/// The rules of a new password: at least 8 characters, at most 1024 bytes (argon2 hashes
/// anything, but an unbounded input is a cheap way to make the server work).
fn check_new_password(password: &str) -> Result<(), Error> {
    if password.chars().count() < 8 {
        return Err(Error::Invalid(
            "a password has at least 8 characters".into(),
        ));
    }
    if password.len() > 1024 {
        return Err(Error::Invalid("a password has at most 1024 bytes".into()));
    }
    Ok(())
}

/// Hashes on the blocking pool: argon2 takes tens of milliseconds of CPU by design.
async fn hash_in_background(password: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(Error::backend)?
        .map_err(|e| Error::Invalid(e.to_string()))
}

fn hash_password(password: &str) -> Result<String, argon2::password_hash::Error> {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    // Argon2::default() is Argon2id v19 with the OWASP-recommended m=19 MiB, t=2, p=1.
    Ok(Argon2::default()
        .hash_password(password.as_bytes(), &salt)?
        .to_string())
}

fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_tokens_are_parsed_leniently() {
        assert_eq!(bearer("Bearer abc"), Some("abc"));
        assert_eq!(bearer("bearer  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }

    #[test]
    fn jwts_must_be_issued_after_a_log_out_everywhere() {
        assert!(issued_in_time(Some(100), 100), "the same second is in time");
        assert!(issued_in_time(Some(101), 100));
        assert!(!issued_in_time(Some(99), 100));
        assert!(
            !issued_in_time(None, 100),
            "no iat: cannot show it is newer"
        );
    }

    #[test]
    fn new_passwords_are_checked() {
        assert!(check_new_password("eight ch").is_ok());
        assert!(matches!(
            check_new_password("short"),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(
            check_new_password(&"x".repeat(1025)),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn passwords_hash_with_argon2id_and_verify() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("x", "not a hash"));
    }
}
