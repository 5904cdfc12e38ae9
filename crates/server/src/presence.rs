//! [`PresenceTracker`]: who is online, away or offline, and telling the users who watch them.
//!
//! Presence is per user. Each connection reports its activity (`active` on connect, then
//! whatever its client says: `away` for a hidden tab or an idle window); a user's state is
//! the best activity over all its connections on all nodes, kept by the broker
//! ([`Broker::report_presence`]: in memory on one node, in Redis records that lapse unless
//! refreshed between nodes). A change of that state is published once
//! ([`Publication::Presence`]) and reaches, on every node, the connections that watch the user
//! ([`Hub::watch_users`]): one frame per watching connection, however many rooms they share.
//!
//! - **Grace.** When a user's last connection here closes, the user stays as it was for
//!   `presence_grace_ms` (a reload reconnects within it and nobody sees it go), then goes
//!   `offline` and its `last_seen_at` is stored.
//! - **Stopping.** A node that shuts down gracefully lets its users go at once, after its
//!   sessions closed ([`PresenceTracker::depart`]): it cannot end their grace later, and its
//!   records would keep them as they were until they lapse. A node that dies leaves that to
//!   the lapse of its records.
//! - **Coalescing.** Changes of one user are published at most once per
//!   `presence_interval_ms`; a flip and a flip back within it reach nobody, and a client that
//!   flips in a loop costs its watchers one frame per interval.
//! - **Hidden.** A user who hides its presence is published as `offline` without a last
//!   sighting. It still sees others.
//! - **Who may watch.** Only users who share a room with the watcher (and the watcher itself):
//!   checked in one query against the whole list when the list is sent.
//!
//! Work is done by one task per node, in order, fed by the sessions' calls and by timers: it
//! is the one place that decides what a user's watchers hear, so two changes of one user never
//! race each other. This module reaches the store (settings, last sighting, shared rooms),
//! the broker and the hub, never sessions, STOMP or the edges.

use crate::broker::Broker;
use crate::error::Error;
use crate::hub::{Hub, Mailbox};
use crate::metrics::Metrics;
use crate::model::{now_millis, rfc3339_millis, Activity, PresenceState, UserId, UserPresence};
use crate::publication::{ConnectionId, Publication};
use crate::store::{PresenceRow, Store};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Most users one connection may watch.
pub const MAX_WATCHED: usize = 1000;

/// Timings of presence (see the module doc).
#[derive(Debug, Clone, Copy)]
pub struct PresenceTimings {
    /// How long a user stays after its last connection here closed.
    pub grace: Duration,
    /// The shortest time between two published changes of one user.
    pub interval: Duration,
    /// How often this node refreshes its records and looks for lapsed ones (a third of the
    /// records' lifetime).
    pub refresh: Duration,
}

/// What this node knows of one user with (or lately with) connections here.
#[derive(Debug, Default)]
struct Local {
    /// Each connection's activity.
    connections: HashMap<ConnectionId, Activity>,
    /// When the last connection here closed, while it has none.
    gone_at: Option<i64>,
    /// When this node last published the user's state.
    published_at: Option<Instant>,
    /// A flush of the user is on its way (a timer or the queue holds it).
    pending: bool,
    /// The user's setting changed: the next flush publishes whatever the state.
    forced: bool,
}

impl Local {
    fn best(&self) -> Option<Activity> {
        self.connections.values().copied().max()
    }
}

/// Presence of this node's users and of their watchers (see the module doc). Cheap to clone.
#[derive(Debug, Clone)]
pub struct PresenceTracker {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn Store>,
    broker: Arc<dyn Broker>,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    timings: PresenceTimings,
    users: Mutex<HashMap<UserId, Local>>,
    /// The server is stopping: no grace or interval is waited for any more.
    departing: AtomicBool,
    /// Users whose state is due to be looked at and, if it changed, published.
    due: mpsc::UnboundedSender<UserId>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresenceTracker")
            .field("timings", &self.timings)
            .finish_non_exhaustive()
    }
}

