//! The SDK against a real sotong server (in process, loopback, temporary data dir): sends and
//! receipts, shared subscriptions, notifications, refusals, reconnect across a server restart,
//! token refresh, and the HTTP helpers. Every wait is on an event; timeouts only guard hangs.

mod common;

use common::*;
use futures_util::StreamExt;
use sotong_client::{
    BoxError, Client, Error, HistoryQuery, Notification, RoomEvent, RoomKind, Seq, State,
};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const SUBSCRIPTIONS: &str = "sotong_subscriptions";

#[tokio::test]
async fn send_resolves_with_the_stored_seq() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let client = server.client(&alice).await;
    assert_eq!(*client.state().borrow(), State::Connected);

    let first = within(client.send(room, "one")).await.expect("sent");
    let second = within(client.room(room).send("two")).await.expect("sent");
    assert_eq!((first.seq, second.seq), (Seq(1), Seq(2)));
    assert_ne!(first.message_id, second.message_id);
    assert_ne!(first.client_msg_id, second.client_msg_id);

    let history = within(client.room(room).history(HistoryQuery::default()))
        .await
        .expect("history");
    let stored: Vec<_> = history
        .iter()
        .map(|m| (m.seq, m.id, m.text.as_str(), m.client_msg_id.clone()))
        .collect();
    assert_eq!(
        stored,
        [
            (Seq(1), first.message_id, "one", Some(first.client_msg_id)),
            (Seq(2), second.message_id, "two", Some(second.client_msg_id)),
        ]
    );
}

#[tokio::test]
async fn a_pending_send_tells_its_client_msg_id_before_the_receipt() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let client = server.client(&alice).await;
    let mut view = within(client.room(room).subscribe())
        .await
        .expect("subscribe");

    let pending = client.send(room, "hello");
    let key = pending.client_msg_id().to_string();
    assert_eq!(pending.room(), room);
    assert_eq!(key.len(), 32);
    let other = client.room(room).send("again");
    assert_ne!(other.client_msg_id(), key, "each send has its own id");
    let other_key = other.client_msg_id().to_string();
    let (sent, other_sent) = within(async { tokio::join!(pending, other) }).await;
    let (sent, other_sent) = (sent.expect("sent"), other_sent.expect("sent"));
    assert_eq!(
        (
            sent.client_msg_id.as_str(),
            other_sent.client_msg_id.as_str()
        ),
        (key.as_str(), other_key.as_str())
    );
    // The stored copies on the room stream carry the same ids: that is how an application
    // matches them to what it showed as pending.
    for (seq, id) in [(sent.seq, &key), (other_sent.seq, &other_key)] {
        let RoomEvent::Message(message) = within(view.next()).await.expect("open").expect("event")
        else {
            panic!("a message")
        };
        assert_eq!(
            (message.seq, message.client_msg_id.as_ref()),
            (seq, Some(id))
        );
    }
}

#[tokio::test]
async fn a_send_with_the_applications_id_is_stored_once() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let client = server.client(&alice).await;

    let first = within(client.send_with_id(room, "draft", "saved-key-1"))
        .await
        .expect("sent");
    // Sent again under the same id (an app restarted with its outbox): the same message.
    let again = within(client.room(room).send_with_id("draft", "saved-key-1"))
        .await
        .expect("sent");
    assert_eq!(first, again);
    assert_eq!(first.client_msg_id, "saved-key-1");
    let history = within(client.room(room).history(HistoryQuery::default()))
        .await
        .expect("history");
    assert_eq!(history.len(), 1, "{history:?}");

    // Ids the server would refuse are refused here, before anything is sent.
    for bad in [String::new(), "k".repeat(129)] {
        let err = within(client.send_with_id(room, "x", bad))
            .await
            .unwrap_err();
        assert_eq!(err.code(), Some("invalid"), "{err:?}");
    }
    let longest = within(client.send_with_id(room, "longest", "k".repeat(128)))
        .await
        .expect("128 bytes is allowed");
    assert_eq!(longest.seq, Seq(2));
}

