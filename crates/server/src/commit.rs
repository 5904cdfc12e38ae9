//! The commit pipeline: every message posted on this node goes through one task, which
//! batches posts, has the store commit each batch in one call, publishes the stored messages
//! in commit order and only then answers each poster.
//!
//! It owns:
//! - **batching within the commit window.** The task takes every message waiting. While one
//!   batch is being committed the next one gathers by itself, so a lone message is committed
//!   at once and a busy server commits hundreds per fsync. On top of that, while messages keep
//!   coming, a batch is given a short window (`commit_window_ms`, 5 ms by default) to gather
//!   more before it is committed: at a steady thousand messages a second that turns a thousand
//!   fsyncs into under two hundred, and a lone message after a quiet spell is still committed
//!   at once. A batch that reaches [`ENOUGH_TO_COMMIT`] messages stops waiting.
//! - **one store call per batch**: [`Store::insert_messages`], one transaction and one fsync.
//! - **publishing in commit order.** Publishing from this one task means that on this node,
//!   publications of one room leave in `seq` order. Sessions still check `seq` and fill gaps
//!   from the store (publications from other nodes may interleave), but on one node they never
//!   have to.
//! - **answering each poster after its commit** (and after its publication), so a sender
//!   never hears "stored" for a message a crash could still lose.
//!
//! Edits, deletes and reactions ([`CommitPipeline::change`]) take the same path: they queue with the
//! messages, in order, and each is committed in a transaction of its own
//! ([`Store::change_message`]) between the batches of messages around it, then published and
//! answered the same way. So on this node a message's publication always goes out before the
//! publication of its edit, and a poster hears "changed" only after the commit.
//!
//! It never reaches STOMP, sessions or the room rules: it knows the store, the broker and the
//! metrics, and the rules ([`Chat`](crate::rooms::Chat)) are checked before a message gets
//! here.

use crate::broker::{Broker, Publication};
use crate::metrics::Metrics;
use crate::model::{ChangeKind, UserId};
use crate::push::Push;
use crate::store::{Change, Changed, Inserted, MessageChange, NewMessage, Store, StoreError};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Most messages committed in one transaction.
const MAX_BATCH: usize = 512;

/// A batch this big stops waiting for the commit window: the commit's fixed cost (an fsync,
/// a few thread wake-ups) is already shared by enough messages, and waiting longer would only
/// add latency. So the window batches a moderately busy server; a very busy one fills this
/// many in less than the window and commits sooner.
const ENOUGH_TO_COMMIT: usize = 32;

/// A write waiting for the group commit, and where its poster waits for the outcome.
enum Post {
    /// A new message.
    Message {
        message: NewMessage,
        reply: oneshot::Sender<Result<Inserted, StoreError>>,
    },
    /// An edit or delete of a stored message.
    Change {
        change: MessageChange,
        reply: oneshot::Sender<Result<Changed, StoreError>>,
    },
}

/// The handle posters use; cloning it shares the one task, which ends when the last handle
/// is dropped.
#[derive(Clone)]
pub(crate) struct CommitPipeline {
    posts: mpsc::Sender<Post>,
}

impl CommitPipeline {
    /// Starts the pipeline's task. Must be called inside a Tokio runtime.
    pub(crate) fn start(
        store: Arc<dyn Store>,
        broker: Arc<dyn Broker>,
        metrics: Arc<Metrics>,
        window: Duration,
        push: Option<Push>,
    ) -> Self {
        let (posts, queue) = mpsc::channel(4 * MAX_BATCH);
        tokio::spawn(post_in_commit_order(
            GroupCommit {
                store,
                broker,
                metrics,
                window,
                push,
            },
            queue,
        ));
        CommitPipeline { posts }
    }

