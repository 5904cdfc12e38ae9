//! Presence through the SDK against a real server: the answer to a watch list, a change when
//! the watched user connects and reports away, and the list restored after the server comes
//! back on the same address.

mod common;

use common::*;
use futures_util::StreamExt;
use sotong_client::{Activity, PresenceState, UserId};

#[tokio::test]
async fn a_watch_list_is_answered_then_changes_arrive_and_it_survives_a_restart() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    server.direct(&alice, &bob).await;
    let alice_id = UserId(alice.id);
    let bob_client = server.client(&bob).await;
    let mut presence = within(bob_client.watch_presence(&[alice_id]))
        .await
        .expect("watch");
    let first = within(presence.next()).await.expect("open").expect("state");
    assert_eq!(
        (first.user_id, first.state),
        (alice_id, PresenceState::Offline)
    );

    let alice_client = server.client(&alice).await;
    let online = within(presence.next()).await.expect("open").expect("state");
    assert_eq!(online.state, PresenceState::Online);
    alice_client
        .report_activity(Activity::Away)
        .await
        .expect("reported");
    let away = within(presence.next()).await.expect("open").expect("state");
    assert_eq!(away.state, PresenceState::Away);

    // The server restarts on the same address: the client reconnects and watches again, and
    // the answer to its list comes first.
    drop(alice_client);
    let addr = server.addr;
    let data = server.stop().await;
    let server = TestServer::spawn_at(addr, data).await;
    let again = within(presence.next()).await.expect("open").expect("state");
    assert_eq!(again.user_id, alice_id);
    assert_eq!(again.state, PresenceState::Offline);
    drop(server);
}
