//! "Never both, never neither": while another user sends a burst, the last subscription of a
//! room goes (and comes back), and every message still reaches the client exactly once, on the
//! room's stream or on the notifications. Against a real server, and against a scripted one
//! for the frames a real server sends only by chance (topic messages after the client has
//! unsubscribed, a notification repeating one of them). Every wait is on an event; timeouts
//! only guard hangs.

mod common;

use common::*;
use futures_util::future::join_all;
use futures_util::{FutureExt, StreamExt};
use sotong_client::{
    Client, HistoryQuery, Message, MessageId, Notification, RoomEvent, RoomId, Seq, Subscription,
};
use sotong_stomp::{Command, Frame};
use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Messages in each burst: enough that the room's topic is busy when the subscription goes.
const BURST: usize = 150;

/// Sends `count` messages to `room` at once (pipelined on one connection, so the server stores
/// them in order) and returns the stored ids in `seq` order.
async fn burst(client: Client, room: RoomId, count: usize) -> Vec<MessageId> {
    let sends = (0..count).map(|n| client.send(room, format!("burst {n}")));
    let mut sent: Vec<_> = join_all(sends)
        .await
        .into_iter()
        .map(|result| result.expect("sent"))
        .collect();
    sent.sort_by_key(|s| s.seq);
    sent.into_iter().map(|s| s.message_id).collect()
}

/// The next notification if one is waiting. Unconstrained, so that Tokio's cooperative budget
/// cannot make a full channel look empty.
fn ready(
    notes: &mut Subscription<Notification>,
) -> Option<Option<sotong_client::Result<Notification>>> {
    tokio::task::unconstrained(notes.next()).now_or_never()
}

/// The next message on a room stream (typing indicators skipped).
async fn next_room_message(view: &mut Subscription<RoomEvent>) -> Message {
    loop {
        match within(view.next()).await {
            Some(Ok(RoomEvent::Message(message))) => return message,
            Some(Ok(_)) => continue,
            other => panic!("the room stream ended: {other:?}"),
        }
    }
}

/// The next message notification of `room`, with its unread count.
async fn next_note(notes: &mut Subscription<Notification>, room: RoomId) -> (Message, Option<u64>) {
    loop {
        match within(notes.next()).await {
            Some(Ok(Notification::Message {
                room_id,
                message,
                unread,
                ..
            })) if room_id == room => return (message, unread),
            Some(Ok(_)) => continue,
            other => panic!("the notifications ended: {other:?}"),
        }
    }
}

/// Every message seen, by stream; fails on the first id seen twice, on any stream.
#[derive(Default)]
struct Seen {
    ids: HashSet<MessageId>,
    streams: Vec<(&'static str, Vec<Message>)>,
}

impl Seen {
    fn add(&mut self, stream: &'static str, message: Message) {
        assert!(
            self.ids.insert(message.id),
            "message {} (seq {}) seen twice, the second time on {stream}",
            message.id,
            message.seq
        );
        match self.streams.last_mut() {
            Some((name, messages)) if *name == stream => messages.push(message),
            _ => self.streams.push((stream, vec![message])),
        }
    }

    fn count(&self, stream: &str) -> usize {
        self.streams
            .iter()
            .filter(|(name, _)| *name == stream)
            .map(|(_, messages)| messages.len())
            .sum()
    }

