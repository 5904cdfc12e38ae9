//! Attachments through the SDK against a real server: uploading bytes and a file, sending them
//! with a message (the room's stream carries them), downloading, and the server's refusals as
//! codes.

mod common;

use common::*;
use futures_util::StreamExt;
use sotong_client::{AttachmentId, Error, RoomEvent};

#[tokio::test]
async fn upload_send_and_download_round_trip() {
    let server = TestServer::spawn().await;
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let room = server.direct(&alice, &bob).await;
    let alice_client = server.client(&alice).await;
    let bob_client = server.client(&bob).await;
    let mut bob_view = within(bob_client.room(room).subscribe())
        .await
        .expect("subscribe");

    let notes = b"meeting at noon\n".to_vec();
    let from_bytes = within(alice_client.upload(room, "notes.txt", notes.clone()))
        .await
        .expect("uploaded");
    assert_eq!(from_bytes.content_type, "text/plain");
    assert_eq!(from_bytes.size, notes.len() as u64);

    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("data.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&path, &data).expect("write");
    let file = tokio::fs::File::open(&path).await.expect("open");
    let from_file = within(alice_client.upload(room, "data.bin", file))
        .await
        .expect("uploaded from a file");
    assert_eq!(from_file.size, data.len() as u64);

    let sent = within(alice_client.send_with_attachments(room, "", &[from_bytes.id, from_file.id]))
        .await
        .expect("sent");
    let message = loop {
        let event = within(bob_view.next())
            .await
            .expect("open")
            .expect("an event");
        if let RoomEvent::Message(message) = event {
            break message;
        }
    };
    assert_eq!(message.seq, sent.seq);
    let ids: Vec<AttachmentId> = message.attachments.iter().map(|a| a.id).collect();
    assert_eq!(ids, [from_bytes.id, from_file.id]);

    let download = within(bob_client.download(from_file.id))
        .await
        .expect("downloaded");
    assert_eq!(download.content_type, "application/octet-stream");
    assert_eq!(download.bytes.as_ref(), data.as_slice());

    let refused = within(alice_client.send_with_attachments(room, "again", &[from_file.id])).await;
    assert!(
        matches!(&refused, Err(Error::Refused { code, .. }) if code == "invalid_attachment"),
        "{refused:?}"
    );
    let mismatch = within(alice_client.upload(room, "cat.png", b"<html>".to_vec())).await;
    assert!(
        matches!(&mismatch, Err(Error::Refused { code, .. }) if code == "type_mismatch"),
        "{mismatch:?}"
    );
    let thumbnail = within(bob_client.download_thumbnail(from_file.id)).await;
    assert!(
        matches!(&thumbnail, Err(Error::Refused { code, .. }) if code == "not_found"),
        "{thumbnail:?}"
    );
}
