//! Which nodes are alive: a node that dies between a commit and its publication.
//!
//! A node publishes each message after its commit. One that is killed in between leaves
//! messages in the store that no other node heard of. A connection that shows the room gets
//! them through the room head check (`heads`); a connection that follows the room only
//! through its notifications has no such check, so it must be told. Nothing in Redis says that
//! a node died (its channels simply fall silent), so each node says that it lives.
//!
//! # Heartbeats in one sorted set
//!
//! Every `beat` each node runs one script on Redis that
//! - sets its own score in `{prefix}:nodes` to Redis's clock (never a node's: the nodes'
//!   clocks may disagree), and
//! - returns the nodes whose score is older than [`BEATS_MISSED`] beats: they stopped beating.
//!
//! A node that sees one it has not seen stop before tells every connection here to resync
//! ([`ResyncReason::Node`]); their clients reload the room list and the open rooms. Each node
//! notices on its own, so the stale entry stays in the set for [`FORGET_AFTER_BEATS`] beats
//! (time for every node to see it) before the script removes it. A node that beats again (it
//! was only cut off from Redis) can be noticed again the next time it stops.
//!
//! A node that starts and finds stale entries tells nobody: its connections are new, and each
//! resumed with `since-seq`. A node that stops gracefully removes its own entry (it published
//! everything it committed), so its stop costs nobody a resync.
//!
//! **Cost.** One script per node per beat (2 s by default), whatever the number of
//! connections: twenty nodes make ten small commands a second. A node's death costs one
//! notification per connection on every other node, and one reload per client.
//!
//! This module reaches the hub and Redis; nothing else.

use super::NodeId;
use crate::hub::Hub;
use crate::model::ResyncReason;
use redis::aio::ConnectionManager;
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Beats a node may miss before the others count it as stopped. Three, so that one slow
/// round trip (or a pause of a few seconds for a big SUBSCRIBE burst) is no death.
const BEATS_MISSED: u32 = 3;

/// Beats after which a stopped node's entry is removed from the set: long enough for every
/// other node to have seen it stopped at least once.
const FORGET_AFTER_BEATS: u32 = 30;

/// How long a beat may take before this round is skipped.
const BEAT_TIMEOUT: Duration = Duration::from_secs(5);

/// Sets `ARGV[1]`'s score to Redis's clock in milliseconds, removes entries older than
/// `ARGV[3]` ms, and returns the members older than `ARGV[2]` ms (this node is never one).
const BEAT: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[3]))
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[2]))
";

/// The member a node is known by in the set.
fn member(node: NodeId) -> String {
    format!("{:016x}", node.0)
}

/// Which of the nodes seen `stale` are news: those not in `known` (seen stopped last round
/// already). `known` becomes `stale`, so a node that beats again drops out of it and is news
/// again the next time it stops. The first round learns what is stale and reports nothing.
fn newly_stopped(stale: Vec<String>, known: &mut Option<HashSet<String>>, me: &str) -> Vec<String> {
    let stale: HashSet<String> = stale.into_iter().filter(|node| node != me).collect();
    let news = match known {
        Some(known) => stale.difference(known).cloned().collect(),
        None => Vec::new(),
    };
    *known = Some(stale);
    news
}

/// Beats every `beat` until `stop`, telling the hub's connections to resync when another node
/// stops beating, then removes this node's entry.
pub(super) async fn watch(
    mut redis: ConnectionManager,
    key: String,
    node: NodeId,
    hub: Arc<Hub>,
    beat: Duration,
    stop: CancellationToken,
) {
    let me = member(node);
    let beat_ms = u64::try_from(beat.as_millis()).unwrap_or(u64::MAX).max(1);
    let stale_after = beat_ms.saturating_mul(u64::from(BEATS_MISSED));
    let forget_after = beat_ms.saturating_mul(u64::from(FORGET_AFTER_BEATS));
    let mut known: Option<HashSet<String>> = None;
    let mut ticks = tokio::time::interval(beat);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticks.tick() => {}
        }
        // EVAL with the script's text: a few hundred bytes every beat, and nothing to reload
        // after Redis restarts (as EVALSHA would need).
        let mut beat_command = redis::cmd("EVAL");
        beat_command
            .arg(BEAT)
            .arg(1)
            .arg(&key)
            .arg(&me)
            .arg(stale_after)
            .arg(forget_after);
        let beating = beat_command.query_async::<Vec<String>>(&mut redis);
        let stale = match tokio::time::timeout(BEAT_TIMEOUT, beating).await {
            Ok(Ok(stale)) => stale,
            Ok(Err(err)) => {
                tracing::debug!(error = %err, "node heartbeat failed; retrying next beat");
                continue;
            }
            Err(_) => {
                tracing::debug!("node heartbeat timed out; retrying next beat");
                continue;
            }
        };
        let stopped = newly_stopped(stale, &mut known, &me);
        if !stopped.is_empty() {
            // One resync covers every node that stopped this round.
            let told = hub.tell_everyone_to_resync(ResyncReason::Node);
            tracing::warn!(
                nodes = %stopped.join(","),
                connections_told_to_resync = told,
                "a node stopped beating: what it committed and did not publish reached no \
                 connection here live; every connection here is told to resync"
            );
        }
    }
    let mut leave_command = redis::cmd("ZREM");
    leave_command.arg(&key).arg(&me);
    let leaving = leave_command.query_async::<i64>(&mut redis);
    if let Ok(Err(err)) = tokio::time::timeout(BEAT_TIMEOUT, leaving).await {
        tracing::debug!(error = %err, "could not remove this node's heartbeat");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(nodes: &[&str]) -> Vec<String> {
        nodes.iter().map(|n| (*n).to_string()).collect()
    }

    #[test]
    fn the_first_round_only_learns() {
        let mut known = None;
        assert!(newly_stopped(set(&["a"]), &mut known, "me").is_empty());
        assert!(newly_stopped(set(&["a"]), &mut known, "me").is_empty());
    }

    #[test]
    fn a_node_that_stops_is_news_once() {
        let mut known = None;
        newly_stopped(set(&[]), &mut known, "me");
        assert_eq!(newly_stopped(set(&["a"]), &mut known, "me"), set(&["a"]));
        assert!(newly_stopped(set(&["a"]), &mut known, "me").is_empty());
    }

    #[test]
    fn a_node_that_beats_again_is_news_when_it_stops_again() {
        let mut known = None;
        newly_stopped(set(&[]), &mut known, "me");
        newly_stopped(set(&["a"]), &mut known, "me");
        newly_stopped(set(&[]), &mut known, "me");
        assert_eq!(newly_stopped(set(&["a"]), &mut known, "me"), set(&["a"]));
    }

    #[test]
    fn this_node_is_never_news() {
        let mut known = None;
        newly_stopped(set(&[]), &mut known, "me");
        assert!(newly_stopped(set(&["me"]), &mut known, "me").is_empty());
    }
}
