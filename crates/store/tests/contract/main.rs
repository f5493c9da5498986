//! The store's contract: every test here runs against SQLite and against
//! PostgreSQL (from `SLIPWAY_TEST_DATABASE_URL`), each in a fresh database.
//!
//! This file is the harness: `contract!` runs each test of an area once per
//! database. The tests are in a module per store part, as the store's own
//! `src/sql/*.rs` are; `fixtures` is what they share.

/// Runs each contract test once per database.
macro_rules! contract {
    ($($name:ident),+ $(,)?) => {
        $(mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let db = slipway_testkit::database::TestDatabase::sqlite();
                super::$name(&db).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let db = slipway_testkit::database::TestDatabase::postgres().await;
                super::$name(&db).await;
            }
        })+
    };
}

mod fixtures;

mod accounts;
mod blueprints;
mod clusters;
mod identity;
mod logs;
mod queue;
mod states;
