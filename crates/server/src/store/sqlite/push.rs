//! The SQLite statements of muting and Web Push (see `store::push`), called in one line each
//! from `sqlite.rs`.

use super::super::push::MAX_PUSH_SUBSCRIPTIONS_PER_USER;
use super::super::{NewPushSubscription, PushSubscriptionId, StoreError, StoredPushSubscription};
use crate::model::{RoomId, UserId};
use rusqlite::{params, Connection, OptionalExtension, Transaction};

/// Ids as one JSON array, for `json_each` (one statement for the whole set).
pub(super) fn json_ids(ids: impl Iterator<Item = i64>) -> String {
    let ids: Vec<String> = ids.map(|id| id.to_string()).collect();
    format!("[{}]", ids.join(","))
}

pub(super) fn set_muted(
    tx: &Transaction<'_>,
    room: RoomId,
    user: UserId,
    muted: bool,
) -> Result<(), StoreError> {
    let changed = tx
        .prepare_cached("UPDATE members SET muted = ?1 WHERE room_id = ?2 AND user_id = ?3")?
        .execute(params![i64::from(muted), room.0, user.0])?;
    if changed == 0 {
        return Err(StoreError::NotMember);
    }
    Ok(())
}

pub(super) fn upsert_subscription(
    tx: &Transaction<'_>,
    new: &NewPushSubscription,
    now: i64,
) -> rusqlite::Result<PushSubscriptionId> {
    let id: i64 = tx
        .prepare_cached(
            "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, \
               p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at, \
               last_failure_at = NULL \
             RETURNING id",
        )?
        .query_row(
            params![new.user.0, new.endpoint, new.p256dh, new.auth, now],
            |row| row.get(0),
        )?;
    tx.prepare_cached(
        "DELETE FROM push_subscriptions WHERE user_id = ?1 AND id NOT IN \
           (SELECT id FROM push_subscriptions WHERE user_id = ?1 \
            ORDER BY created_at DESC, id DESC LIMIT ?2)",
    )?
    .execute(params![new.user.0, MAX_PUSH_SUBSCRIPTIONS_PER_USER])?;
    Ok(PushSubscriptionId(id))
}

pub(super) fn subscriptions_of(
    conn: &Connection,
    users: &[UserId],
) -> rusqlite::Result<Vec<StoredPushSubscription>> {
    let ids = json_ids(users.iter().map(|user| user.0));
    conn.prepare_cached(
        "SELECT id, user_id, endpoint, p256dh, auth FROM push_subscriptions \
         WHERE user_id IN (SELECT value FROM json_each(?1)) ORDER BY id",
    )?
    .query_map(params![ids], |row| {
        Ok(StoredPushSubscription {
            id: PushSubscriptionId(row.get(0)?),
            user: UserId(row.get(1)?),
            endpoint: row.get(2)?,
            p256dh: row.get(3)?,
            auth: row.get(4)?,
        })
    })?
    .collect()
}

pub(super) fn delete_subscription(
    tx: &Transaction<'_>,
    user: UserId,
    endpoint: &str,
) -> rusqlite::Result<bool> {
    let deleted = tx
        .prepare_cached("DELETE FROM push_subscriptions WHERE user_id = ?1 AND endpoint = ?2")?
        .execute(params![user.0, endpoint])?;
    Ok(deleted > 0)
}

pub(super) fn delete_subscription_by_id(
    tx: &Transaction<'_>,
    id: PushSubscriptionId,
) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM push_subscriptions WHERE id = ?1")?
        .execute(params![id.0])?;
    Ok(())
}

pub(super) fn record_outcome(
    tx: &Transaction<'_>,
    id: PushSubscriptionId,
    succeeded: bool,
    at: i64,
) -> rusqlite::Result<()> {
    let statement = if succeeded {
        "UPDATE push_subscriptions SET last_success_at = ?2 WHERE id = ?1"
    } else {
        "UPDATE push_subscriptions SET last_failure_at = ?2 WHERE id = ?1"
    };
    tx.prepare_cached(statement)?.execute(params![id.0, at])?;
    Ok(())
}

pub(super) fn vapid_private_key(
    tx: &Transaction<'_>,
    candidate: &str,
    now: i64,
) -> rusqlite::Result<String> {
    tx.prepare_cached(
        "INSERT INTO push_vapid (id, private_key, created_at) VALUES (1, ?1, ?2) \
         ON CONFLICT (id) DO NOTHING",
    )?
    .execute(params![candidate, now])?;
    let key: Option<String> = tx
        .prepare_cached("SELECT private_key FROM push_vapid WHERE id = 1")?
        .query_row([], |row| row.get(0))
        .optional()?;
    Ok(key.unwrap_or_else(|| candidate.to_string()))
}
