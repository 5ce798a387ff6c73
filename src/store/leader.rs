//! Which replica polls which source.
//!
//! Several daemons may run against one Postgres database. Each source is polled by exactly one
//! of them at a time: the one holding the source's session advisory lock. The locks live on
//! one dedicated connection per daemon, outside the pool, so they are released the moment
//! that daemon's connection dies (crash, kill -9, network loss) and another replica takes the
//! source on its next attempt, within about one poll interval.
//!
//! With SQLite there is one daemon per database file, which leads every source.

use std::collections::HashSet;

use sqlx::{Connection, PgConnection};

use super::{QueryContext, Result, Store};

/// This daemon's claim on sources.
pub struct Leadership {
    kind: Kind,
}

enum Kind {
    /// SQLite: a single daemon, always the leader.
    Solo,
    Postgres {
        url: String,
        connection: Option<PgConnection>,
        held: HashSet<i64>,
    },
}

impl Store {
    /// A leadership handle for this daemon (opens its own connection on first use).
    pub fn leadership(&self) -> Leadership {
        let kind = match self.postgres_url() {
            Some(url) => Kind::Postgres {
                url,
                connection: None,
                held: HashSet::new(),
            },
            None => Kind::Solo,
        };
        Leadership { kind }
    }
}

impl Leadership {
    /// True when this daemon may poll `source` now: it holds the source's lock, or just took
    /// it. A lost connection drops every lock it held; the next call reconnects and tries
    /// again.
    pub async fn lead(&mut self, source: &str) -> Result<bool> {
        let Kind::Postgres {
            url,
            connection,
            held,
        } = &mut self.kind
        else {
            return Ok(true);
        };
        let key = lock_key(source);
        if let Some(conn) = connection.as_mut()
            && conn.ping().await.is_err()
        {
            tracing::warn!("lost the leadership connection; every source lock is released");
            *connection = None;
            held.clear();
        }
        if held.contains(&key) {
            return Ok(true);
        }
        let conn = match connection {
            Some(conn) => conn,
            None => connection.insert(
                PgConnection::connect(url)
                    .await
                    .context("opening the leadership connection")?,
            ),
        };
        let acquired: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut *conn)
            .await
            .context("taking a source lock")?;
        if acquired {
            held.insert(key);
        }
        Ok(acquired)
    }

    /// Gives up every lock (on shutdown), so another replica can take over at once.
    pub async fn release_all(&mut self) {
        if let Kind::Postgres {
            connection, held, ..
        } = &mut self.kind
        {
            if let Some(conn) = connection.take() {
                let _ = conn.close().await;
            }
            held.clear();
        }
    }
}

/// The advisory-lock key of a source: a stable 64-bit hash of its name (FNV-1a), in a
/// namespace of its own so it can't meet the ingest lock or another application's keys.
fn lock_key(source: &str) -> i64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    let mut hash = OFFSET;
    for byte in b"tierwatch-source:".iter().chain(source.as_bytes()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(PRIME);
    }
    i64::from_ne_bytes(hash.to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::lock_key;

    #[test]
    fn lock_keys_are_stable_and_distinct() {
        assert_eq!(lock_key("prod-use1"), lock_key("prod-use1"));
        assert_ne!(lock_key("prod-use1"), lock_key("prod-use2"));
        // Pinned: changing the hash would let an old and a new daemon poll the same source.
        assert_eq!(lock_key(""), 1_969_330_673_042_228_508);
    }
}
