//! [`Users`]: finding other users, the one read of accounts that clients make besides their own.
//!
//! It reaches the store and nothing of the edges (HTTP, STOMP).

use crate::error::Error;
use crate::model::User;
use crate::store::Store;
use std::sync::Arc;

/// The longest prefix a user search takes: usernames have at most 32 characters, display
/// names 64.
pub const MAX_SEARCH_PREFIX_BYTES: usize = 64;

/// The most users one search answers with: enough to pick from while typing.
pub const SEARCH_RESULTS: u32 = 20;

/// Finds users by the prefix of their username or display name.
pub struct Users {
    store: Arc<dyn Store>,
}

impl std::fmt::Debug for Users {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Users").finish_non_exhaustive()
    }
}

impl Users {
    /// The service over `store`.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Users { store }
    }

    /// Users whose username or display name starts with `prefix` (trimmed), at most
    /// [`SEARCH_RESULTS`] of them.
    ///
    /// # Errors
    /// `Invalid` for a prefix over [`MAX_SEARCH_PREFIX_BYTES`]; backend failures.
    pub async fn search(&self, prefix: &str) -> Result<Vec<User>, Error> {
        if prefix.len() > MAX_SEARCH_PREFIX_BYTES {
            return Err(Error::Invalid("the search prefix is too long".into()));
        }
        Ok(self
            .store
            .search_users(prefix.trim(), SEARCH_RESULTS)
            .await?)
    }
}