    /// Commits `message` with whatever else is waiting, publishes it if it is new, and answers
    /// once both are done.
    ///
    /// # Errors
    /// What the store answered for this message ([`StoreError::NotMember`]), the failure of
    /// its whole batch, or [`StoreError::Backend`] when the server is stopping.
    pub(crate) async fn commit(&self, message: NewMessage) -> Result<Inserted, StoreError> {
        let stopped = || StoreError::Backend("the server is stopping".into());
        let (reply, outcome) = oneshot::channel();
        self.posts
            .send(Post::Message { message, reply })
            .await
            .map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }

    /// Commits an edit or delete in its turn, publishes it if it changed anything, and answers
    /// once both are done.
    ///
    /// # Errors
    /// What the store refused it with, or [`StoreError::Backend`].
    pub(crate) async fn change(&self, change: MessageChange) -> Result<Changed, StoreError> {
        let stopped = || StoreError::Backend("the server is stopping".into());
        let (reply, outcome) = oneshot::channel();
        self.posts
            .send(Post::Change { change, reply })
            .await
            .map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

/// Hands a publication of committed state to the broker. The state change is committed
/// already; a broker failure only delays live delivery (clients recover through since-seq,
/// sessions through gap filling), so it is logged, not returned.
pub(crate) async fn publish_committed(broker: &dyn Broker, publication: Publication) {
    if let Err(err) = broker.publish(publication).await {
        tracing::warn!(error = %err, "publish failed; clients will catch up from the store");
    }
}

/// What the group-commit task works with.
struct GroupCommit {
    store: Arc<dyn Store>,
    broker: Arc<dyn Broker>,
    metrics: Arc<Metrics>,
    /// See `Config::commit_window_ms`.
    window: Duration,
    /// Web Push, when on: told of each new message after its publication.
    push: Option<Push>,
}

/// The group commit (see the module doc): batch, commit, publish in commit order, answer.
/// Ends when every [`CommitPipeline`] handle is gone.
async fn post_in_commit_order(commit: GroupCommit, mut queue: mpsc::Receiver<Post>) {
    let mut posts = Vec::with_capacity(MAX_BATCH);
    // When the previous commit ended: messages arriving soon after it mean a busy server.
    let mut last_commit: Option<Instant> = None;
    while queue.recv_many(&mut posts, MAX_BATCH).await > 0 {
        let busy = last_commit.is_some_and(|at| at.elapsed() < commit.window);
        if busy {
            let deadline = Instant::now() + commit.window;
            while posts.len() < ENOUGH_TO_COMMIT {
                let room = MAX_BATCH - posts.len();
                match tokio::time::timeout_at(deadline, queue.recv_many(&mut posts, room)).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
        // Consecutive messages are one batch; a change is a transaction of its own, in its
        // place between them.
        let mut waiting = posts.drain(..).peekable();
        while let Some(post) = waiting.next() {
            match post {
                Post::Message { message, reply } => {
                    let mut batch = vec![(message, reply)];
                    while let Some(Post::Message { .. }) = waiting.peek() {
                        if let Some(Post::Message { message, reply }) = waiting.next() {
                            batch.push((message, reply));
                        }
                    }
                    commit.store_messages(batch).await;
                }
                Post::Change { change, reply } => commit.store_change(change, reply).await,
            }
        }
        last_commit = Some(Instant::now());
    }
}

impl GroupCommit {
    /// Commits one batch of messages, publishes the new ones in commit order, and answers each
    /// poster.
    async fn store_messages(
        &self,
        batch: Vec<(NewMessage, oneshot::Sender<Result<Inserted, StoreError>>)>,
    ) {
        let (messages, replies): (Vec<_>, Vec<_>) = batch.into_iter().unzip();
        let stored = self.store.insert_messages(messages).await;
        match stored {
            Ok(results) => {
                for (mut result, reply) in results.into_iter().zip(replies) {
                    if let Ok(inserted) = &mut result {
                        if inserted.created {
                            self.metrics.messages_stored.inc();
                            let muted = std::mem::take(&mut inserted.muted);
                            let recipients = std::mem::take(&mut inserted.recipients);
                            // Handed to the push task's queue (it never waits), before the
                            // publication takes the member lists without a copy.
                            if let Some(push) = &self.push {
                                let members: Vec<UserId> =
                                    recipients.iter().map(|(user, _)| *user).collect();
                                push.committed(&inserted.message, &members, &muted);
                            }
                            let publication = Publication::Message {
                                message: inserted.message.clone(),
                                recipients,
                                muted,
                            };
                            publish_committed(self.broker.as_ref(), publication).await;
                        }
                    }
                    // A sender that went away (its connection closed) no longer needs the
                    // answer; the message is stored and published all the same.
                    let _ = reply.send(result);
                }
            }
            Err(err) => {
                // Logged here, once per batch, for both backends; each poster's request is
                // then refused with `unavailable`.
                tracing::error!(
                    error = %err,
                    messages = replies.len(),
                    "group commit failed; its posters are refused"
                );
                let reason = err.to_string();
                for reply in replies {
                    let _ = reply.send(Err(StoreError::Backend(reason.clone().into())));
                }
            }
        }
    }

    /// Commits one edit or delete, publishes it when it changed the message, and answers.
    async fn store_change(
        &self,
        change: MessageChange,
        reply: oneshot::Sender<Result<Changed, StoreError>>,
    ) {
        let kind = match change.change {
            Change::Edit(_) => ChangeKind::Edited,
            Change::Delete => ChangeKind::Deleted,
            Change::React { .. } => ChangeKind::Reacted,
        };
        let mut result = self.store.change_message(change).await;
        match &mut result {
            Ok(changed) if changed.changed => {
                let publication = Publication::Changed {
                    change: kind,
                    message: changed.message.clone(),
                    recipients: std::mem::take(&mut changed.recipients),
                };
                publish_committed(self.broker.as_ref(), publication).await;
            }
            Ok(_) => {}
            Err(StoreError::Backend(err)) => {
                tracing::error!(error = %err, "a message change failed; its poster is refused");
            }
            Err(_) => {}
        }
        let _ = reply.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::BrokerError;
    use crate::model::{Seq, User};
    use crate::store::sqlite::SqliteStore;
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// Remembers the seqs of the messages published, in publication order.
    #[derive(Default)]
    struct RecordingBroker {
        published: Mutex<Vec<Seq>>,
        /// (seq, rev) of each change published, in publication order.
        changes: Mutex<Vec<(Seq, u64)>>,
    }

    #[async_trait]
    impl Broker for RecordingBroker {
        async fn publish(&self, publication: Publication) -> Result<(), BrokerError> {
            match publication {
                Publication::Message { message, .. } => {
                    self.published.lock().expect("lock").push(message.seq);
                }
                Publication::Changed { message, .. } => {
                    self.changes
                        .lock()
                        .expect("lock")
                        .push((message.seq, message.rev));
                }
                _ => {}
            }
            Ok(())
        }

        async fn report_presence(
            &self,
            _user: crate::model::UserId,
            here: Option<crate::model::Activity>,
        ) -> Result<
            (
                Option<crate::model::Activity>,
                Option<crate::model::Activity>,
            ),
            BrokerError,
        > {
            Ok((None, here))
        }

        async fn presence_of(
            &self,
            users: &[crate::model::UserId],
        ) -> Result<Vec<Option<crate::model::Activity>>, BrokerError> {
            Ok(vec![None; users.len()])
        }

        async fn showing(
            &self,
            _room: crate::model::RoomId,
            _users: &[crate::model::UserId],
        ) -> Vec<crate::model::UserId> {
            Vec::new()
        }
    }

    fn post(room: crate::model::RoomId, sender: &User, text: &str) -> NewMessage {
        NewMessage {
            room_id: room,
            sender: sender.clone(),
            text: text.to_string(),
            client_msg_id: None,
            reply_to: None,
            mentions: Vec::new(),
            attachments: Vec::new(),
        }
    }

    #[tokio::test]
    async fn posts_are_committed_published_in_seq_order_and_answered_after_publication() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Arc::new(SqliteStore::open(dir.path()).await.expect("store"));
        let a = store.upsert_user("a", None).await.expect("a");
        let b = store.upsert_user("b", None).await.expect("b");
        let outsider = store.upsert_user("c", None).await.expect("c");
        let (room, _) = store.direct_room(a.id, b.id).await.expect("room");
        let broker = Arc::new(RecordingBroker::default());
        let pipeline = CommitPipeline::start(
            store.clone(),
            broker.clone(),
            Arc::new(Metrics::new()),
            Duration::from_millis(5),
            None,
        );

        let posts: Vec<_> = (0..50)
            .map(|i| {
                let pipeline = pipeline.clone();
                let broker = broker.clone();
                let sender = if i % 2 == 0 { a.clone() } else { b.clone() };
                tokio::spawn(async move {
                    let inserted = pipeline
                        .commit(post(room, &sender, &format!("m{i}")))
                        .await
                        .expect("stored");
                    let seq = inserted.message.seq;
                    let published = broker.published.lock().expect("lock").contains(&seq);
                    (seq, published)
                })
            })
            .collect();
        let mut seqs = Vec::new();
        for post in posts {
            let (seq, published_before_answer) = post.await.expect("task");
            assert!(
                published_before_answer,
                "seq {seq} answered before publication"
            );
            seqs.push(seq);
        }
        seqs.sort_unstable();
        assert_eq!(seqs, (1..=50).map(Seq).collect::<Vec<Seq>>());
        let published = broker.published.lock().expect("lock").clone();
        assert_eq!(
            published,
            (1..=50).map(Seq).collect::<Vec<Seq>>(),
            "commit order"
        );

        let refused = pipeline.commit(post(room, &outsider, "no")).await;
        assert!(matches!(refused, Err(StoreError::NotMember)), "{refused:?}");
        assert_eq!(broker.published.lock().expect("lock").len(), 50);
        store.close().await;
    }

    #[tokio::test]
    async fn changes_are_committed_in_turn_published_only_when_they_change_and_answered_after() {
        let dir = tempfile::tempdir().expect("dir");
        let store = Arc::new(SqliteStore::open(dir.path()).await.expect("store"));
        let a = store.upsert_user("a", None).await.expect("a");
        let b = store.upsert_user("b", None).await.expect("b");
        let (room, _) = store.direct_room(a.id, b.id).await.expect("room");
        let broker = Arc::new(RecordingBroker::default());
        let pipeline = CommitPipeline::start(
            store.clone(),
            broker.clone(),
            Arc::new(Metrics::new()),
            Duration::from_millis(5),
            None,
        );
        let edit = |seq: u64, text: &str| MessageChange {
            room_id: room,
            seq: Seq(seq),
            actor: a.id,
            change: Change::Edit(text.to_string()),
            edit_window_millis: None,
            mentions: Vec::new(),
        };
        // A message and its edit queued together: the edit is committed after the message.
        let (posted, edited) = tokio::join!(
            pipeline.commit(post(room, &a, "helo")),
            pipeline.change(edit(1, "hello"))
        );
        assert_eq!(posted.expect("posted").message.seq, Seq(1));
        let edited = edited.expect("edited");
        assert_eq!(
            (edited.message.rev, edited.message.text.as_str()),
            (1, "hello")
        );
        assert_eq!(
            broker.changes.lock().expect("lock").clone(),
            vec![(Seq(1), 1)],
            "published before the answer"
        );

        let same = pipeline.change(edit(1, "hello")).await.expect("same text");
        assert!(!same.changed);
        let refused = pipeline
            .change(MessageChange {
                actor: b.id,
                ..edit(1, "not mine")
            })
            .await;
        assert!(matches!(refused, Err(StoreError::NotAuthor)), "{refused:?}");
        assert_eq!(
            broker.changes.lock().expect("lock").len(),
            1,
            "nothing published for no change or a refusal"
        );
        store.close().await;
    }
}
