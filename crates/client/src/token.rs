//! Tokens: the current one, and the application's callback for a fresh one.
//!
//! The connection task and the HTTP helpers share one [`Auth`]. When the server says the token
//! is no good (`ERROR` with `token_expired` or `unauthorized`, or HTTP `401`), the SDK asks the
//! [`TokenProvider`] once for a new token and tries again; if the provider fails, or the new
//! token is refused too, the caller gets [`Error::Auth`].

use crate::error::{BoxError, Error};
use futures_util::future::BoxFuture;
use std::future::Future;
use std::sync::{Arc, Mutex};

/// Supplies fresh tokens when the current one expires or is refused.
///
/// Any `Fn() -> impl Future<Output = Result<String, BoxError>>` closure is a provider:
///
/// ```
/// # use sotong_client::{BoxError, TokenProvider};
/// fn provider() -> impl TokenProvider {
///     || async { Ok::<_, BoxError>("a fresh token from the application backend".to_string()) }
/// }
/// ```
pub trait TokenProvider: Send + Sync + 'static {
    /// Fetches a new token (from the application's backend, a refresh token, …).
    ///
    /// # Errors
    /// Any error ends the client with [`Error::Auth`] carrying its text.
    fn fresh_token(&self) -> BoxFuture<'static, Result<String, BoxError>>;
}

impl<F, Fut> TokenProvider for F
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<String, BoxError>> + Send + 'static,
{
    fn fresh_token(&self) -> BoxFuture<'static, Result<String, BoxError>> {
        Box::pin(self())
    }
}

/// The current token and the way to renew it.
pub(crate) struct Auth {
    // A std mutex: it guards a String swap, never held across an await.
    token: Mutex<String>,
    provider: Option<Arc<dyn TokenProvider>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the token.
        f.debug_struct("Auth")
            .field("provider", &self.provider.is_some())
            .finish_non_exhaustive()
    }
}

impl Auth {
    pub(crate) fn new(token: String, provider: Option<Arc<dyn TokenProvider>>) -> Self {
        Auth {
            token: Mutex::new(token),
            provider,
        }
    }

    /// The token to use now.
    pub(crate) fn current(&self) -> String {
        self.token
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Whether a refresh is possible at all.
    pub(crate) fn can_refresh(&self) -> bool {
        self.provider.is_some()
    }

    /// Asks the provider for a new token and makes it current.
    ///
    /// # Errors
    /// [`Error::Auth`] when there is no provider, it fails, or it returns an unusable token.
    pub(crate) async fn refresh(&self, why: &str) -> Result<String, Error> {
        let Some(provider) = &self.provider else {
            return Err(Error::Auth(why.to_string()));
        };
        let token = provider
            .fresh_token()
            .await
            .map_err(|err| Error::Auth(format!("{why}; the token provider failed: {err}")))?;
        check_token(&token)?;
        *self
            .token
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = token.clone();
        Ok(token)
    }
}

/// A token travels in a STOMP header, which cannot hold line breaks or NUL.
pub(crate) fn check_token(token: &str) -> Result<(), Error> {
    if token.is_empty() || token.contains(['\r', '\n', '\0']) {
        return Err(Error::Auth(
            "the token is empty or contains a line break".into(),
        ));
    }
    Ok(())
}
