//! Per-key throttles that keep one client from hurting the others: token buckets for login and
//! registration attempts (argon2 is deliberately expensive, so unthrottled attempts are both a
//! password-guessing and a CPU-exhaustion vector), per-user budgets for what a signed-in user
//! makes the server do for others ([`UserBudgets`]: messages, new rooms, members added), and a
//! count of open WebSockets per IP.
//!
//! A token is taken *before* the work it pays for, never after: counting a failed login only
//! once the slow password check has answered let fifty concurrent guesses through a budget of
//! ten. What turns out not to need the token (a successful login, a direct room that already
//! existed) gives it back.

use crate::config::Limits;
use crate::model::UserId;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Keys above this many are pruned of full (idle) buckets, so memory stays bounded.
const PRUNE_ABOVE: usize = 10_000;

/// A token bucket per key.
#[derive(Debug)]
pub struct KeyedBuckets<K> {
    capacity: f64,
    per_sec: f64,
    buckets: Mutex<Table<K>>,
}

/// The buckets, and the size at which they are pruned next. Pruning scans every bucket, so
/// after a prune that leaves many (all busy) the next waits until the table has doubled:
/// the scans cost O(1) per request however many keys are busy.
#[derive(Debug)]
struct Table<K> {
    buckets: HashMap<K, (f64, Instant)>,
    prune_at: usize,
}

impl<K: Eq + Hash + Clone> KeyedBuckets<K> {
    /// Buckets of `capacity` tokens refilled at `per_minute` tokens a minute.
    pub fn new(capacity: u32, per_minute: u32) -> Self {
        Self::refilled_every(capacity, f64::from(per_minute) / 60.0)
    }

    /// Buckets of `capacity` tokens refilled at `per_sec` tokens a second.
    pub fn refilled_every(capacity: u32, per_sec: f64) -> Self {
        KeyedBuckets {
            capacity: f64::from(capacity.max(1)),
            per_sec,
            buckets: Mutex::new(Table {
                buckets: HashMap::new(),
                prune_at: PRUNE_ABOVE,
            }),
        }
    }

    /// How many tokens a full bucket holds: a request for more can never be granted.
    pub fn capacity(&self) -> u32 {
        self.capacity as u32
    }

    /// Takes `count` tokens for `key` at once, or none; when there are too few, how long until
    /// there will be enough (a request for more than the capacity waits as if for a full bucket).
    ///
    /// # Errors
    /// The wait, when the bucket has fewer than `count` tokens.
    pub fn try_take(&self, key: &K, count: u32) -> Result<(), Duration> {
        let now = Instant::now();
        let mut table = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        self.prune(&mut table, now);
        let buckets = &mut table.buckets;
        let wanted = f64::from(count);
        let entry = buckets.entry(key.clone()).or_insert((self.capacity, now));
        let level = self.level(entry, now);
        if level >= wanted {
            *entry = (level - wanted, now);
            Ok(())
        } else {
            *entry = (level, now);
            let missing = wanted.min(self.capacity) - level;
            let wait = if self.per_sec > 0.0 {
                missing / self.per_sec
            } else {
                f64::from(u32::MAX)
            };
            Err(Duration::from_secs_f64(
                wait.clamp(0.001, f64::from(u32::MAX)),
            ))
        }
    }

    /// Returns a token taken for work that turned out not to need it (never above capacity).
    pub fn give_back(&self, key: &K) {
        let now = Instant::now();
        let mut table = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(entry) = table.buckets.get_mut(key) {
            let level = self.level(entry, now);
            *entry = ((level + 1.0).min(self.capacity), now);
        }
    }

    fn prune(&self, table: &mut Table<K>, now: Instant) {
        if table.buckets.len() > table.prune_at {
            table.buckets.retain(|_, b| {
                let level =
                    (b.0 + now.duration_since(b.1).as_secs_f64() * self.per_sec).min(self.capacity);
                level < self.capacity
            });
            table.prune_at = PRUNE_ABOVE.max(2 * table.buckets.len());
        }
    }

    fn level(&self, bucket: &(f64, Instant), now: Instant) -> f64 {
        (bucket.0 + now.duration_since(bucket.1).as_secs_f64() * self.per_sec).min(self.capacity)
    }

    /// Takes a token for `key`; `false` when its bucket is empty.
    pub fn take(&self, key: &K) -> bool {
        self.try_take(key, 1).is_ok()
    }

    /// Whether `key` has a token left, without taking one.
    pub fn has(&self, key: &K) -> bool {
        let now = Instant::now();
        let table = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        table
            .buckets
            .get(key)
            .is_none_or(|b| self.level(b, now) >= 1.0)
    }
}