#[tokio::test]
async fn subscribers_of_one_room_share_one_subscribe() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let client = server.client(&alice).await;
    // The error and notification queues.
    assert_eq!(server.metric(SUBSCRIPTIONS).await, 2);

    let mut a = within(client.room(room).subscribe()).await.expect("a");
    // The server refuses a second SUBSCRIBE to one destination, so this one only works
    // because it shares the first.
    let mut b = within(client.room(room).subscribe()).await.expect("b");
    assert_eq!(server.metric(SUBSCRIPTIONS).await, 3);
    assert_eq!(a.destination(), format!("/topic/rooms/{room}"));

    server.post_message(&bob, room, "hello").await;
    within(client.send(room, "hi")).await.expect("sent");
    for sub in [&mut a, &mut b] {
        assert_eq!(next_message(sub).await, (1, "hello".into()));
        assert_eq!(next_message(sub).await, (2, "hi".into()));
    }

    // Drops are handled before later commands and the server handles frames in order, so
    // once a later send's receipt is in, the server has seen any UNSUBSCRIBE.
    drop(a);
    within(client.send(room, "after a")).await.expect("sent");
    assert_eq!(server.metric(SUBSCRIPTIONS).await, 3, "b still listens");
    // b got each message once: the next one is the next seq.
    assert_eq!(next_message(&mut b).await, (3, "after a".into()));

    drop(b);
    within(client.send(room, "after b")).await.expect("sent");
    assert_eq!(
        server.metric(SUBSCRIPTIONS).await,
        2,
        "the last drop unsubscribes"
    );

    // Subscribing again works (a fresh SUBSCRIBE) and starts after what is stored.
    let mut c = within(client.room(room).subscribe()).await.expect("c");
    server.post_message(&bob, room, "again").await;
    assert_eq!(next_message(&mut c).await, (5, "again".into()));
}

#[tokio::test]
async fn rooms_not_subscribed_arrive_as_notifications() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let viewed = server.direct(&alice, &bob).await;
    let other = server.direct(&alice, &carol).await;
    let client = server.client(&alice).await;
    let mut notes = within(client.notifications()).await.expect("notifications");
    let mut room = within(client.room(viewed).subscribe()).await.expect("room");

    server.post_message(&bob, viewed, "in view").await;
    server.post_message(&carol, other, "elsewhere").await;
    server.post_message(&carol, other, "elsewhere again").await;
    assert_eq!(next_message(&mut room).await, (1, "in view".into()));
    // Bob's message was posted first; had it come here too it would be the first notification.
    for (seq, text) in [(1, "elsewhere"), (2, "elsewhere again")] {
        match within(notes.next()).await.expect("open").expect("event") {
            Notification::Message {
                room_id,
                message,
                unread,
                ..
            } => {
                assert_eq!(
                    (room_id, message.seq, message.text.as_str()),
                    (other, Seq(seq), text)
                );
                assert_eq!(unread, Some(seq));
            }
            event => panic!("unexpected {event:?}"),
        }
    }

    // A new room is announced there too.
    let dave = server.user("dave").await;
    let new_room = server.direct(&dave, &alice).await;
    match within(notes.next()).await.expect("open").expect("event") {
        Notification::Room(room) => {
            assert_eq!((room.id, room.kind), (new_room, RoomKind::Direct));
        }
        event => panic!("unexpected {event:?}"),
    }
}

#[tokio::test]
async fn typing_and_read_marks_reach_the_other_connections() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let alice_phone = server.client(&alice).await;
    let alice_laptop = server.client(&alice).await;
    let bobs = server.client(&bob).await;
    let mut bob_view = within(bobs.room(room).subscribe()).await.expect("bob");
    let mut laptop_notes = within(alice_laptop.notifications()).await.expect("notes");

    within(alice_phone.room(room).typing())
        .await
        .expect("typing");
    match within(bob_view.next()).await.expect("open").expect("event") {
        RoomEvent::Typing { room_id, user } => {
            assert_eq!((room_id, user.username.as_str()), (room, "alice"));
        }
        event => panic!("unexpected {event:?}"),
    }

    let sent = within(bobs.send(room, "read me")).await.expect("sent");
    assert_eq!(next_message(&mut bob_view).await, (1, "read me".into()));
    // The laptop is not viewing the room, so it hears of the message as a notification...
    assert!(matches!(
        within(laptop_notes.next())
            .await
            .expect("open")
            .expect("event"),
        Notification::Message {
            unread: Some(1),
            ..
        }
    ));
    // ...and of the phone's read mark.
    within(alice_phone.room(room).mark_read(sent.seq))
        .await
        .expect("read");
    assert_eq!(
        within(laptop_notes.next())
            .await
            .expect("open")
            .expect("event"),
        Notification::Read {
            room_id: room,
            seq: sent.seq
        }
    );
}

