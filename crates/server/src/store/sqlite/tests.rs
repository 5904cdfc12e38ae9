//! The SQLite store's own behaviour, which the suite every backend runs (`store/tests.rs`)
//! cannot see: a data directory keeps its migrations recorded where earlier versions recorded
//! them, so one from an earlier version opens again with its data.

use super::*;

#[tokio::test]
async fn a_data_directory_opens_again_with_its_migrations_recorded() {
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(dir.path()).await.expect("store");
    let a = store.upsert_user("a", Some("A")).await.expect("a");
    store.close().await;

    let store = SqliteStore::open(dir.path()).await.expect("reopened");
    assert_eq!(
        store.users_by_username(&["a".into()]).await.expect("read"),
        [a]
    );
    store.close().await;

    let conn = open_connection(&dir.path().join("sotong.db")).expect("open");
    let applied: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM _sqlx_migrations WHERE success",
            [],
            |row| row.get(0),
        )
        .expect("migrations");
    let shipped = sqlx::migrate!("./migrations/sqlite").migrations.len();
    assert_eq!(
        applied,
        i64::try_from(shipped).expect("few"),
        "every migration, once"
    );
}
