//! The chat's non-UI half against a real in-process sotong server: the same `Session` and
//! `step` the terminal loop uses sign in, load rooms, open the latest room, receive, route by
//! visibility, send, and switch rooms. Only the drawing is left out.

use sotong_chat::app::{App, Event, Key, Notice, TimelineItem};
use sotong_chat::session::{step, Credentials, Endpoint, Session};
use sotong_client::{RoomId, Seq, State};
use sotong_testkit::{TestServer, PATIENCE};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Feeds server events to the app, exactly as the terminal loop does, until `done` holds.
async fn pump_until(
    app: &mut App,
    session: &mut Session,
    events: &mut mpsc::UnboundedReceiver<Event>,
    what: &str,
    done: impl Fn(&App) -> bool,
) {
    let deadline = Instant::now() + PATIENCE;
    while !done(app) {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}; state: {app:#?}"))
            .expect("the session's events never end while it lives");
        assert!(step(app, session, event).is_continue());
    }
}

/// Signs in as the terminal client does and starts its app: the app, its session and the
/// session's events.
async fn sign_in(
    server: &TestServer,
    credentials: Credentials,
) -> (App, Session, mpsc::UnboundedReceiver<Event>) {
    let endpoint = Endpoint::from_server(&server.url("")).expect("endpoint");
    let (tx, events) = mpsc::unbounded_channel();
    let (mut session, me) = Session::connect(&endpoint, credentials, tx)
        .await
        .expect("signs in");
    let app = App::new(me);
    for effect in app.start() {
        session.apply(effect);
    }
    (app, session, events)
}

fn press(app: &mut App, session: &mut Session, keys: impl IntoIterator<Item = Key>) {
    for key in keys {
        assert!(step(app, session, Event::Key(key)).is_continue());
    }
}

fn texts(app: &App) -> Vec<String> {
    app.timeline()
        .iter()
        .map(|item| match item {
            TimelineItem::Message(m) => m.text.clone(),
            TimelineItem::Pending(p) => format!("(pending) {}", p.text),
        })
        .collect()
}

fn unread(app: &App, room: i64) -> u64 {
    app.room(RoomId(room)).expect("room listed").unread
}