#[tokio::test]
async fn a_refused_send_fails_with_its_code_and_the_connection_goes_on() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let mine = server.direct(&alice, &bob).await;
    let theirs = server.direct(&bob, &carol).await;
    let client = server.client(&alice).await;
    let mut view = within(client.room(mine).subscribe())
        .await
        .expect("subscribe");

    let err = within(client.send(theirs, "let me in")).await.unwrap_err();
    assert_eq!(err.code(), Some("forbidden"), "{err:?}");
    let err = within(client.room(theirs).subscribe()).await.unwrap_err();
    assert_eq!(err.code(), Some("forbidden"), "{err:?}");
    // Too big for a frame: refused locally, since the server would close the connection.
    let err = within(client.send(mine, "x".repeat(70_000)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("too_large"), "{err:?}");
    // Over the server's text limit but within a frame: the server's own refusal.
    let err = within(client.send(mine, "y".repeat(5_000)))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("too_large"), "{err:?}");

    // The connection and its subscription carry on.
    let sent = within(client.send(mine, "still here")).await.expect("sent");
    assert_eq!(sent.seq, Seq(1));
    assert_eq!(next_message(&mut view).await, (1, "still here".into()));
    assert_eq!(*client.state().borrow(), State::Connected);
}

#[tokio::test]
async fn reconnect_restores_subscriptions_and_resends_pending_sends() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let client = within(
        Client::builder(server.ws_url(), alice.token.clone())
            .reconnect_delay(Duration::from_millis(10), Duration::from_millis(200))
            .connect(),
    )
    .await
    .expect("connect");
    let mut view = within(client.room(room).subscribe())
        .await
        .expect("subscribe");
    let mut states = client.state();

    assert_eq!(
        within(client.send(room, "one")).await.expect("sent").seq,
        Seq(1)
    );
    server.post_message(&bob, room, "two").await;
    assert_eq!(next_message(&mut view).await, (1, "one".into()));
    assert_eq!(next_message(&mut view).await, (2, "two".into()));

    // The server goes away.
    let addr = server.addr;
    let dir = server.stop().await;
    within(states.wait_for(|s| *s == State::Reconnecting))
        .await
        .expect("state");

    // A send while it is away waits.
    let pending = tokio::spawn({
        let client = client.clone();
        async move { client.send(room, "three").await }
    });
    // Meanwhile Bob posts, through a server on the same data that the client does not know.
    let side = TestServer::spawn_in(dir).await;
    assert_eq!(side.post_message(&bob, room, "four").await, Seq(3));
    let dir = side.stop().await;
    assert!(!pending.is_finished(), "the send resolved with no server");

    // The server is back on the same address.
    let server = TestServer::spawn_at(addr, dir).await;
    within(states.wait_for(|s| *s == State::Connected))
        .await
        .expect("state");
    let sent = within(pending).await.expect("task").expect("sent");
    // Sent after the restore, so after the message committed while the client was away.
    assert_eq!(sent.seq, Seq(4));

    // The stream goes on with no gap and no duplicate.
    assert_eq!(next_message(&mut view).await, (3, "four".into()));
    assert_eq!(next_message(&mut view).await, (4, "three".into()));
    server.post_message(&bob, room, "five").await;
    assert_eq!(next_message(&mut view).await, (5, "five".into()));

    // One room subscription restored (plus the two queues), and the message stored once.
    assert_eq!(server.metric(SUBSCRIPTIONS).await, 3);
    let history = within(client.room(room).history(HistoryQuery::default()))
        .await
        .expect("history");
    let texts: Vec<&str> = history.iter().map(|m| m.text.as_str()).collect();
    assert_eq!(texts, ["one", "two", "four", "three", "five"]);
    assert_eq!(
        history[3].client_msg_id.as_deref(),
        Some(sent.client_msg_id.as_str())
    );
}

