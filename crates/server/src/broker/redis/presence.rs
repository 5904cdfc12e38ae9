//! Presence records in Redis, shared by the nodes.
//!
//! Each user connected anywhere has a hash, `{prefix}:presence:{id}`: one field per node that
//! holds a connection of the user, its value `active|away:EXPIRES` (Unix milliseconds). The
//! user's state is the best activity over the fields that have not expired. A node writes its
//! field when its part changes and deletes it when its last connection of the user is gone,
//! and rewrites every field of its users every third of the TTL. A node that dies writes
//! nothing more: its fields expire, and the whole key with them (`PEXPIRE`), like
//! Centrifugo's presence.
//!
//! Someone must tell the dead node's users' watchers that they are offline now. A sorted set,
//! `{prefix}:presence:expiry`, holds each user's latest expiry; every node looks for users
//! whose expiry passed, and the one whose `ZREM` removes the user (one only) looks at the
//! user's record again and, if nobody holds the user anymore, reports it lapsed.

use crate::model::{now_millis, Activity, UserId};
use redis::aio::ConnectionManager;
use std::collections::HashMap;
use std::time::Duration;

/// Most users read or written in one pipeline.
const USERS_PER_PIPELINE: usize = 1000;

/// The keys of one prefix and this node's field in them.
#[derive(Debug, Clone)]
pub(super) struct PresenceRecords {
    connection: ConnectionManager,
    /// `{prefix}:presence:`.
    key_prefix: String,
    /// `{prefix}:presence:expiry`.
    expiry_key: String,
    /// This node's field name.
    field: String,
    ttl: Duration,
}

/// A field's value: the activity and when it expires.
fn encode(activity: Activity, expires_at: i64) -> String {
    let word = match activity {
        Activity::Active => "active",
        Activity::Away => "away",
    };
    format!("{word}:{expires_at}")
}

/// The best activity over `fields` that have not expired at `now`.
fn best(fields: &HashMap<String, String>, now: i64) -> Option<Activity> {
    fields
        .values()
        .filter_map(|value| {
            let (word, expires_at) = value.split_once(':')?;
            if expires_at.parse::<i64>().ok()? <= now {
                return None;
            }
            match word {
                "active" => Some(Activity::Active),
                "away" => Some(Activity::Away),
                _ => None,
            }
        })
        .max()
}

impl PresenceRecords {
    pub(super) fn new(
        connection: ConnectionManager,
        prefix: &str,
        node: u64,
        ttl: Duration,
    ) -> Self {
        PresenceRecords {
            connection,
            key_prefix: format!("{prefix}:presence:"),
            expiry_key: format!("{prefix}:presence:expiry"),
            field: format!("{node:016x}"),
            ttl,
        }
    }

    fn key(&self, user: UserId) -> String {
        format!("{}{user}", self.key_prefix)
    }

    fn ttl_millis(&self) -> i64 {
        i64::try_from(self.ttl.as_millis()).unwrap_or(i64::MAX)
    }

    /// Adds the commands that write this node's field of `user` and keep its key alive.
    fn write(&self, pipe: &mut redis::Pipeline, user: UserId, activity: Activity, now: i64) {
        let key = self.key(user);
        let expires_at = now + self.ttl_millis();
        pipe.hset(&key, &self.field, encode(activity, expires_at))
            .ignore()
            .cmd("PEXPIRE")
            .arg(&key)
            .arg(self.ttl_millis())
            .ignore()
            .cmd("ZADD")
            .arg(&self.expiry_key)
            .arg("GT")
            .arg(expires_at)
            .arg(user.0)
            .ignore();
    }