    /// The ids in the order the streams gave them, stream after stream.
    fn in_order(&self) -> Vec<MessageId> {
        self.streams
            .iter()
            .flat_map(|(_, messages)| messages.iter().map(|m| m.id))
            .collect()
    }
}

/// Alice views her room with Bob and has read a tenth of a first burst; the rest of it is
/// buffered in her room stream, unread (a message from Carol in another room, posted after the
/// burst, has reached her client, and the server sends in commit order). Bob starts a second
/// burst.
struct MidBurst {
    server: TestServer,
    client: Client,
    bobs: Client,
    room: RoomId,
    notes: Subscription<Notification>,
    view: Subscription<RoomEvent>,
    seen: Seen,
    first: Vec<MessageId>,
    second: tokio::task::JoinHandle<Vec<MessageId>>,
}

async fn mid_burst() -> MidBurst {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let room = server.direct(&alice, &bob).await;
    let other = server.direct(&alice, &carol).await;
    let client = server.client(&alice).await;
    let bobs = server.client(&bob).await;
    let mut notes = within(client.notifications()).await.expect("notifications");
    let mut view = within(client.room(room).subscribe())
        .await
        .expect("subscribe");

    let sending = tokio::spawn(burst(bobs.clone(), room, BURST));
    let mut seen = Seen::default();
    for _ in 0..BURST / 10 {
        seen.add("room", next_room_message(&mut view).await);
    }
    let first = within(sending).await.expect("burst task");
    server.post_message(&carol, other, "meanwhile").await;
    let (meanwhile, _) = next_note(&mut notes, other).await;
    assert_eq!(meanwhile.text, "meanwhile");
    let second = tokio::spawn(burst(bobs.clone(), room, BURST));
    MidBurst {
        server,
        client,
        bobs,
        room,
        notes,
        view,
        seen,
        first,
        second,
    }
}

#[tokio::test]
async fn dropping_the_last_subscription_mid_burst_loses_and_doubles_nothing() {
    let MidBurst {
        server: _server,
        bobs,
        room,
        mut notes,
        view,
        mut seen,
        first,
        second,
        ..
    } = mid_burst().await;
    // The room is closed with most of the first burst unread and the second one under way.
    drop(view);
    // First what the SDK passed on itself (no server count), then the server's own.
    let mut counted = false;
    let mut uncounted = 0;
    while seen.ids.len() < 2 * BURST {
        let (message, unread) = next_note(&mut notes, room).await;
        assert!(
            !(counted && unread.is_none()),
            "seq {} passed on by the SDK after the server's notifications began",
            message.seq
        );
        counted |= unread.is_some();
        uncounted += usize::from(unread.is_none());
        seen.add("notifications", message);
    }
    let second = within(second).await.expect("burst task");

    // A message sent after the bursts is a barrier: any copy of a burst message still on its
    // way would come before it (and fail `add`).
    let last = within(bobs.send(room, "after the bursts"))
        .await
        .expect("sent");
    let (barrier, unread) = next_note(&mut notes, room).await;
    assert_eq!(barrier.id, last.message_id);
    assert!(
        unread.is_some(),
        "the server's own notification has a count"
    );
    assert!(ready(&mut notes).is_none(), "nothing after the barrier");

    let sent: Vec<MessageId> = first.into_iter().chain(second).collect();
    assert_eq!(seen.in_order(), sent, "each message once, in seq order");
    assert_eq!(seen.count("room"), BURST / 10);
    // What was buffered unread when the room closed came through the SDK.
    assert!(uncounted >= BURST - BURST / 10, "{uncounted}");
}

#[tokio::test]
async fn reopening_a_room_mid_burst_shows_each_message_on_one_stream() {
    let MidBurst {
        server: _server,
        client,
        bobs,
        room,
        mut notes,
        view,
        mut seen,
        first,
        second,
    } = mid_burst().await;
    // Closed, and opened again as soon as one message has come as a notification.
    drop(view);
    let (message, _) = next_note(&mut notes, room).await;
    seen.add("notifications", message);
    let mut again = within(client.room(room).subscribe())
        .await
        .expect("subscribe again");
    // Whatever was routed to the notifications before the room came back is waiting there;
    // the rest comes on the new room stream.
    while let Some(Some(Ok(event))) = ready(&mut notes) {
        if let Notification::Message { message, .. } = event {
            seen.add("notifications", message);
        }
    }
    while seen.ids.len() < 2 * BURST {
        seen.add("room again", next_room_message(&mut again).await);
    }
    let second = within(second).await.expect("burst task");

    // The barrier comes on the room stream; no notification of the room came meanwhile.
    let last = within(bobs.send(room, "after the bursts"))
        .await
        .expect("sent");
    assert_eq!(next_room_message(&mut again).await.id, last.message_id);
    while let Some(Some(Ok(event))) = ready(&mut notes) {
        if let Notification::Message {
            room_id, message, ..
        } = event
        {
            assert_ne!(
                room_id, room,
                "a message of an open room as a notification: {message:?}"
            );
        }
    }

    let sent: Vec<MessageId> = first.into_iter().chain(second).collect();
    assert_eq!(seen.in_order(), sent, "each message once, in seq order");
    let streams: Vec<&str> = seen.streams.iter().map(|(name, _)| *name).collect();
    assert_eq!(streams[..2], ["room", "notifications"]);
    assert!(seen.count("notifications") >= BURST - BURST / 10);

    // Opening a room still shows its whole history, notifications included.
    let mut ids = Vec::new();
    loop {
        let page = within(client.room(room).history(HistoryQuery {
            after: Some(Seq(ids.len() as u64)),
            limit: Some(200),
            ..HistoryQuery::default()
        }))
        .await
        .expect("history");
        if page.is_empty() {
            break;
        }
        ids.extend(page.iter().map(|m| m.id));
    }
    assert_eq!(ids[..2 * BURST], sent);
}

/// A room message as the scripted server sends it, on the topic or as a notification.
fn scripted_message(seq: u64) -> serde_json::Value {
    serde_json::json!({
        "id": 100 + seq, "roomId": 1, "seq": seq, "text": format!("m{seq}"),
        "sender": { "id": 2, "username": "bob", "displayName": "Bob" },
        "sentAt": "2024-05-01T09:30:00Z", "clientMsgId": null
    })
}

async fn send_topic(conn: &mut FakeStomp, seq: u64) {
    let body = serde_json::json!({ "type": "message", "message": scripted_message(seq) });
    conn.send(
        Frame::new(Command::Message)
            .with_header("destination", "/topic/rooms/1")
            .with_header("subscription", "room-1")
            .with_header("message-id", (100 + seq).to_string())
            .with_header("seq", seq.to_string())
            .with_body(body.to_string().into_bytes()),
    )
    .await;
}

async fn send_note(conn: &mut FakeStomp, seq: u64, unread: u64) {
    let body = serde_json::json!({
        "type": "message", "roomId": 1, "message": scripted_message(seq), "unread": unread
    });
    conn.send(
        Frame::new(Command::Message)
            .with_header("destination", "/user/queue/notifications")
            .with_header("subscription", "notifications")
            .with_header("message-id", (100 + seq).to_string())
            .with_body(body.to_string().into_bytes()),
    )
    .await;
}

/// The next frame that is not a heart-beat, answering `SUBSCRIBE` receipts on the way unless
/// it is a room's: that one is returned unanswered.
async fn next_scripted(conn: &mut FakeStomp) -> Frame {
    loop {
        let frame = conn.next_frame().await.expect("the client went away");
        match frame.command {
            Command::Connect => {
                conn.send(
                    Frame::new(Command::Connected)
                        .with_header("version", "1.2")
                        .with_header("heart-beat", "0,0"),
                )
                .await
            }
            Command::Subscribe
                if !frame
                    .header("destination")
                    .is_some_and(|d| d.starts_with("/topic/")) =>
            {
                if let Some(receipt) = frame.header("receipt") {
                    let receipt = receipt.to_string();
                    conn.send(Frame::new(Command::Receipt).with_header("receipt-id", receipt))
                        .await;
                }
            }
            _ => return frame,
        }
    }
}

async fn answer_receipt(conn: &mut FakeStomp, frame: &Frame) {
    let receipt = frame.header("receipt").expect("a receipt").to_string();
    conn.send(Frame::new(Command::Receipt).with_header("receipt-id", receipt))
        .await;
}

/// Answers every HTTP request with room 1 (latest seq 0); counts the requests.
async fn room_api(listener: tokio::net::TcpListener, requests: Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let room = serde_json::json!({
        "id": 1, "kind": "direct", "name": "Bob", "members": [],
        "lastMessage": null, "unread": 0, "lastReadSeq": 0
    })
    .to_string();
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            return;
        };
        let mut request = Vec::new();
        let mut buf = [0u8; 1024];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            match socket.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => request.extend_from_slice(&buf[..n]),
            }
        }
        requests.fetch_add(1, Ordering::SeqCst);
        let answer = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{room}",
            room.len()
        );
        let _ = socket.write_all(answer.as_bytes()).await;
    }
}