impl PresenceTracker {
    /// Starts the tracker's task (until `shutdown`). Must be called inside a Tokio runtime.
    pub fn start(
        store: Arc<dyn Store>,
        broker: Arc<dyn Broker>,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
        timings: PresenceTimings,
        shutdown: CancellationToken,
    ) -> Self {
        let (due, queue) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            store,
            broker,
            hub,
            metrics,
            timings,
            users: Mutex::new(HashMap::new()),
            departing: AtomicBool::new(false),
            due,
        });
        tokio::spawn(run(inner.clone(), queue, shutdown));
        PresenceTracker { inner }
    }

    /// A connection of `user` opened: the user is `online` (at once, unless it was within the
    /// interval).
    pub fn connected(&self, user: UserId, connection: ConnectionId) {
        self.inner.change(user, |local| {
            local.connections.insert(connection, Activity::Active);
            local.gone_at = None;
        });
    }

    /// A connection of `user` reports its activity.
    pub fn report(&self, user: UserId, connection: ConnectionId, activity: Activity) {
        self.inner.change(user, |local| {
            if let Some(current) = local.connections.get_mut(&connection) {
                *current = activity;
            }
        });
    }

    /// A connection of `user` closed: with its last one the grace begins.
    pub fn disconnected(&self, user: UserId, connection: ConnectionId) {
        self.inner.change(user, |local| {
            local.connections.remove(&connection);
            if local.connections.is_empty() {
                local.gone_at = Some(now_millis());
            }
        });
    }

    /// The server is stopping and its sessions are gone: no timer of this node will end a
    /// grace, and its shared records would otherwise keep its users as they were until they
    /// lapse. So every user it held is let go now, as at the end of a grace: this node's
    /// records are removed and, where no other node holds the user, its watchers hear that it
    /// went offline and its last sighting is stored. A user who reconnects to another node
    /// shows online there again. At most `concurrency` users at a time.
    pub async fn depart(&self, concurrency: usize) {
        use futures_util::StreamExt;
        self.inner.departing.store(true, Ordering::Relaxed);
        let users: Vec<UserId> = self.inner.locals().keys().copied().collect();
        futures_util::stream::iter(users)
            .for_each_concurrent(concurrency.max(1), |user| self.inner.flush(user))
            .await;
    }

    /// Shows or hides `user`'s presence to others from now on; watchers hear of it at once.
    ///
    /// # Errors
    /// The store's.
    pub async fn set_visible(&self, user: UserId, visible: bool) -> Result<(), Error> {
        self.inner.store.set_presence_visible(user, visible).await?;
        self.inner.change(user, |local| local.forced = true);
        Ok(())
    }

    /// Whether `user` shows its presence to others.
    ///
    /// # Errors
    /// The store's.
    pub async fn is_visible(&self, user: UserId) -> Result<bool, Error> {
        let rows = self.inner.store.presence_settings(&[user]).await?;
        Ok(rows.first().is_none_or(|row| row.visible))
    }

    /// Makes `mailbox`'s connection (of `viewer`) watch `users` instead of whom it watched,
    /// keeping only those it may (users sharing a room with it, and itself), and returns their
    /// state now. Watching starts before the state is read, so a change in between arrives
    /// after this answer, never lost.
    ///
    /// # Errors
    /// [`Error::TooLarge`] for more than [`MAX_WATCHED`] users; the store's.
    pub async fn watch(
        &self,
        viewer: UserId,
        mailbox: &Arc<Mailbox>,
        users: &[UserId],
    ) -> Result<Vec<UserPresence>, Error> {
        if users.len() > MAX_WATCHED {
            return Err(Error::TooLarge(format!(
                "at most {MAX_WATCHED} users may be watched per connection"
            )));
        }
        // In the order asked, each once (a set: a list may hold a thousand users).
        let mut allowed: HashSet<UserId> = self
            .inner
            .store
            .sharing_a_room(viewer, users)
            .await?
            .into_iter()
            .chain(std::iter::once(viewer))
            .collect();
        let ordered: Vec<UserId> = users
            .iter()
            .copied()
            .filter(|user| allowed.remove(user))
            .collect();
        self.inner.hub.watch_users(mailbox, &ordered);
        self.inner.snapshot(&ordered).await
    }

    /// Checks `viewer`'s connection's watch list against the store again, after a room event
    /// (a room left by the viewer or by a room mate): whoever the viewer no longer shares a
    /// room with is watched no more: presence is for current room mates only.
    ///
    /// # Errors
    /// The store failing (the list is left as it was).
    pub async fn recheck(&self, viewer: UserId, mailbox: &Arc<Mailbox>) -> Result<(), Error> {
        let watched = mailbox.watched();
        if watched.is_empty() {
            return Ok(());
        }
        let sharing: HashSet<UserId> = self
            .inner
            .store
            .sharing_a_room(viewer, &watched)
            .await?
            .into_iter()
            .collect();
        let gone: Vec<UserId> = watched
            .into_iter()
            .filter(|user| *user != viewer && !sharing.contains(user))
            .collect();
        if !gone.is_empty() {
            tracing::debug!(user = %viewer, unwatched = gone.len(), "presence watch narrowed");
            self.inner.hub.unwatch_users(mailbox, &gone);
        }
        Ok(())
    }
}