    /// Writes (or, for `None`, deletes) this node's field of `user`, and reads the user's
    /// best activity over every node before and after, in one atomic round trip.
    pub(super) async fn report(
        &self,
        user: UserId,
        here: Option<Activity>,
    ) -> redis::RedisResult<(Option<Activity>, Option<Activity>)> {
        let now = now_millis();
        let key = self.key(user);
        let mut pipe = redis::pipe();
        pipe.atomic();
        pipe.hgetall(&key);
        match here {
            Some(activity) => self.write(&mut pipe, user, activity, now),
            None => {
                pipe.hdel(&key, &self.field).ignore();
            }
        }
        pipe.hgetall(&key);
        let mut connection = self.connection.clone();
        let (before, fields): (HashMap<String, String>, HashMap<String, String>) =
            pipe.query_async(&mut connection).await?;
        let before = best(&before, now);
        let best = best(&fields, now);
        if best.is_none() {
            // Offline everywhere, and told so by the caller: nothing is left to lapse.
            let _: () = redis::cmd("ZREM")
                .arg(&self.expiry_key)
                .arg(user.0)
                .query_async(&mut connection)
                .await?;
        }
        Ok((before, best))
    }

    /// Each user's best activity over every node.
    pub(super) async fn read(&self, users: &[UserId]) -> redis::RedisResult<Vec<Option<Activity>>> {
        let now = now_millis();
        let mut out = Vec::with_capacity(users.len());
        let mut connection = self.connection.clone();
        for chunk in users.chunks(USERS_PER_PIPELINE) {
            let mut pipe = redis::pipe();
            for user in chunk {
                pipe.hgetall(self.key(*user));
            }
            let records: Vec<HashMap<String, String>> = pipe.query_async(&mut connection).await?;
            out.extend(records.iter().map(|fields| best(fields, now)));
        }
        Ok(out)
    }

    /// Rewrites this node's field of each of `here`, pushing its expiry a TTL away.
    pub(super) async fn refresh(&self, here: &[(UserId, Activity)]) -> redis::RedisResult<()> {
        let now = now_millis();
        let mut connection = self.connection.clone();
        for chunk in here.chunks(USERS_PER_PIPELINE) {
            let mut pipe = redis::pipe();
            for (user, activity) in chunk {
                self.write(&mut pipe, *user, *activity, now);
            }
            let () = pipe.query_async(&mut connection).await?;
        }
        Ok(())
    }

    /// Users whose every record lapsed, each claimed by this node alone (see the module doc).
    pub(super) async fn lapsed(&self) -> redis::RedisResult<Vec<UserId>> {
        let now = now_millis();
        let mut connection = self.connection.clone();
        let due: Vec<i64> = redis::cmd("ZRANGEBYSCORE")
            .arg(&self.expiry_key)
            .arg("-inf")
            .arg(now)
            .arg("LIMIT")
            .arg(0)
            .arg(USERS_PER_PIPELINE)
            .query_async(&mut connection)
            .await?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = redis::pipe();
        for user in &due {
            pipe.cmd("ZREM").arg(&self.expiry_key).arg(*user);
        }
        let removed: Vec<i64> = pipe.query_async(&mut connection).await?;
        let claimed: Vec<UserId> = due
            .into_iter()
            .zip(removed)
            .filter(|(_, removed)| *removed == 1)
            .map(|(user, _)| UserId(user))
            .collect();
        let states = self.read(&claimed).await?;
        Ok(claimed
            .into_iter()
            .zip(states)
            .filter(|(_, state)| state.is_none())
            .map(|(user, _)| user)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_best_unexpired_field_wins() {
        let mut fields = HashMap::new();
        fields.insert("a".to_string(), encode(Activity::Away, 2000));
        fields.insert("b".to_string(), encode(Activity::Active, 1000));
        assert_eq!(best(&fields, 500), Some(Activity::Active));
        assert_eq!(best(&fields, 1500), Some(Activity::Away), "b expired");
        assert_eq!(best(&fields, 2500), None, "both expired");
        fields.insert("c".to_string(), "garbage".to_string());
        assert_eq!(best(&fields, 2500), None);
    }
}