/// What one signed-in user may make the server do for others, per user whatever the
/// connection or API: one budget of messages (HTTP posts, STOMP SENDs and read marks alike, so
/// opening more connections or switching to HTTP buys nothing), of new rooms (every group or
/// direct room puts itself into other people's room lists), and of members added to groups.
#[derive(Debug)]
pub struct UserBudgets {
    /// Messages, typing indicators and read marks: `send_rate_per_sec`, bursts of `send_burst`.
    pub sends: KeyedBuckets<UserId>,
    /// Groups created and direct rooms opened: `rooms_per_hour`.
    pub rooms: KeyedBuckets<UserId>,
    /// Other users added to groups (at creation or later): `members_added_per_hour`.
    pub members_added: KeyedBuckets<UserId>,
}

impl UserBudgets {
    /// Budgets from the configured limits.
    pub fn new(limits: &Limits) -> Self {
        UserBudgets {
            sends: KeyedBuckets::refilled_every(
                limits.send_burst,
                f64::from(limits.send_rate_per_sec),
            ),
            rooms: KeyedBuckets::refilled_every(
                limits.rooms_per_hour,
                f64::from(limits.rooms_per_hour) / 3600.0,
            ),
            members_added: KeyedBuckets::refilled_every(
                limits.members_added_per_hour,
                f64::from(limits.members_added_per_hour) / 3600.0,
            ),
        }
    }
}

/// Open WebSockets per IP address.
#[derive(Debug, Default)]
pub struct IpConnections {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl IpConnections {
    /// Counts a new connection from `ip`, unless it has `max` open already (`None`).
    /// The returned guard uncounts it when dropped.
    pub fn open(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<IpConnection> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(IpConnection {
            counter: self.clone(),
            ip,
        })
    }
}

/// One counted connection; dropping it frees the slot.
#[derive(Debug)]
pub struct IpConnection {
    counter: Arc<IpConnections>,
    ip: IpAddr,
}

impl Drop for IpConnection {
    fn drop(&mut self) {
        let mut open = self.counter.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn busy_keys_are_kept_and_idle_ones_pruned_past_the_threshold() {
        // No refill: every bucket that gave a token stays busy (not full) for good.
        let buckets = KeyedBuckets::refilled_every(2, 0.0);
        for key in 0..=PRUNE_ABOVE {
            assert!(buckets.take(&key));
        }
        // Past the threshold a prune keeps every busy bucket, so the next waits for the
        // table to double instead of scanning on every request.
        assert!(buckets.take(&(PRUNE_ABOVE + 1)));
        let table = buckets.buckets.lock().expect("lock");
        assert_eq!(table.buckets.len(), PRUNE_ABOVE + 2);
        assert_eq!(table.prune_at, 2 * (PRUNE_ABOVE + 1));
        drop(table);
        // A key still with its second token keeps its state: the prune did not reset it.
        assert!(buckets.take(&0));
        assert!(!buckets.take(&0));
    }

    #[test]
    fn buckets_refuse_past_capacity_per_key() {
        let buckets = KeyedBuckets::new(2, 1);
        assert!(buckets.take(&"a") && buckets.take(&"a"));
        assert!(!buckets.take(&"a"));
        assert!(!buckets.has(&"a"));
        assert!(buckets.take(&"b"), "another key has its own bucket");
    }

    #[test]
    fn a_refusal_says_how_long_to_wait_and_a_give_back_refunds() {
        let buckets = KeyedBuckets::refilled_every(2, 0.5);
        assert_eq!(buckets.try_take(&"a", 2), Ok(()));
        let wait = buckets.try_take(&"a", 1).expect_err("empty");
        assert!(
            wait > Duration::from_millis(1500) && wait <= Duration::from_secs(2),
            "{wait:?}"
        );
        buckets.give_back(&"a");
        assert_eq!(buckets.try_take(&"a", 1), Ok(()));
        assert!(
            buckets.try_take(&"a", 3).is_err(),
            "more than the capacity is never granted at once"
        );
    }

    #[test]
    fn ip_connections_are_capped_and_freed() {
        let counter = Arc::new(IpConnections::default());
        let ip: IpAddr = [127, 0, 0, 1].into();
        let first = counter.open(ip, 2).expect("1");
        let _second = counter.open(ip, 2).expect("2");
        assert!(counter.open(ip, 2).is_none());
        assert!(counter.open([127, 0, 0, 2].into(), 2).is_some());
        drop(first);
        assert!(counter.open(ip, 2).is_some());
    }
}