#[tokio::test]
async fn the_chat_signs_in_routes_by_visibility_sends_and_switches_rooms() {
    let server = TestServer::spawn().await;
    let bob = server.password_user("bob", "bob-password").await;
    let carol = server.password_user("carol", "carol-password").await;
    let alice = server.password_user("alice", "alice-password").await;
    let direct = server.direct(&bob, &alice).await;
    let team = server.group(&bob, "Team", &[&alice, &carol]).await;
    server.post_message(&bob, direct, "psst").await;
    server.post_message(&bob, team, "welcome").await;

    // Sign in with a password, as `sotong chat --username alice` does.
    let credentials = Credentials::Password {
        username: "alice".into(),
        password: "alice-password".into(),
    };
    let (mut app, mut session, mut events) = sign_in(&server, credentials).await;
    assert_eq!(app.me().username, "alice");

    // The latest room opens by itself, with its history; the other keeps its unread count.
    pump_until(
        &mut app,
        &mut session,
        &mut events,
        "Team's history",
        |app| texts(app) == ["welcome"],
    )
    .await;
    assert_eq!(app.connection(), State::Connected);
    let names: Vec<&str> = app.rooms().iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["Team", "bob"], "latest activity first");
    assert_eq!(app.open_room().expect("open").id, RoomId(team));
    assert_eq!((unread(&app, team), unread(&app, direct)), (0, 1));

    // Opening it marked it read on the server.
    let deadline = Instant::now() + PATIENCE;
    loop {
        let (_, rooms) = server.get("/api/rooms", Some(&alice.token)).await;
        let team_room = rooms
            .as_array()
            .expect("rooms")
            .iter()
            .find(|r| r["id"] == team)
            .expect("team listed")
            .clone();
        if team_room["unread"] == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "Team never marked read: {team_room}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // A message in the open room joins its timeline and counts nowhere.
    server.post_message(&bob, team, "hi alice").await;
    pump_until(
        &mut app,
        &mut session,
        &mut events,
        "bob's message",
        |app| texts(app).last().map(String::as_str) == Some("hi alice"),
    )
    .await;
    assert_eq!(unread(&app, team), 0);
    assert_eq!(app.notice(), None);

    // A message in another room bumps its count and shows in the status line only.
    server.post_message(&bob, direct, "are you there?").await;
    pump_until(
        &mut app,
        &mut session,
        &mut events,
        "the direct message's notification",
        |app| unread(app, direct) == 2,
    )
    .await;
    assert_eq!(
        app.notice(),
        Some(&Notice::Message {
            room: RoomId(direct),
            text: "bob: are you there?".into()
        })
    );
    assert_eq!(texts(&app), ["welcome", "hi alice"]);
    assert_eq!(app.rooms()[0].id, RoomId(direct));

    // Typing and Enter: pending, then stored with its seq.
    press(&mut app, &mut session, "hello team".chars().map(Key::Char));
    press(&mut app, &mut session, [Key::Enter]);
    assert_eq!(texts(&app).last().unwrap(), "(pending) hello team");
    pump_until(&mut app, &mut session, &mut events, "the receipt", |app| {
        app.pending().is_empty()
    })
    .await;
    let open = app.open_room().expect("open");
    let (&seq, mine) = open.messages.last_key_value().expect("a message");
    assert_eq!((seq, mine.text.as_str()), (Seq(3), "hello team"));
    assert!(app.is_mine(mine));
    let (_, stored) = server
        .get(&format!("/api/rooms/{team}/messages"), Some(&bob.token))
        .await;
    assert_eq!(stored[2]["seq"], 3);
    assert_eq!(stored[2]["text"], "hello team");
    assert_eq!(stored[2]["sender"]["username"], "alice");

    // Switching rooms: the direct room opens with its history and its count goes.
    let direct_index = app.rooms().iter().position(|r| r.id == RoomId(direct));
    let team_index = app.rooms().iter().position(|r| r.id == RoomId(team));
    assert_eq!(
        (direct_index, team_index),
        (Some(1), Some(0)),
        "Team has the newest message"
    );
    press(&mut app, &mut session, [Key::Tab]);
    assert_eq!(app.open_room().expect("open").id, RoomId(direct));
    assert_eq!(unread(&app, direct), 0);
    pump_until(
        &mut app,
        &mut session,
        &mut events,
        "the direct room's history",
        |app| texts(app) == ["psst", "are you there?"],
    )
    .await;

    // Now Team is elsewhere: carol's message there is a notification.
    server.post_message(&carol, team, "standup?").await;
    pump_until(
        &mut app,
        &mut session,
        &mut events,
        "carol's notification",
        |app| unread(app, team) == 1,
    )
    .await;
    assert_eq!(
        app.notice(),
        Some(&Notice::Message {
            room: RoomId(team),
            text: "carol in Team: standup?".into()
        })
    );
    assert_eq!(texts(&app), ["psst", "are you there?"]);

    session.close().await;
}

