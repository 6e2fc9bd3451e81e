//! Raw SQL on a test database, as whoever can write to it (a database writer who is not the
//! api): the attacks the signer must refuse.

#![allow(dead_code)]

use sqlx::Connection as _;

use crate::harness::TestDb;
use sealgate_store::Envelope;

/// Raw SQL on the test database, as whoever can write to it.
pub enum Raw {
    Lite(sqlx::SqliteConnection),
    Pg(sqlx::PgConnection),
}

impl Raw {
    pub async fn connect(db: &TestDb) -> Raw {
        match db.backend {
            "sqlite" => Raw::Lite(sqlx::SqliteConnection::connect(&db.url).await.expect("sqlite")),
            _ => Raw::Pg(sqlx::PgConnection::connect(&db.url).await.expect("postgres")),
        }
    }

    /// Runs `sql` with text parameters `$1…`; returns the rows affected.
    pub async fn exec(&mut self, sql: &str, args: &[&str]) -> u64 {
        match self {
            Raw::Lite(c) => {
                let mut q = sqlx::query(sql);
                for a in args {
                    q = q.bind(*a);
                }
                q.execute(c).await.expect(sql).rows_affected()
            }
            Raw::Pg(c) => {
                let mut q = sqlx::query(sql);
                for a in args {
                    q = q.bind(*a);
                }
                q.execute(c).await.expect(sql).rows_affected()
            }
        }
    }

    /// Puts an envelope row back exactly as it was.
    pub async fn restore(&mut self, e: &Envelope) {
        let sql = format!(
            "INSERT INTO envelopes (owner, credential_id, role, kid, jwe, created_ms) VALUES ($1, $2, $3, $4, $5, {})",
            e.created_ms
        );
        assert_eq!(self.exec(&sql, &[&e.owner, &e.credential_id, &e.role, &e.kid, &e.jwe]).await, 1);
    }

    /// Replaces the text of `owner`'s envelope row.
    pub async fn set_jwe(&mut self, owner: &str, cid: &str, role: &str, kid: &str, jwe: &str) {
        let n = self
            .exec(
                "UPDATE envelopes SET jwe = $3, kid = $4 WHERE credential_id = $1 AND role = $2 AND owner = $5",
                &[cid, role, jwe, kid, owner],
            )
            .await;
        assert_eq!(n, 1, "{owner}/{cid}/{role}");
    }
}