impl Inner {
    fn locals(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, Local>> {
        // Every critical section is a small update of one entry: a poisoned lock is consistent.
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies `change` to `user`'s entry and makes sure a flush of the user is on its way.
    fn change(self: &Arc<Self>, user: UserId, change: impl FnOnce(&mut Local)) {
        let mut locals = self.locals();
        let local = locals.entry(user).or_default();
        change(local);
        if !local.pending {
            local.pending = true;
            let _ = self.due.send(user);
        }
    }

    /// When `user` may next be published: after the grace while it has no connection here,
    /// and no sooner than the interval after the last publication (at once while departing).
    fn not_before(&self, local: &Local) -> Option<Instant> {
        if self.departing.load(Ordering::Relaxed) {
            return None;
        }
        let now = Instant::now();
        let mut at = local
            .published_at
            .map(|at| at + self.timings.interval)
            .filter(|at| *at > now);
        if let (true, Some(gone_at)) = (local.connections.is_empty(), local.gone_at) {
            let left = (gone_at + millis(self.timings.grace)).saturating_sub(now_millis());
            if left > 0 {
                let grace_end = now + Duration::from_millis(left.unsigned_abs());
                at = Some(at.map_or(grace_end, |at| at.max(grace_end)));
            }
        }
        at
    }

    /// Looks at `user` again: publishes its state if it changed since this node last did, or
    /// comes back later when it is within its grace or interval.
    async fn flush(self: &Arc<Self>, user: UserId) {
        let (here, gone_at, forced) = {
            let mut locals = self.locals();
            let Some(local) = locals.get_mut(&user) else {
                return;
            };
            if let Some(at) = self.not_before(local) {
                let due = self.due.clone();
                tokio::spawn(async move {
                    tokio::time::sleep_until(at).await;
                    let _ = due.send(user);
                });
                return;
            }
            local.pending = false;
            (
                local.best(),
                local.gone_at,
                std::mem::take(&mut local.forced),
            )
        };
        let (before, best) = match self.broker.report_presence(user, here).await {
            Ok(states) => states,
            Err(err) => {
                tracing::warn!(error = %err, user = %user, "presence: the shared record failed; this node's view is used");
                (None, here)
            }
        };
        if before == best && !forced {
            // Nothing others see changed (another node's connection holds the same state,
            // or a flip and a flip back within the interval).
            self.finish(user, false);
            return;
        }
        let settings = match self.store.presence_settings(&[user]).await {
            Ok(rows) => rows.into_iter().next(),
            Err(err) => {
                tracing::warn!(error = %err, user = %user, "presence: cannot read the user's setting; not published now");
                None
            }
        };
        let Some(mut settings) = settings else {
            self.finish(user, false);
            return;
        };
        if best.is_none() && here.is_none() {
            if let Some(at) = gone_at {
                if let Err(err) = self.store.set_last_seen(user, at).await {
                    tracing::warn!(error = %err, user = %user, "presence: cannot store the last sighting");
                }
                settings.last_seen_at = Some(at);
            }
        }
        let presence = shown(&settings, best);
        if !settings.visible && !forced {
            // Hidden: others saw `offline` and still do.
            self.finish(user, false);
            return;
        }
        self.metrics.presence_published.inc();
        if let Err(err) = self.broker.publish(Publication::Presence(presence)).await {
            tracing::warn!(error = %err, user = %user, "presence: the change did not reach every node");
        }
        self.finish(user, true);
    }

    /// Records whether it published, and forgets users with nothing left here.
    fn finish(&self, user: UserId, published: bool) {
        let mut locals = self.locals();
        let Some(local) = locals.get_mut(&user) else {
            return;
        };
        if published {
            local.published_at = Some(Instant::now());
        }
        if local.connections.is_empty() && !local.pending {
            locals.remove(&user);
        }
    }

    /// The state of `users` now, as others see them.
    async fn snapshot(&self, users: &[UserId]) -> Result<Vec<UserPresence>, Error> {
        if users.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self.store.presence_settings(users).await?;
        let bests = match self.broker.presence_of(users).await {
            Ok(bests) => bests,
            Err(err) => {
                tracing::warn!(error = %err, "presence: the shared records failed; this node's view is used");
                let locals = self.locals();
                users
                    .iter()
                    .map(|user| locals.get(user).and_then(Local::best))
                    .collect()
            }
        };
        let rows: HashMap<UserId, PresenceRow> = rows.into_iter().map(|r| (r.user, r)).collect();
        Ok(users
            .iter()
            .zip(bests)
            .filter_map(|(user, best)| rows.get(user).map(|row| shown(row, best)))
            .collect())
    }

    /// Keeps this node's shared records alive and tells the watchers of users whose records
    /// lapsed (their node died) that they are offline.
    async fn refresh(&self) {
        let here: Vec<(UserId, Activity)> = self
            .locals()
            .iter()
            .filter_map(|(user, local)| local.best().map(|best| (*user, best)))
            .collect();
        if let Err(err) = self.broker.refresh_presence(&here).await {
            tracing::warn!(error = %err, "presence: cannot refresh this node's records");
        }
        let lapsed = match self.broker.lapsed_presence().await {
            Ok(lapsed) => lapsed,
            Err(err) => {
                tracing::warn!(error = %err, "presence: cannot look for lapsed records");
                return;
            }
        };
        if lapsed.is_empty() {
            return;
        }
        let now = now_millis();
        let rows = self
            .store
            .presence_settings(&lapsed)
            .await
            .unwrap_or_default();
        for mut row in rows {
            if let Err(err) = self.store.set_last_seen(row.user, now).await {
                tracing::warn!(error = %err, user = %row.user, "presence: cannot store the last sighting");
            }
            row.last_seen_at = Some(now);
            self.metrics.presence_published.inc();
            let _ = self
                .broker
                .publish(Publication::Presence(shown(&row, None)))
                .await;
        }
    }
}

/// `user`'s presence as others see it: hidden users are offline with no last sighting.
fn shown(row: &PresenceRow, best: Option<Activity>) -> UserPresence {
    match (row.visible, best) {
        (false, _) => UserPresence {
            user_id: row.user,
            state: PresenceState::Offline,
            last_seen_at: None,
        },
        (true, Some(best)) => UserPresence {
            user_id: row.user,
            state: best.state(),
            last_seen_at: None,
        },
        (true, None) => UserPresence {
            user_id: row.user,
            state: PresenceState::Offline,
            last_seen_at: row.last_seen_at.map(rfc3339_millis),
        },
    }
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The tracker's task: flushes users as they fall due, one at a time, and refreshes the
/// shared records on a timer.
async fn run(inner: Arc<Inner>, mut due: mpsc::UnboundedReceiver<UserId>, stop: CancellationToken) {
    let mut refresh = tokio::time::interval(inner.timings.refresh);
    refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            user = due.recv() => {
                let Some(user) = user else { break };
                inner.flush(user).await;
            }
            _ = refresh.tick() => inner.refresh().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(visible: bool, last_seen_at: Option<i64>) -> PresenceRow {
        PresenceRow {
            user: UserId(7),
            visible,
            last_seen_at,
        }
    }

    #[test]
    fn hidden_users_show_offline_without_a_last_sighting() {
        let hidden = shown(&row(false, Some(1000)), Some(Activity::Active));
        assert_eq!(hidden.state, PresenceState::Offline);
        assert_eq!(hidden.last_seen_at, None);
        let away = shown(&row(true, Some(1000)), Some(Activity::Away));
        assert_eq!((away.state, away.last_seen_at), (PresenceState::Away, None));
        let gone = shown(&row(true, Some(0)), None);
        assert_eq!(gone.state, PresenceState::Offline);
        assert_eq!(
            gone.last_seen_at.as_deref(),
            Some("1970-01-01T00:00:00.000Z")
        );
    }

    #[test]
    fn the_best_connection_wins() {
        let mut local = Local::default();
        assert_eq!(local.best(), None);
        local.connections.insert(ConnectionId(1), Activity::Away);
        assert_eq!(local.best(), Some(Activity::Away));
        local.connections.insert(ConnectionId(2), Activity::Active);
        assert_eq!(local.best(), Some(Activity::Active));
    }
}
