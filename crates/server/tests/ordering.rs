//! The session's seq filter, driven through an in-memory transport so that publications can be
//! delivered in any order a race between publishers (or nodes) could produce.

use sotong_server::broker::Publication;
use sotong_server::model::{Message, RoomId, User};
use sotong_server::store::NewMessage;
use sotong_server::transport::{pair, StompPeer};
use sotong_server::{App, Config};
use sotong_stomp::{Command, Frame};
use sotong_testkit::{jwt, JWT_SECRET};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The client's end, with the hang guard of every suite.
struct Peer(StompPeer);

impl Peer {
    async fn send(&mut self, frame: Frame) {
        self.0.send(&[frame]).await.expect("send");
    }

    async fn next(&mut self) -> Frame {
        tokio::time::timeout(Duration::from_secs(10), self.0.next())
            .await
            .expect("a frame in time")
            .expect("session alive")
    }
}

async fn store_message(app: &App, room: RoomId, sender: &User, text: &str) -> Message {
    app.chat()
        .store()
        .insert_message(NewMessage {
            room_id: room,
            sender: sender.clone(),
            text: text.to_string(),
            client_msg_id: None,
            reply_to: None,
            mentions: Vec::new(),
            attachments: Vec::new(),
        })
        .await
        .expect("stored")
        .message
}

fn publish(app: &App, message: &Message, to: &User) {
    // Straight into this node's hub, in whatever order the test chooses.
    app.hub().deliver(&Publication::Message {
        message: message.clone(),
        recipients: vec![(to.id, 1)],
        muted: Vec::new(),
    });
}

fn seq_and_destination(frame: &Frame) -> (u64, String) {
    let body: serde_json::Value = serde_json::from_slice(&frame.body).expect("json");
    (
        body["message"]["seq"].as_u64().expect("seq"),
        frame.header("destination").unwrap_or("").to_string(),
    )
}

#[tokio::test]
async fn late_and_out_of_order_publications_keep_seq_order_and_one_route() {
    let dir = tempfile::tempdir().expect("dir");
    let config = Config {
        data_dir: dir.path().into(),
        jwt_secret: Some(JWT_SECRET.into()),
        ..Config::default()
    };
    let app: Arc<App> = App::open(config, CancellationToken::new())
        .await
        .expect("app");
    let alice = app
        .chat()
        .store()
        .upsert_user("alice", None)
        .await
        .expect("alice");
    let bob = app
        .chat()
        .store()
        .upsert_user("bob", None)
        .await
        .expect("bob");
    let (room, _) = app
        .chat()
        .store()
        .direct_room(alice.id, bob.id)
        .await
        .expect("room");
    let mut early = Vec::new();
    for i in 1..=3 {
        early.push(store_message(&app, room, &bob, &format!("early {i}")).await);
    }

    let (transport, peer) = pair(64);
    let session = tokio::spawn(sotong_server::session::run(
        transport,
        app.clone(),
        "127.0.0.1:9".parse().expect("addr"),
    ));
    let mut peer = Peer(StompPeer::new(peer));
    peer.send(
        Frame::new(Command::Connect)
            .with_header("accept-version", "1.2")
            .with_header("Authorization", format!("Bearer {}", jwt("alice", 600))),
    )
    .await;
    assert_eq!(peer.next().await.command, Command::Connected);
    peer.send(
        Frame::new(Command::Subscribe)
            .with_header("id", "n")
            .with_header("destination", "/user/queue/notifications")
            .with_header("receipt", "1"),
    )
    .await;
    assert_eq!(peer.next().await.command, Command::Receipt);
    let topic = format!("/topic/rooms/{room}");
    peer.send(
        Frame::new(Command::Subscribe)
            .with_header("id", "t")
            .with_header("destination", topic.as_str())
            .with_header("receipt", "2"),
    )
    .await;
    assert_eq!(peer.next().await.command, Command::Receipt);

    // Seq 3 was committed before the subscription but its publication arrives after it: it
    // takes the route it had when it was published, the notification queue.
    publish(&app, &early[2], &alice);
    assert_eq!(
        seq_and_destination(&peer.next().await),
        (3, "/user/queue/notifications".into())
    );

    // 4, 5, 6 are committed; 6's publication wins the race. The session fills 4 and 5 from
    // the store first, and drops the late publications of 4 and 5.
    let mut later = Vec::new();
    for i in 4..=7 {
        later.push(store_message(&app, room, &bob, &format!("later {i}")).await);
    }
    publish(&app, &later[2], &alice);
    publish(&app, &later[0], &alice);
    publish(&app, &later[1], &alice);
    publish(&app, &later[3], &alice);
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(seq_and_destination(&peer.next().await));
    }
    assert_eq!(
        seen,
        (4..=7).map(|s| (s, topic.clone())).collect::<Vec<_>>()
    );

    // 9's publication overtakes 8's: the session fills 8 from the store, then the client
    // leaves the room. The late publication of 8 was sent on the topic already, so it must
    // not come again as a notification; 10, published after leaving, is one.
    let mut last = Vec::new();
    for i in 8..=10 {
        last.push(store_message(&app, room, &bob, &format!("last {i}")).await);
    }
    publish(&app, &last[1], &alice);
    assert_eq!(seq_and_destination(&peer.next().await), (8, topic.clone()));
    assert_eq!(seq_and_destination(&peer.next().await), (9, topic.clone()));
    peer.send(
        Frame::new(Command::Unsubscribe)
            .with_header("id", "t")
            .with_header("receipt", "3"),
    )
    .await;
    assert_eq!(peer.next().await.header("receipt-id"), Some("3"));
    publish(&app, &last[0], &alice);
    publish(&app, &last[2], &alice);
    assert_eq!(
        seq_and_destination(&peer.next().await),
        (10, "/user/queue/notifications".into())
    );

    // Nothing else follows: a DISCONNECT receipt is the very next frame.
    peer.send(Frame::new(Command::Disconnect).with_header("receipt", "bye"))
        .await;
    let last = peer.next().await;
    assert_eq!(
        (last.command, last.header("receipt-id")),
        (Command::Receipt, Some("bye"))
    );
    tokio::time::timeout(Duration::from_secs(10), session)
        .await
        .expect("ended")
        .expect("task");
}
