//! Per-key throttles that keep one client from hurting the others: token buckets for login and
//! registration attempts (argon2 is deliberately expensive, so unthrottled attempts are both a
//! password-guessing and a CPU-exhaustion vector), and a count of open WebSockets per IP.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Keys above this many are pruned of full (idle) buckets, so memory stays bounded.
const PRUNE_ABOVE: usize = 10_000;

/// A token bucket per key.
#[derive(Debug)]
pub struct KeyedBuckets<K> {
    capacity: f64,
    per_sec: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Eq + Hash + Clone> KeyedBuckets<K> {
    /// Buckets of `capacity` tokens refilled at `per_minute` tokens a minute.
    pub fn new(capacity: u32, per_minute: u32) -> Self {
        KeyedBuckets {
            capacity: f64::from(capacity.max(1)),
            per_sec: f64::from(per_minute) / 60.0,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn level(&self, bucket: &(f64, Instant), now: Instant) -> f64 {
        (bucket.0 + now.duration_since(bucket.1).as_secs_f64() * self.per_sec).min(self.capacity)
    }

    /// Takes a token for `key`; `false` when its bucket is empty.
    pub fn take(&self, key: &K) -> bool {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() > PRUNE_ABOVE {
            buckets.retain(|_, b| {
                let level =
                    (b.0 + now.duration_since(b.1).as_secs_f64() * self.per_sec).min(self.capacity);
                level < self.capacity
            });
        }
        let entry = buckets.entry(key.clone()).or_insert((self.capacity, now));
        let level = self.level(entry, now);
        if level >= 1.0 {
            *entry = (level - 1.0, now);
            true
        } else {
            *entry = (level, now);
            false
        }
    }

    /// Whether `key` has a token left, without taking one.
    pub fn has(&self, key: &K) -> bool {
        let now = Instant::now();
        let buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.get(key).is_none_or(|b| self.level(b, now) >= 1.0)
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
    fn buckets_refuse_past_capacity_per_key() {
        let buckets = KeyedBuckets::new(2, 1);
        assert!(buckets.take(&"a") && buckets.take(&"a"));
        assert!(!buckets.take(&"a"));
        assert!(!buckets.has(&"a"));
        assert!(buckets.take(&"b"), "another key has its own bucket");
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