#[tokio::test]
async fn topic_messages_after_the_unsubscribe_become_notifications_and_are_not_replayed() {
    let ws = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let ws_addr = ws.local_addr().expect("addr");
    let api = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let api_addr = api.local_addr().expect("addr");
    let requests = Arc::new(AtomicUsize::new(0));
    tokio::spawn(room_api(api, requests.clone()));
    let (opened, mut opened_rx) = tokio::sync::mpsc::unbounded_channel();
    let script = tokio::spawn(async move {
        let mut conn = FakeStomp::accept(&ws).await;
        // The room is opened: three messages on its topic.
        let subscribe = next_scripted(&mut conn).await;
        assert_eq!(subscribe.command, Command::Subscribe);
        assert_eq!(subscribe.header("since-seq"), Some("0"));
        answer_receipt(&mut conn, &subscribe).await;
        for seq in 1..=3 {
            send_topic(&mut conn, seq).await;
        }
        // It is closed. 4 and 5 were on the topic before the UNSUBSCRIBE was handled; then a
        // late notification repeats 5 (the server's seq filter went with the subscription),
        // and 6 is the server's own notification.
        let unsubscribe = next_scripted(&mut conn).await;
        assert_eq!(unsubscribe.command, Command::Unsubscribe);
        assert_eq!(unsubscribe.header("id"), Some("room-1"));
        send_topic(&mut conn, 4).await;
        send_topic(&mut conn, 5).await;
        send_note(&mut conn, 5, 2).await;
        send_note(&mut conn, 6, 3).await;
        // Opened again: it must resume after 6, so 7 is the first message replayed.
        let again = next_scripted(&mut conn).await;
        assert_eq!(again.command, Command::Subscribe);
        let since = again.header("since-seq").map(str::to_string);
        answer_receipt(&mut conn, &again).await;
        send_topic(&mut conn, 7).await;
        let _ = opened.send(since);
        // Keep the connection open until the client says goodbye.
        while let Some(frame) = conn.next_frame().await {
            if frame.command == Command::Disconnect {
                answer_receipt(&mut conn, &frame).await;
            }
        }
    });

    let client = within(
        Client::builder(format!("ws://{ws_addr}/ws"), "token")
            .http_base(format!("http://{api_addr}"))
            .connect(),
    )
    .await
    .expect("connect");
    let room = RoomId(1);
    let mut notes = within(client.notifications()).await.expect("notifications");
    let mut view = within(client.room(room).subscribe())
        .await
        .expect("subscribe");
    assert_eq!(next_room_message(&mut view).await.seq, Seq(1));
    drop(view);
    let mut got = Vec::new();
    while got.len() < 5 {
        let (message, unread) = next_note(&mut notes, room).await;
        got.push((message.seq.0, unread));
    }
    assert_eq!(
        got,
        [(2, None), (3, None), (4, None), (5, None), (6, Some(3))],
        "2 and 3 unread in the closed stream, 4 and 5 from the topic; the repeat of 5 dropped"
    );

    let mut again = within(client.room(room).subscribe())
        .await
        .expect("subscribe again");
    assert_eq!(next_room_message(&mut again).await.seq, Seq(7));
    let since = within(opened_rx.recv()).await.expect("the script ran");
    assert_eq!(since.as_deref(), Some("6"), "resumed after the last routed");
    assert_eq!(
        requests.load(Ordering::SeqCst),
        1,
        "only the first subscribe needed the room's latest seq"
    );
    assert!(ready(&mut notes).is_none());
    client.close().await;
    drop(again);
    within(script).await.expect("script");
}
