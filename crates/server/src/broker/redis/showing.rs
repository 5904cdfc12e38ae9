//! Which users are shown which rooms on any node: what Web Push asks before it pushes.
//!
//! A user is *shown* a room while one of their connections, on any node, subscribes to the
//! room's topic (the page has the room open). Each node keeps, in Redis, one sorted set per
//! (user, room) it shows: `{prefix}:showing:{user}:{room}`, whose members are the nodes that
//! show it, each scored with the time (Unix ms) until which the entry holds.
//!
//! - When a connection here subscribes to or leaves a room's topic, or goes, the hub says so
//!   ([`Hub::watch_showing`]); this task compares what the user's connections here show now
//!   ([`Hub::rooms_shown`]) with what it wrote last, and adds (`ZADD`, with `PEXPIRE` on the
//!   key) or removes (`ZREM`) this node's entries in one pipeline.
//! - Every [`REFRESH`] it re-scores every entry it holds, so a node that dies leaves entries
//!   that stop counting within [`HOLD`] (and the keys expire by themselves).
//! - A node asking whether a user is shown a room counts the entries scored after now
//!   (`ZCOUNT key now +inf`), for all users in one pipeline.
//!
//! Scores are node clocks: nodes are expected to agree within a few seconds, well inside
//! [`HOLD`]. A failed write is retried by the next refresh (an addition) or outlives its
//! connection by at most [`HOLD`] (a removal: pushes to that user and room are held back
//! for that long). A failed read counts nobody as shown: a push too many, never one missed.
//!
//! **Cost.** One pipeline per change of a user's open rooms; one `ZADD` per (user, room)
//! shown here every [`REFRESH`]; one pipeline of `ZCOUNT`s per pushed message.
//!
//! This module reaches the hub and Redis; nothing else.

use super::NodeId;
use crate::hub::Hub;
use crate::model::{RoomId, UserId};
use redis::aio::ConnectionManager;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// How long an entry counts after it was last written.
pub(super) const HOLD: Duration = Duration::from_secs(30);

/// How often a node re-writes the entries it holds.
const REFRESH: Duration = Duration::from_secs(10);

/// How long one pipeline may take.
const TIMEOUT: Duration = Duration::from_secs(3);

/// Names the keys of one prefix.
#[derive(Debug, Clone)]
pub(super) struct ShowingKeys {
    prefix: String,
}

impl ShowingKeys {
    pub(super) fn new(prefix: &str) -> Self {
        ShowingKeys {
            prefix: format!("{prefix}:showing:"),
        }
    }

    fn of(&self, user: UserId, room: RoomId) -> String {
        format!("{}{user}:{room}", self.prefix)
    }
}

fn member(node: NodeId) -> String {
    format!("{:016x}", node.0)
}

fn now_ms() -> i64 {
    crate::model::now_millis()
}

/// Keeps this node's entries in Redis as the hub reports changes (see the module doc).
pub(super) async fn keep(
    mut redis: ConnectionManager,
    hub: Arc<Hub>,
    mut changes: mpsc::UnboundedReceiver<UserId>,
    keys: ShowingKeys,
    node: NodeId,
    stop: CancellationToken,
) {
    let me = member(node);
    let mut written: HashMap<UserId, HashSet<RoomId>> = HashMap::new();
    let mut refresh = tokio::time::interval(REFRESH);
    refresh.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let mut pipe = redis::pipe();
        let until = now_ms() + HOLD.as_millis() as i64;
        tokio::select! {
            () = stop.cancelled() => {
                for (user, rooms) in written.drain() {
                    for room in rooms {
                        pipe.zrem(keys.of(user, room), &me).ignore();
                    }
                }
                run(&mut redis, &pipe).await;
                return;
            }
            _ = refresh.tick() => {
                for (user, rooms) in &written {
                    for room in rooms {
                        add(&mut pipe, &keys.of(*user, *room), &me, until);
                    }
                }
            }
            changed = changes.recv() => {
                let Some(first) = changed else { return };
                let mut users = HashSet::from([first]);
                while let Ok(user) = changes.try_recv() {
                    users.insert(user);
                }
                for user in users {
                    let now = hub.rooms_shown(user);
                    let before = written.remove(&user).unwrap_or_default();
                    for room in now.difference(&before) {
                        add(&mut pipe, &keys.of(user, *room), &me, until);
                    }
                    for room in before.difference(&now) {
                        pipe.zrem(keys.of(user, *room), &me).ignore();
                    }
                    if !now.is_empty() {
                        written.insert(user, now);
                    }
                }
            }
        }
        run(&mut redis, &pipe).await;
    }
}

fn add(pipe: &mut redis::Pipeline, key: &str, me: &str, until: i64) {
    pipe.zadd(key, me, until).ignore();
    pipe.pexpire(key, HOLD.as_millis() as i64).ignore();
}

async fn run(redis: &mut ConnectionManager, pipe: &redis::Pipeline) {
    if pipe.cmd_iter().next().is_none() {
        return;
    }
    match tokio::time::timeout(TIMEOUT, pipe.query_async::<()>(redis)).await {
        Ok(Ok(())) => {}
        Ok(Err(err)) => tracing::warn!(error = %err, "shown rooms not written to Redis"),
        Err(_) => tracing::warn!("shown rooms not written to Redis: timed out"),
    }
}

/// Which of `users` some node shows `room` to now; nobody when Redis does not answer.
pub(super) async fn showing(
    redis: &mut ConnectionManager,
    keys: &ShowingKeys,
    room: RoomId,
    users: &[UserId],
) -> Vec<UserId> {
    if users.is_empty() {
        return Vec::new();
    }
    let mut pipe = redis::pipe();
    let now = now_ms();
    for user in users {
        pipe.zcount(keys.of(*user, room), now, "+inf");
    }
    match tokio::time::timeout(TIMEOUT, pipe.query_async::<Vec<i64>>(redis)).await {
        Ok(Ok(counts)) => users
            .iter()
            .zip(counts)
            .filter(|(_, count)| *count > 0)
            .map(|(user, _)| *user)
            .collect(),
        Ok(Err(err)) => {
            tracing::warn!(error = %err, "shown rooms not read from Redis; pushing anyway");
            Vec::new()
        }
        Err(_) => {
            tracing::warn!("shown rooms not read from Redis: timed out; pushing anyway");
            Vec::new()
        }
    }
}
