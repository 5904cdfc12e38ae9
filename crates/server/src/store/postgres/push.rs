//! The PostgreSQL statements of muting and Web Push (see `store::push`), called in one line
//! each from `postgres.rs`.

use super::super::push::MAX_PUSH_SUBSCRIPTIONS_PER_USER;
use super::super::{NewPushSubscription, PushSubscriptionId, StoreError, StoredPushSubscription};
use crate::model::{now_millis, RoomId, UserId};
use sqlx::{PgPool, Row};

pub(super) async fn set_muted(
    pool: &PgPool,
    room: RoomId,
    user: UserId,
    muted: bool,
) -> Result<(), StoreError> {
    let changed = sqlx::query("UPDATE members SET muted = $1 WHERE room_id = $2 AND user_id = $3")
        .bind(muted)
        .bind(room.0)
        .bind(user.0)
        .execute(pool)
        .await?;
    if changed.rows_affected() == 0 {
        return Err(StoreError::NotMember);
    }
    Ok(())
}

pub(super) async fn upsert_subscription(
    pool: &PgPool,
    new: &NewPushSubscription,
) -> Result<PushSubscriptionId, StoreError> {
    let mut tx = pool.begin().await?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (endpoint) DO UPDATE SET user_id = excluded.user_id, \
           p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at, \
           last_failure_at = NULL \
         RETURNING id",
    )
    .bind(new.user.0)
    .bind(&new.endpoint)
    .bind(&new.p256dh)
    .bind(&new.auth)
    .bind(now_millis())
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query(
        "DELETE FROM push_subscriptions WHERE user_id = $1 AND id NOT IN \
           (SELECT id FROM push_subscriptions WHERE user_id = $1 \
            ORDER BY created_at DESC, id DESC LIMIT $2)",
    )
    .bind(new.user.0)
    .bind(MAX_PUSH_SUBSCRIPTIONS_PER_USER)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(PushSubscriptionId(id))
}

pub(super) async fn subscriptions_of(
    pool: &PgPool,
    users: &[UserId],
) -> Result<Vec<StoredPushSubscription>, StoreError> {
    let ids: Vec<i64> = users.iter().map(|user| user.0).collect();
    sqlx::query(
        "SELECT id, user_id, endpoint, p256dh, auth FROM push_subscriptions \
         WHERE user_id = ANY($1) ORDER BY id",
    )
    .bind(&ids)
    .fetch_all(pool)
    .await?
    .into_iter()
    .map(|row| {
        Ok(StoredPushSubscription {
            id: PushSubscriptionId(row.try_get("id")?),
            user: UserId(row.try_get("user_id")?),
            endpoint: row.try_get("endpoint")?,
            p256dh: row.try_get("p256dh")?,
            auth: row.try_get("auth")?,
        })
    })
    .collect()
}

pub(super) async fn delete_subscription(
    pool: &PgPool,
    user: UserId,
    endpoint: &str,
) -> Result<bool, StoreError> {
    let deleted =
        sqlx::query("DELETE FROM push_subscriptions WHERE user_id = $1 AND endpoint = $2")
            .bind(user.0)
            .bind(endpoint)
            .execute(pool)
            .await?;
    Ok(deleted.rows_affected() > 0)
}

pub(super) async fn delete_subscription_by_id(
    pool: &PgPool,
    id: PushSubscriptionId,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM push_subscriptions WHERE id = $1")
        .bind(id.0)
        .execute(pool)
        .await?;
    Ok(())
}

pub(super) async fn record_outcome(
    pool: &PgPool,
    id: PushSubscriptionId,
    succeeded: bool,
    at: i64,
) -> Result<(), StoreError> {
    let statement = if succeeded {
        "UPDATE push_subscriptions SET last_success_at = $2 WHERE id = $1"
    } else {
        "UPDATE push_subscriptions SET last_failure_at = $2 WHERE id = $1"
    };
    sqlx::query(statement)
        .bind(id.0)
        .bind(at)
        .execute(pool)
        .await?;
    Ok(())
}

pub(super) async fn vapid_private_key(
    pool: &PgPool,
    candidate: &str,
) -> Result<String, StoreError> {
    // Nodes starting together race here; the one row's primary key decides, and everyone
    // reads the winner's key.
    sqlx::query(
        "INSERT INTO push_vapid (id, private_key, created_at) VALUES (1, $1, $2) \
         ON CONFLICT (id) DO NOTHING",
    )
    .bind(candidate)
    .bind(now_millis())
    .execute(pool)
    .await?;
    let key: Option<String> = sqlx::query_scalar("SELECT private_key FROM push_vapid WHERE id = 1")
        .fetch_optional(pool)
        .await?;
    Ok(key.unwrap_or_else(|| candidate.to_string()))
}
