//! Replies, reactions and mentions through the SDK against a real server: a reply sent with
//! its preview back, reactions with a receipt and typed `Changed { change: Reacted }` events,
//! the server's refusals as codes, and the mention flag of a notification.

mod common;

use common::*;
use futures_util::StreamExt;
use sotong_client::{ChangeKind, Notification, RoomEvent, Seq};

#[tokio::test]
async fn a_reply_carries_the_preview_of_the_answered_message() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    server.post_message(&alice, room, "lunch?").await;
    let bob_client = server.client(&bob).await;
    let mut view = within(bob_client.room(room).subscribe())
        .await
        .expect("subscribe");

    let sent = within(bob_client.send_reply(room, Seq(1), "yes"))
        .await
        .expect("sent");
    assert_eq!(sent.seq, Seq(2));
    let reply = loop {
        match within(view.next()).await.expect("open").expect("event") {
            RoomEvent::Message(message) if message.seq == Seq(2) => break message,
            _ => {}
        }
    };
    let preview = reply.reply_to.expect("a preview");
    assert_eq!((preview.seq, preview.text.as_str()), (Seq(1), "lunch?"));
    assert_eq!(preview.sender.username, "alice");

    let refused = within(bob_client.send_reply(room, Seq(9), "to nothing"))
        .await
        .expect_err("no such message");
    assert_eq!(refused.code(), Some("reply_not_found"));
}

#[tokio::test]
async fn reactions_round_trip_with_typed_events_and_errors() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    server.post_message(&alice, room, "lunch?").await;
    let alice_client = server.client(&alice).await;
    let bob_client = server.client(&bob).await;
    let mut view = within(alice_client.room(room).subscribe())
        .await
        .expect("subscribe");

    let reacted = within(bob_client.react(room, Seq(1), "👍", true))
        .await
        .expect("reacted");
    assert_eq!(reacted.rev, 1);
    assert_eq!(reacted.reactions.len(), 1);
    assert_eq!(reacted.reactions[0].emoji, "👍");
    assert_eq!(
        reacted.reactions[0].user_ids,
        [sotong_client::UserId(bob.id)]
    );
    let again = within(bob_client.react(room, Seq(1), "👍", true))
        .await
        .expect("a retry");
    assert_eq!(again.rev, 1, "no new rev");
    let change = loop {
        let event = within(view.next()).await.expect("open").expect("event");
        if let RoomEvent::Changed { change, message } = event {
            break (change, message.rev);
        }
    };
    assert_eq!(change, (ChangeKind::Reacted, 1));

    let taken_back = within(bob_client.react(room, Seq(1), "👍", false))
        .await
        .expect("taken back");
    assert!(taken_back.reactions.is_empty());
    let refused = within(bob_client.react(room, Seq(1), "ok", true))
        .await
        .expect_err("letters");
    assert_eq!(refused.code(), Some("invalid_emoji"));
    let refused = within(bob_client.react(room, Seq(7), "👍", true))
        .await
        .expect_err("no such message");
    assert_eq!(refused.code(), Some("not_found"));
}

#[tokio::test]
async fn a_mention_is_flagged_on_the_mentioned_users_notification() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let bob_client = server.client(&bob).await;
    let mut notes = within(bob_client.notifications())
        .await
        .expect("notifications");
    server.post_message(&alice, room, "plain").await;
    server.post_message(&alice, room, "see @bob").await;
    let mut flags = Vec::new();
    while flags.len() < 2 {
        if let Notification::Message {
            message, mention, ..
        } = within(notes.next()).await.expect("open").expect("event")
        {
            flags.push((message.text, mention, message.mentions.len()));
        }
    }
    assert_eq!(
        flags,
        [
            ("plain".to_string(), false, 0),
            ("see @bob".to_string(), true, 1)
        ]
    );
    let rooms = within(bob_client.rooms()).await.expect("rooms");
    assert_eq!(rooms[0].unread_mentions, 1);
}