#[tokio::test]
async fn a_send_whose_receipt_was_lost_is_retried_with_the_same_client_msg_id() {
    // Users and a room in a data dir whose server is down for now.
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let dir = server.stop().await;

    // The client's first server takes the SEND and dies before answering.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let fake = tokio::spawn(swallow_one_send(listener));
    let client = within(
        Client::builder(format!("ws://{addr}/ws"), alice.token.clone())
            .reconnect_delay(Duration::from_millis(10), Duration::from_millis(200))
            .connect(),
    )
    .await
    .expect("connect");
    // The id is known before anything is sent, and is the one on the wire.
    let pending = client.send(room, "only once");
    let key = pending.client_msg_id().to_string();
    let pending = tokio::spawn(pending);
    let swallowed = within(fake).await.expect("fake server");
    assert_eq!(swallowed.header("client-msg-id"), Some(key.as_str()));
    wait_state(&client, State::Reconnecting).await;

    // Say the dead server had stored it: the store holds it under that key.
    let side = TestServer::spawn_in(dir).await;
    let (status, stored) = side
        .post(
            &format!("/api/rooms/{room}/messages"),
            Some(&alice.token),
            serde_json::json!({ "text": "only once", "clientMsgId": key }),
        )
        .await;
    assert_eq!(status, 201, "{stored}");
    let dir = side.stop().await;

    // The real server takes the address over; the retry carries the same key, so it gets the
    // stored message's receipt rather than a second copy.
    let server = TestServer::spawn_at(addr, dir).await;
    let sent = within(pending).await.expect("task").expect("sent");
    assert_eq!(
        (sent.seq, sent.client_msg_id.as_str()),
        (Seq(1), key.as_str())
    );
    assert_eq!(sent.message_id.0, stored["id"].as_i64().expect("id"));
    let history = within(client.room(room).history(HistoryQuery::default()))
        .await
        .expect("history");
    assert_eq!(history.len(), 1, "{history:?}");
    drop(server);
}

#[tokio::test]
async fn subscriptions_made_while_reconnecting_start_with_the_connection() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let client = within(
        Client::builder(server.ws_url(), alice.token.clone())
            .reconnect_delay(Duration::from_millis(10), Duration::from_millis(200))
            .connect(),
    )
    .await
    .expect("connect");
    let mut view = within(client.room(room).subscribe())
        .await
        .expect("subscribe");
    let addr = server.addr;
    let dir = server.stop().await;
    let mut states = client.state();
    within(states.wait_for(|s| *s == State::Reconnecting))
        .await
        .expect("state");

    // A second subscriber joins the held room while offline; it resolves once restored.
    let joining = tokio::spawn({
        let client = client.clone();
        async move { client.room(room).subscribe().await }
    });
    let server = TestServer::spawn_at(addr, dir).await;
    let mut joined = within(joining).await.expect("task").expect("joined");
    server.post_message(&bob, room, "welcome back").await;
    assert_eq!(next_message(&mut view).await, (1, "welcome back".into()));
    assert_eq!(next_message(&mut joined).await, (1, "welcome back".into()));
    assert_eq!(server.metric(SUBSCRIPTIONS).await, 3);
}

#[tokio::test]
async fn a_replay_bigger_than_the_buffers_ends_the_subscribers_not_the_connection() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let client = within(
        Client::builder(server.ws_url(), alice.token.clone())
            .subscriber_buffer(2)
            .reconnect_delay(Duration::from_millis(10), Duration::from_millis(200))
            .connect(),
    )
    .await
    .expect("connect");
    let mut view = within(client.room(room).subscribe())
        .await
        .expect("subscribe");
    let addr = server.addr;
    let dir = server.stop().await;
    wait_state(&client, State::Reconnecting).await;
    // A second subscriber joins while offline and waits for the restore.
    let joining = tokio::spawn({
        let client = client.clone();
        async move { client.room(room).subscribe().await }
    });
    let side = TestServer::spawn_in(dir).await;
    for n in 1..=5 {
        side.post_message(&bob, room, &format!("missed {n}")).await;
    }
    let dir = side.stop().await;
    let server = TestServer::spawn_at(addr, dir).await;

    // The five-message replay overflows both buffers of two: each stream yields what it could
    // hold, then Lagged; the waiting subscribe() is answered rather than left hanging.
    let mut joined = within(joining).await.expect("task").expect("joined");
    for stream in [&mut view, &mut joined] {
        let mut items = Vec::new();
        while let Some(item) = within(stream.next()).await {
            items.push(item);
        }
        assert_eq!(items.len(), 3, "{items:?}");
        assert!(matches!(items[2], Err(Error::Lagged { capacity: 2 })));
    }
    // With no subscriber left the room was unsubscribed; the connection itself is fine.
    assert_eq!(
        within(client.send(room, "still up"))
            .await
            .expect("sent")
            .seq,
        Seq(6)
    );
    assert_eq!(server.metric(SUBSCRIPTIONS).await, 2);
}

