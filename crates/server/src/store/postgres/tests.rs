//! The PostgreSQL store's own behaviour, which the suite every backend runs (`store/tests.rs`)
//! cannot see: nodes that start together migrate the database once, the migrations are
//! recorded, and a URL that is not one is an error at start.

use super::*;
use sotong_testkit::ScratchDatabase;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_starting_together_migrate_once() {
    let database = ScratchDatabase::create().await;
    let (one, two) = tokio::join!(
        PostgresStore::connect(database.url()),
        PostgresStore::connect(database.url())
    );
    let (one, two) = (one.expect("node one"), two.expect("node two"));
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations WHERE success")
        .fetch_one(&one.pool)
        .await
        .expect("migrations");
    let shipped = sqlx::migrate!("./migrations/postgres").migrations.len();
    assert_eq!(
        applied,
        i64::try_from(shipped).expect("few"),
        "every migration, once"
    );
    let user = one.upsert_user("a", None).await.expect("user");
    assert_eq!(
        two.users_by_username(&["a".into()]).await.expect("read"),
        [user]
    );
    one.close().await;
    two.close().await;
}

#[tokio::test]
async fn a_url_that_is_not_one_is_an_error() {
    let garbage = PostgresStore::connect("postgres://[not a url").await;
    assert!(matches!(garbage, Err(StoreError::Backend(_))));
}
