//! The SDK's account calls against a real sotong server: renaming a group and a display name
//! (heard by another member as notifications), changing a password (wrong, then right), and
//! logging out everywhere (this client's connection ends, its token is refused).

mod common;

use common::*;
use futures_util::StreamExt;
use sotong_client::{Client, Error, Notification, RoomId, State};

#[tokio::test]
async fn renames_reach_another_member_as_notifications() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let group = RoomId(server.group(&alice, "Team", &[&bob]).await);
    let client = server.client(&alice).await;
    let bobs = server.client(&bob).await;
    let mut notes = within(bobs.notifications()).await.expect("notifications");

    let room = within(client.rename_group(group, "Crew"))
        .await
        .expect("rename");
    assert_eq!(room.name, "Crew");
    match within(notes.next()).await.expect("open").expect("event") {
        Notification::Room(room) => assert_eq!((room.id, room.name.as_str()), (group, "Crew")),
        event => panic!("unexpected {event:?}"),
    }

    let me = within(client.set_display_name("Alice L."))
        .await
        .expect("name");
    assert_eq!(me.display_name, "Alice L.");
    match within(notes.next()).await.expect("open").expect("event") {
        Notification::User(user) => assert_eq!(user, me),
        event => panic!("unexpected {event:?}"),
    }

    let direct = server.direct(&alice, &bob).await;
    match within(client.rename_group(direct, "Us")).await {
        Err(Error::Refused { code, .. }) => assert_eq!(code, "invalid"),
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_password_change_and_a_log_out_everywhere() {
    let server = TestServer::spawn().await;
    let dana = server.password_user("dana", "first password").await;
    let client = server.client(&dana).await;
    match within(client.change_password("wrong", "second password")).await {
        Err(Error::Refused { code, .. }) => assert_eq!(code, "wrong_password"),
        other => panic!("unexpected {other:?}"),
    }
    within(client.change_password("first password", "second password"))
        .await
        .expect("changed");
    assert_eq!(
        within(client.me()).await.expect("still signed in").username,
        "dana"
    );
    within(Client::login(&server.url(""), "dana", "second password"))
        .await
        .expect("the new password signs in");

    let mut state = client.state();
    within(client.logout_everywhere())
        .await
        .expect("logged out");
    within(state.wait_for(|s| matches!(s, State::Closed)))
        .await
        .expect("the connection ends");
    assert!(matches!(within(client.me()).await, Err(Error::Auth(_))));
}