#[tokio::test]
async fn an_idle_connection_stays_up_on_heart_beats() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    // Ask for the server's heart-beat every second (its minimum); it wants ours every 10 s.
    let client = within(
        Client::builder(server.ws_url(), alice.token.clone())
            .heartbeat(Duration::from_secs(1))
            .connect(),
    )
    .await
    .expect("connect");
    let states = client.state();
    // Time passing is what is under test here, so this sleep is the test, not a wait.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(
        !states.has_changed().expect("open"),
        "the connection dropped while idle: {:?}",
        *states.borrow()
    );
    assert_eq!(
        within(client.send(room, "awake")).await.expect("sent").seq,
        Seq(1)
    );
}

#[tokio::test]
async fn a_silent_server_counts_as_gone() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    // It promises a heart-beat every second, then never sends anything again.
    let silent = tokio::spawn(async move {
        let mut conn = FakeStomp::accept(&listener).await;
        conn.serve("1000,0").await
    });
    let client = within(
        Client::builder(format!("ws://{addr}/ws"), "token")
            .heartbeat(Duration::from_secs(1))
            .connect(),
    )
    .await
    .expect("connect");
    wait_state(&client, State::Reconnecting).await;
    // The client hung up on it.
    assert!(within(silent).await.expect("fake server").is_none());
}

#[tokio::test]
async fn an_expiring_token_is_refreshed_by_the_provider() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let called = Arc::new(tokio::sync::Notify::new());
    let provider = {
        let (calls, called) = (calls.clone(), called.clone());
        move || {
            calls.fetch_add(1, Ordering::SeqCst);
            called.notify_one();
            let token = jwt("alice", 3600);
            async move { Ok::<_, BoxError>(token) }
        }
    };
    // This token expires in about two seconds; the server then closes with token_expired.
    let client = within(
        Client::builder(server.ws_url(), jwt("alice", 2))
            .token_provider(provider)
            .reconnect_delay(Duration::from_millis(10), Duration::from_millis(200))
            .connect(),
    )
    .await
    .expect("connect");
    let mut view = within(client.room(room).subscribe())
        .await
        .expect("subscribe");
    server.post_message(&bob, room, "before").await;
    assert_eq!(next_message(&mut view).await, (1, "before".into()));

    within(called.notified()).await;
    wait_state(&client, State::Connected).await;
    server.post_message(&bob, room, "after").await;
    assert_eq!(next_message(&mut view).await, (2, "after".into()));
    assert_eq!(
        within(client.send(room, "still me"))
            .await
            .expect("sent")
            .seq,
        Seq(3)
    );
    assert_eq!(next_message(&mut view).await, (3, "still me".into()));
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_token_that_cannot_be_renewed_ends_the_client_with_auth() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;

    let err = within(Client::connect(server.ws_url(), "not-a-token"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err:?}");

    let err = within(
        Client::builder(server.ws_url(), "not-a-token")
            .token_provider(|| async { Err::<String, BoxError>("no refresh token".into()) })
            .connect(),
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, Error::Auth(why) if why.contains("no refresh token")),
        "{err:?}"
    );

    // Expiring mid-session without a provider: every stream and request learns why.
    let client = server
        .client(&TestUser {
            token: jwt("alice", 2),
            ..alice.clone()
        })
        .await;
    let mut view = within(client.room(room).subscribe())
        .await
        .expect("subscribe");
    let end = within(view.next()).await.expect("an item");
    assert!(matches!(end, Err(Error::Auth(_))), "{end:?}");
    assert!(view.next().await.is_none());
    wait_state(&client, State::Closed).await;
    let err = client.send(room, "too late").await.unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err:?}");
}

