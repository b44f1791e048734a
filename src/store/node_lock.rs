//! One live process per node name on a database.
//!
//! Leases name their holder by `runtime.node_id`, and a node that starts takes back at once
//! every job leased to its name, on the grounds that the process that held them under that
//! name is dead. That holds only if no live process has the name. So a process holds its name
//! for as long as it lives: a session-level advisory lock on a PostgreSQL connection of its
//! own, or an OS file lock beside the SQLite file. Both end with the process however it dies
//! (a SIGKILL included), so a restarted node finds its dead predecessor's name free at once
//! and a live sibling's name taken.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::str::FromStr;

use sqlx::Connection;
use sqlx::postgres::PgConnection;
use sqlx::sqlite::SqliteConnectOptions;

use super::OpenError;

/// A node name held by this process; the name is free again once this is dropped.
#[derive(Debug)]
pub struct NodeLock {
    name: String,
    _held: Held,
}

#[derive(Debug)]
enum Held {
    /// The advisory lock lives as long as this session.
    Postgres { _session: Box<PgConnection> },
    /// `flock` on the file, released by the kernel when the process ends.
    File { _file: File },
    /// An in-memory database: no other process can reach it.
    Memory,
}

impl NodeLock {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Takes `name` on the database at `url` for this process, or `None` if a live process
    /// holds it.
    pub async fn try_take(url: &str, name: &str) -> Result<Option<NodeLock>, OpenError> {
        let held = if url.starts_with("sqlite:") {
            match lock_file(url, name)? {
                None => Held::Memory,
                Some(path) => {
                    let file = OpenOptions::new()
                        .create(true)
                        .truncate(false)
                        .write(true)
                        .open(&path)
                        .map_err(|e| OpenError::Io(path.display().to_string(), e))?;
                    match file.try_lock() {
                        Ok(()) => Held::File { _file: file },
                        Err(TryLockError::WouldBlock) => return Ok(None),
                        Err(TryLockError::Error(e)) => {
                            return Err(OpenError::Io(path.display().to_string(), e));
                        }
                    }
                }
            }
        } else {
            let mut conn = PgConnection::connect(url)
                .await
                .map_err(OpenError::Connect)?;
            let (taken,): (bool,) =
                sqlx::query_as("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
                    .bind(format!("quire node {name}"))
                    .fetch_one(&mut conn)
                    .await
                    .map_err(OpenError::Connect)?;
            if !taken {
                return Ok(None);
            }
            Held::Postgres {
                _session: Box::new(conn),
            }
        };
        Ok(Some(NodeLock {
            name: name.to_owned(),
            _held: held,
        }))
    }
}

/// The lock file for `name` beside the SQLite database, or `None` for an in-memory one.
fn lock_file(url: &str, name: &str) -> Result<Option<PathBuf>, OpenError> {
    let options =
        SqliteConnectOptions::from_str(url).map_err(|e| OpenError::BadUrl(e.to_string()))?;
    let db = options.get_filename();
    let file_name = db.file_name().and_then(|f| f.to_str()).unwrap_or_default();
    // sqlx names `sqlite::memory:` a shared-cache `file:sqlx-in-memory-N`: no file to lock.
    if file_name.is_empty() || url.contains(":memory:") || url.contains("mode=memory") {
        return Ok(None);
    }
    let mut lock = db.as_os_str().to_owned();
    lock.push(format!(".node-{}.lock", escape(name)));
    Ok(Some(PathBuf::from(lock)))
}

/// A node name as a file name: letters, digits, `.`, `-` and `_` kept, the rest as `%xx`.
fn escape(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' => (b as char).to_string(),
            b'.' => ".".to_owned(),
            b => format!("%{b:02x}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_become_safe_file_names() {
        assert_eq!(escape("host-2.lan_a"), "host-2.lan_a");
        assert_eq!(escape("a/../b c"), "a%2f..%2fb%20c");
    }

    #[tokio::test]
    async fn a_name_is_held_until_its_lock_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("q.db").display());
        let first = NodeLock::try_take(&url, "n1").await.unwrap().expect("free");
        assert!(NodeLock::try_take(&url, "n1").await.unwrap().is_none());
        assert!(NodeLock::try_take(&url, "n2").await.unwrap().is_some());
        drop(first);
        assert!(NodeLock::try_take(&url, "n1").await.unwrap().is_some());
        // In memory, nobody else can share the database, and no lock file is left behind.
        let before = std::fs::read_dir(".").unwrap().count();
        assert!(
            NodeLock::try_take("sqlite::memory:", "n1")
                .await
                .unwrap()
                .is_some()
        );
        assert_eq!(std::fs::read_dir(".").unwrap().count(), before);
    }
}
