//! The room head check: a message committed and never published still reaches the
//! connections that watch its room.
//!
//! A node publishes a message after its commit. A node that dies in between (or a Redis that
//! loses the publication on its way) leaves a message in the store that no connection heard
//! of. A later message of the room would find the gap and fill it (see `session::routing`),
//! but a room may stay quiet for a long time. So every `room_head_check_ms` (2 s by default)
//! each node asks the store for the last `seq` of every room that one of its connections
//! watches on a topic, in one set-based query ([`Store::last_seqs`]), and hands each such
//! connection the heads of its rooms ([`Hub::hand_room_heads`]); a connection whose topic is
//! behind fills the gap from the store through its usual gap-fill path.
//!
//! **Per node, not per session.** One query per node per period, for the union of the rooms
//! its connections watch, however many connections there are; a check per session would be a
//! query per connection per period (thousands a second on a busy node) for the same answer.
//! The sessions tell the hub which rooms they watch when they subscribe or unsubscribe
//! ([`Mailbox::watch_topics`](crate::hub::Mailbox::watch_topics)); the hub hands each
//! connection only its own rooms' heads, through its queue, so the session compares them in
//! its own task against state that cannot change under it.
//!
//! **One period late.** The heads read in one round are handed out in the next. A message
//! committed just before the query may still be on its way to this node (the commit pipeline,
//! Redis); handing out its head at once would make its connections read the store for what
//! is about to arrive anyway. A period later, a connection still behind that head has lost a
//! publication. So a lost message arrives within about twice the period.
//!
//! **Only what moved.** A head that has not moved since it was last handed out tells no
//! connection anything new, so a round hands out only the heads that moved (a quiet node
//! queues nothing). Every [`FULL_ROUND_EVERY`] rounds it hands out all of them, for a
//! connection that missed one (its queue was full, so it was skipped).
//!
//! This module reaches the store, the hub and the model types; never sessions,
//! STOMP, the edges, the broker or the room rules.

use crate::hub::Hub;
use crate::model::{RoomId, Seq};
use crate::store::Store;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

/// Every this many rounds all heads are handed out, not only those that moved (about 30 s at
/// the default period).
const FULL_ROUND_EVERY: u32 = 15;

/// The heads in `read` to hand out this round: those that differ from what was handed last
/// (all of them on a full round). `handed` becomes what the connections now know.
fn to_hand(
    read: HashMap<RoomId, Seq>,
    handed: &mut HashMap<RoomId, Seq>,
    full: bool,
) -> HashMap<RoomId, Seq> {
    let moved = read
        .iter()
        .filter(|(room, head)| full || handed.get(room) != Some(head))
        .map(|(room, head)| (*room, *head))
        .collect();
    *handed = read;
    moved
}

/// Starts the check every `period` for the connections of `hub`, until `stop` fires.
pub(crate) fn spawn(
    store: Arc<dyn Store>,
    hub: Arc<Hub>,
    period: Duration,
    stop: CancellationToken,
) {
    tokio::spawn(async move {
        let mut timer = tokio::time::interval(period);
        timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut read_last_round: HashMap<RoomId, Seq> = HashMap::new();
        let mut handed: HashMap<RoomId, Seq> = HashMap::new();
        let mut round: u32 = 0;
        let mut failing = false;
        loop {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = timer.tick() => {}
            }
            round = round.wrapping_add(1);
            let full = round.is_multiple_of(FULL_ROUND_EVERY);
            let read = std::mem::take(&mut read_last_round);
            hub.hand_room_heads(&to_hand(read, &mut handed, full));
            let rooms = hub.topic_rooms();
            read_last_round = if rooms.is_empty() {
                HashMap::new()
            } else {
                match store.last_seqs(&rooms).await {
                    Ok(heads) => {
                        if failing {
                            failing = false;
                            tracing::info!("room head check: the store answers again");
                        }
                        heads.into_iter().collect()
                    }
                    Err(err) => {
                        // Once per outage; the check simply tries again next period.
                        if !failing {
                            failing = true;
                            tracing::warn!(error = %err, rooms = rooms.len(), "room head check: the store did not answer");
                        }
                        HashMap::new()
                    }
                }
            };
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_heads_that_moved_are_handed_out_but_all_on_a_full_round() {
        let mut handed = HashMap::new();
        let first = HashMap::from([(RoomId(1), Seq(3)), (RoomId(2), Seq(5))]);
        assert_eq!(to_hand(first.clone(), &mut handed, false), first);
        let second = HashMap::from([(RoomId(1), Seq(3)), (RoomId(2), Seq(6))]);
        assert_eq!(
            to_hand(second.clone(), &mut handed, false),
            HashMap::from([(RoomId(2), Seq(6))])
        );
        assert!(to_hand(second.clone(), &mut handed, false).is_empty());
        assert_eq!(to_hand(second.clone(), &mut handed, true), second);
    }
}
