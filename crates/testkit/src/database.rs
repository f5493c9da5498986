//! Fresh, isolated databases for tests: a SQLite file in a temporary
//! directory, or a PostgreSQL schema of its own on the server named by
//! `SLIPWAY_TEST_DATABASE_URL`.

use sqlx::Executor;

/// The environment variable naming the PostgreSQL server tests use.
pub const POSTGRES_URL_VAR: &str = "SLIPWAY_TEST_DATABASE_URL";

/// A database that exists for one test and goes away with it.
pub struct TestDatabase {
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code)] tempfile::TempDir),
    Postgres { admin_url: String, schema: String },
}

impl TestDatabase {
    /// A SQLite database file in a fresh temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("slipway.db").display()
        );
        Self {
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A schema of its own on the PostgreSQL server of
    /// `SLIPWAY_TEST_DATABASE_URL`; the returned URL selects it through
    /// `search_path`, so everything the test creates lands in it.
    pub async fn postgres() -> Self {
        let admin_url = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
            panic!(
                "{POSTGRES_URL_VAR} is not set: PostgreSQL tests need a server \
                 (e.g. postgres://postgres@127.0.0.1:5432/test); the README's test command sets it"
            )
        });
        let schema = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url)
            .await
            .unwrap_or_else(|e| panic!("cannot reach PostgreSQL at {admin_url}: {e}"));
        conn.execute(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
            .await
            .expect("create test schema");
        let separator = if admin_url.contains('?') { '&' } else { '?' };
        let url = format!("{admin_url}{separator}options=-c%20search_path%3D{schema}");
        Self {
            url,
            cleanup: Cleanup::Postgres { admin_url, schema },
        }
    }

    /// Runs a statement on a PostgreSQL test database behind Slipway's
    /// back — for tests of what Slipway does when its data was changed.
    pub async fn tamper(&self, sql: &str) -> u64 {
        assert!(
            matches!(self.cleanup, Cleanup::Postgres { .. }),
            "tamper is for PostgreSQL test databases"
        );
        let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&self.url)
            .await
            .expect("connect to the test database");
        conn.execute(sqlx::AssertSqlSafe(sql.to_owned()))
            .await
            .expect("the statement runs")
            .rows_affected()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Cleanup::Postgres { admin_url, schema } = &self.cleanup {
            let (admin_url, schema) = (admin_url.clone(), schema.clone());
            // Dropping happens outside any runtime the test may have had.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("runtime");
                rt.block_on(async move {
                    if let Ok(mut conn) =
                        <sqlx::PgConnection as sqlx::Connection>::connect(&admin_url).await
                    {
                        let _ = conn
                            .execute(sqlx::AssertSqlSafe(format!(
                                "DROP SCHEMA IF EXISTS {schema} CASCADE"
                            )))
                            .await;
                    }
                });
            })
            .join();
        }
    }
}