#[tokio::test]
async fn a_pending_line_gives_way_to_the_stored_message_without_doubling() {
    let server = TestServer::spawn().await;
    let bob = server.password_user("bob", "bob-password").await;
    let alice = server.password_user("alice", "alice-password").await;
    let room = server.direct(&bob, &alice).await;
    server.post_message(&bob, room, "hi").await;

    let (mut app, mut session, mut events) =
        sign_in(&server, Credentials::Token(alice.token)).await;
    pump_until(&mut app, &mut session, &mut events, "the room", |app| {
        texts(app) == ["hi"]
    })
    .await;

    for text in ["one", "two", "three"] {
        press(&mut app, &mut session, text.chars().map(Key::Char));
        press(&mut app, &mut session, [Key::Enter]);
        // Shown at once, before the server has heard of it.
        assert_eq!(
            texts(&app).last().map(String::as_str),
            Some(&*format!("(pending) {text}"))
        );
    }
    // Every step, whatever comes first (the stored copy on the room's topic or the receipt):
    // each line once, and a pending line only until its copy or receipt is in.
    let deadline = Instant::now() + PATIENCE;
    let (mut keys, mut copies, mut receipts) = (Vec::new(), 0, 0);
    while copies < 3 || receipts < 3 {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out; state: {app:#?}"))
            .expect("events");
        match &event {
            Event::Sending { client_msg_id, .. } => keys.push(client_msg_id.clone()),
            Event::RoomMessage(message) if message.text != "hi" => {
                let key = message.client_msg_id.clone().expect("sent with a key");
                assert!(
                    keys.contains(&key),
                    "the copy came before its key was known"
                );
                copies += 1;
            }
            Event::Sent { result, .. } => {
                assert!(keys.contains(&result.as_ref().expect("stored").client_msg_id));
                receipts += 1;
            }
            _ => {}
        }
        assert!(step(&mut app, &mut session, event).is_continue());
        let shown = texts(&app);
        for text in ["one", "two", "three"] {
            let lines = shown.iter().filter(|line| line.ends_with(text)).count();
            assert_eq!(lines, 1, "{text} shown {lines} times: {shown:?}");
        }
    }
    assert_eq!(texts(&app), ["hi", "one", "two", "three"]);
    assert!(app.pending().is_empty());
    let open = app.open_room().expect("open");
    let seqs: Vec<u64> = open.messages.keys().map(|s| s.0).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    session.close().await;
}

#[tokio::test]
async fn a_token_signs_in_and_a_wrong_password_is_refused() {
    let server = TestServer::spawn().await;
    let token = server.password_user("dora", "dora-password").await.token;
    let endpoint = Endpoint::from_server(&server.url("")).expect("endpoint");

    let (tx, mut events) = mpsc::unbounded_channel();
    let (mut session, me) = Session::connect(&endpoint, Credentials::Token(token), tx)
        .await
        .expect("a session token signs in");
    assert_eq!(me.username, "dora");
    let mut app = App::new(me);
    for effect in app.start() {
        session.apply(effect);
    }
    // No rooms yet: Ctrl-D opens a direct room with another user.
    server.password_user("erin", "erin-password").await;
    press(&mut app, &mut session, [Key::Ctrl('d')]);
    press(&mut app, &mut session, "erin".chars().map(Key::Char));
    press(&mut app, &mut session, [Key::Enter]);
    pump_until(
        &mut app,
        &mut session,
        &mut events,
        "the new direct room",
        |app| app.open_room().is_some_and(|o| o.loaded),
    )
    .await;
    assert_eq!(app.rooms()[0].name, "erin");
    session.close().await;

    let (tx, _events) = mpsc::unbounded_channel();
    let wrong = Credentials::Password {
        username: "dora".into(),
        password: "not-her-password".into(),
    };
    let err = Session::connect(&endpoint, wrong, tx)
        .await
        .expect_err("a wrong password is refused");
    assert!(format!("{err:#}").contains("not authorised"), "{err:#}");
}

#[tokio::test]
async fn edits_and_deletes_reach_the_open_room_live() {
    let server = TestServer::spawn().await;
    let bob = server.password_user("bob", "bob-password").await;
    let alice = server.password_user("alice", "alice-password").await;
    let team = server.group(&bob, "Team", &[&alice]).await;
    server.post_message(&bob, team, "helo").await;
    server.post_message(&bob, team, "oops").await;

    let credentials = Credentials::Password {
        username: "alice".into(),
        password: "alice-password".into(),
    };
    let (mut app, mut session, mut events) = sign_in(&server, credentials).await;
    pump_until(
        &mut app,
        &mut session,
        &mut events,
        "Team's history",
        |app| texts(app) == ["helo", "oops"],
    )
    .await;

    server.edit_message(&bob, team, 1, "hello").await;
    server.delete_message(&bob, team, 2).await;
    pump_until(
        &mut app,
        &mut session,
        &mut events,
        "the edit and the delete",
        |app| texts(app) == ["hello", ""],
    )
    .await;
    let shown = app.timeline();
    let [TimelineItem::Message(edited), TimelineItem::Message(deleted)] = shown.as_slice() else {
        panic!("two stored messages, got {shown:?}");
    };
    assert!(edited.edited_at.is_some() && edited.deleted_at.is_none());
    assert!(deleted.deleted_at.is_some());
    assert_eq!((edited.seq, deleted.seq), (Seq(1), Seq(2)));
    assert_eq!(app.notice(), None);
}

#[tokio::test]
async fn commands_reply_react_edit_and_delete_by_message_number() {
    let server = TestServer::spawn().await;
    let bob = server.password_user("bob", "bob-password").await;
    let alice = server.password_user("alice", "alice-password").await;
    let team = server.group(&bob, "Team", &[&alice]).await;
    server.post_message(&bob, team, "lunch?").await;

    let credentials = Credentials::Password {
        username: "alice".into(),
        password: "alice-password".into(),
    };
    let (mut app, mut session, mut events) = sign_in(&server, credentials).await;
    pump_until(
        &mut app,
        &mut session,
        &mut events,
        "Team's history",
        |app| texts(app) == ["lunch?"],
    )
    .await;
    let type_line = |app: &mut App, session: &mut Session, line: &str| {
        press(app, session, line.chars().map(Key::Char));
        press(app, session, [Key::Enter]);
    };
    let message = |app: &App, seq: u64| {
        app.open_room()
            .and_then(|open| open.messages.get(&Seq(seq)).cloned())
    };

    type_line(&mut app, &mut session, "/reply 1 yes, @bob");
    pump_until(
        &mut app,
        &mut session,
        &mut events,
        "the stored reply",
        |app| message(app, 2).is_some_and(|m| m.reply_to.is_some() && !m.mentions.is_empty()),
    )
    .await;
    let reply = message(&app, 2).expect("the reply");
    assert_eq!(reply.reply_to.map(|p| p.text), Some("lunch?".to_string()));

    type_line(&mut app, &mut session, "/react 1 👍");
    pump_until(&mut app, &mut session, &mut events, "the reaction", |app| {
        message(app, 1).is_some_and(|m| m.reactions.len() == 1)
    })
    .await;
    type_line(&mut app, &mut session, "/react 1 👍");
    pump_until(
        &mut app,
        &mut session,
        &mut events,
        "the reaction taken back",
        |app| message(app, 1).is_some_and(|m| m.reactions.is_empty() && m.rev == 2),
    )
    .await;

    type_line(&mut app, &mut session, "/edit 2 yes, at noon");
    pump_until(&mut app, &mut session, &mut events, "the edit", |app| {
        message(app, 2).is_some_and(|m| m.text == "yes, at noon" && m.edited_at.is_some())
    })
    .await;
    type_line(&mut app, &mut session, "/delete 2");
    pump_until(&mut app, &mut session, &mut events, "the delete", |app| {
        message(app, 2).is_some_and(|m| m.deleted_at.is_some())
    })
    .await;
    // The server's refusal shows in the status line.
    type_line(&mut app, &mut session, "/react 2 👍");
    pump_until(
        &mut app,
        &mut session,
        &mut events,
        "the refusal",
        |app| matches!(app.notice(), Some(Notice::Error(why)) if why.contains("react")),
    )
    .await;
    let history = server.history(&bob, team, "").await;
    assert!(history[1]["deletedAt"].is_string());
}