#[tokio::test]
async fn a_subscriber_that_does_not_read_is_dropped_not_waited_for() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let client = within(
        Client::builder(server.ws_url(), alice.token.clone())
            .subscriber_buffer(3)
            .connect(),
    )
    .await
    .expect("connect");
    let mut idle = within(client.room(room).subscribe()).await.expect("idle");
    let mut reader = within(client.room(room).subscribe()).await.expect("reader");
    for n in 1..=6u64 {
        within(client.send(room, format!("m{n}")))
            .await
            .expect("sent");
        assert_eq!(next_message(&mut reader).await, (n, format!("m{n}")));
    }
    let mut got = Vec::new();
    while let Some(item) = within(idle.next()).await {
        got.push(item);
    }
    assert_eq!(got.len(), 4, "{got:?}");
    assert!(got[..3].iter().all(|item| item.is_ok()));
    assert!(matches!(got[3], Err(Error::Lagged { capacity: 3 })));
    // The reader keeps the shared subscription.
    assert_eq!(server.metric(SUBSCRIPTIONS).await, 3);
}

#[tokio::test]
async fn close_ends_every_stream_and_request() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let client = server.client(&alice).await;
    let mut view = within(client.room(room).subscribe())
        .await
        .expect("subscribe");
    let mut notes = within(client.notifications()).await.expect("notes");

    within(client.close()).await;
    assert_eq!(*client.state().borrow(), State::Closed);
    assert!(matches!(view.next().await, Some(Err(Error::Closed))));
    assert!(view.next().await.is_none());
    assert!(matches!(notes.next().await, Some(Err(Error::Closed))));
    assert!(matches!(client.send(room, "x").await, Err(Error::Closed)));
    assert!(matches!(
        client.room(room).subscribe().await,
        Err(Error::Closed)
    ));
    within(client.close()).await;
}

#[tokio::test]
async fn http_helpers_cover_login_rooms_and_history() {
    let server = TestServer::spawn().await;
    let (status, body) = server
        .post(
            "/api/register",
            None,
            serde_json::json!({ "username": "erin", "password": "correct horse" }),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    server.user("frank").await;

    let err = Client::login(&server.url(""), "erin", "wrong password")
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Auth(_)), "{err:?}");
    // What the terminal client prints when a login fails.
    assert_eq!(
        err.to_string(),
        "not authorised: invalid_credentials: wrong username or password"
    );
    let login = within(Client::login(&server.url(""), "erin", "correct horse"))
        .await
        .expect("login");
    assert_eq!(login.user.username, "erin");

    let client = within(Client::connect(server.ws_url(), login.token))
        .await
        .expect("connect");
    assert_eq!(within(client.me()).await.expect("me").username, "erin");
    let direct = within(client.direct_room("frank")).await.expect("direct");
    assert_eq!(direct.kind, RoomKind::Direct);
    let group = within(client.create_group("team", &["frank"]))
        .await
        .expect("group");
    assert_eq!((group.kind, group.members.len()), (RoomKind::Group, 2));
    for n in 1..=3 {
        within(client.send(direct.id, format!("d{n}")))
            .await
            .expect("sent");
    }
    let rooms = within(client.rooms()).await.expect("rooms");
    assert_eq!(rooms.len(), 2);
    let page = within(client.room(direct.id).history(HistoryQuery {
        after: Some(Seq(1)),
        limit: Some(1),
        ..HistoryQuery::default()
    }))
    .await
    .expect("history");
    assert_eq!(page.len(), 1);
    assert_eq!((page[0].seq, page[0].text.as_str()), (Seq(2), "d2"));
    let info = within(client.room(direct.id).info()).await.expect("info");
    assert_eq!(info.last_message.map(|m| m.seq), Some(Seq(3)));
    let err = within(client.direct_room("nobody-here")).await.unwrap_err();
    assert_eq!(err.code(), Some("not_found"), "{err:?}");
}
