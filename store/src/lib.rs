//! # polyrun-store
//!
//! Where the guest helpers' variables live by default: an embedded SQLite database (compiled in,
//! no system library), implementing the engine's [`VariableStore`].
//!
//! One table, `variables(namespace, name, value JSON, version, updated_ms)`. Every write is one
//! SQL statement, so it is atomic; [`VariableStore::compare_and_set`] is an `UPDATE … WHERE
//! version = ?`, which is what makes `polyrun.updateVariable` atomic across threads and
//! processes sharing the file (WAL mode, `synchronous = NORMAL`: no fsync per write; writers
//! wait up to 10 s for each other).

use polyrun_engine::helpers::Usage;
use polyrun_engine::{StoreError, VariableStore, Versioned};
use rusqlite::{Connection, OptionalExtension, params};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a writer waits for another one before the call fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// The size the WAL file is cut back to after a checkpoint, in bytes.
const WAL_SIZE_LIMIT: i64 = 16 << 20;

/// Variables in a SQLite file.
pub struct SqliteStore {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// A [`SqliteStore`] opened on first use; see [`SqliteStore::lazy`].
pub struct LazySqliteStore {
    path: PathBuf,
    store: Mutex<Option<Arc<SqliteStore>>>,
}

impl std::fmt::Debug for LazySqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LazySqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl LazySqliteStore {
    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn open(&self) -> Result<Arc<SqliteStore>, StoreError> {
        let mut slot = self.store.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = slot.as_ref() {
            return Ok(s.clone());
        }
        let s = Arc::new(SqliteStore::open(&self.path)?);
        *slot = Some(s.clone());
        Ok(s)
    }
}

impl VariableStore for LazySqliteStore {
    fn get(&self, namespace: &str, name: &str) -> Result<Option<Versioned>, StoreError> {
        self.open()?.get(namespace, name)
    }

    fn set(&self, namespace: &str, name: &str, value: &Value) -> Result<u64, StoreError> {
        self.open()?.set(namespace, name, value)
    }

    fn usage(&self, namespace: &str, except: &str) -> Result<Usage, StoreError> {
        self.open()?.usage(namespace, except)
    }

    fn compare_and_set(
        &self,
        namespace: &str,
        name: &str,
        expected: u64,
        value: &Value,
    ) -> Result<Option<u64>, StoreError> {
        self.open()?
            .compare_and_set(namespace, name, expected, value)
    }
}

fn err(e: impl std::fmt::Display) -> StoreError {
    StoreError(e.to_string())
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl SqliteStore {
    /// Opens (creating it and its directory if needed) the database at `path`. Processes that
    /// open one new file at the same moment wait for each other (up to 10 s).
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| StoreError(format!("cannot create {}: {e}", dir.display())))?;
        }
        let at = |e: rusqlite::Error| StoreError(format!("{}: {e}", path.display()));
        let conn = Connection::open(&path).map_err(at)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(at)?;
        let deadline = Instant::now() + BUSY_TIMEOUT;
        loop {
            match Self::init(&conn) {
                Ok(()) => break,
                // Switching a new file to WAL takes a lock the busy handler does not wait for.
                Err(e) if is_busy(&e) && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => {
                    return Err(StoreError(format!(
                        "{} is not a usable polyrun variable store: {e}",
                        path.display()
                    )));
                }
            }
        }
        Ok(SqliteStore {
            path,
            conn: Mutex::new(conn),
        })
    }

    fn init(conn: &Connection) -> rusqlite::Result<()> {
        let mode: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            conn.pragma_update(None, "journal_mode", "WAL")?;
        }
        // In WAL mode, NORMAL syncs at checkpoints, not at every commit: a write survives the
        // process dying at any moment (what a run that is killed needs) and costs no fsync; the
        // last writes before a power loss may be lost.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        // SQLite checkpoints the WAL as it grows but keeps the file at its largest: after a
        // checkpoint it is cut back to this (a flood of writes left a 795 MB WAL behind).
        conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS variables (
                namespace TEXT NOT NULL,
                name TEXT NOT NULL,
                value TEXT NOT NULL,
                version INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL,
                PRIMARY KEY (namespace, name)
            ) WITHOUT ROWID;",
        )
    }

    /// A store that opens `path` on its first use (and tries again on the next use if that
    /// failed): building a manager does no I/O, and a run that uses no variable never touches
    /// the file.
    pub fn lazy(path: impl Into<PathBuf>) -> LazySqliteStore {
        LazySqliteStore {
            path: path.into(),
            store: Mutex::new(None),
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The names of a namespace's variables, sorted.
    pub fn names(&self, namespace: &str) -> Result<Vec<String>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let mut st = conn
            .prepare_cached("SELECT name FROM variables WHERE namespace = ?1 ORDER BY name")
            .map_err(err)?;
        let rows = st
            .query_map(params![namespace], |r| r.get::<_, String>(0))
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// Removes a variable; `true` if it existed.
    pub fn remove(&self, namespace: &str, name: &str) -> Result<bool, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.execute(
            "DELETE FROM variables WHERE namespace = ?1 AND name = ?2",
            params![namespace, name],
        )
        .map(|n| n > 0)
        .map_err(err)
    }
}

impl VariableStore for SqliteStore {
    fn usage(&self, namespace: &str, except: &str) -> Result<Usage, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        // octet_length reads a value's size from its record, not the value.
        conn.prepare_cached(
            "SELECT COUNT(*), COALESCE(SUM(octet_length(value)), 0) FROM variables
             WHERE namespace = ?1 AND name <> ?2",
        )
        .map_err(err)?
        .query_row(params![namespace, except], |r| {
            Ok(Usage {
                count: r.get::<_, i64>(0)? as u64,
                bytes: r.get::<_, i64>(1)? as u64,
            })
        })
        .map_err(err)
    }

    fn get(&self, namespace: &str, name: &str) -> Result<Option<Versioned>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let row = conn
            .prepare_cached(
                "SELECT value, version FROM variables WHERE namespace = ?1 AND name = ?2",
            )
            .map_err(err)?
            .query_row(params![namespace, name], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
            })
            .optional()
            .map_err(err)?;
        row.map(|(text, version)| {
            Ok(Versioned {
                value: serde_json::from_str::<Value>(&text)
                    .map_err(|e| StoreError(format!("variable {namespace}/{name}: {e}")))?,
                version: version as u64,
            })
        })
        .transpose()
    }

    fn set(&self, namespace: &str, name: &str, value: &Value) -> Result<u64, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        conn.prepare_cached(
            "INSERT INTO variables (namespace, name, value, version, updated_ms)
             VALUES (?1, ?2, ?3, 1, ?4)
             ON CONFLICT (namespace, name) DO UPDATE
                SET value = excluded.value, version = version + 1, updated_ms = excluded.updated_ms
             RETURNING version",
        )
        .map_err(err)?
        .query_row(params![namespace, name, value.to_string(), now_ms()], |r| {
            r.get::<_, i64>(0)
        })
        .map(|v| v as u64)
        .map_err(err)
    }

    fn compare_and_set(
        &self,
        namespace: &str,
        name: &str,
        expected: u64,
        value: &Value,
    ) -> Result<Option<u64>, StoreError> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let text = value.to_string();
        let changed = if expected == 0 {
            conn.prepare_cached(
                "INSERT INTO variables (namespace, name, value, version, updated_ms)
                 VALUES (?1, ?2, ?3, 1, ?4) ON CONFLICT (namespace, name) DO NOTHING",
            )
            .map_err(err)?
            .execute(params![namespace, name, text, now_ms()])
        } else {
            conn.prepare_cached(
                "UPDATE variables SET value = ?3, version = version + 1, updated_ms = ?4
                 WHERE namespace = ?1 AND name = ?2 AND version = ?5",
            )
            .map_err(err)?
            .execute(params![namespace, name, text, now_ms(), expected as i64])
        }
        .map_err(err)?;
        Ok((changed == 1).then_some(expected + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::sync::Arc;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("polyrun-store-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir.join("vars.sqlite3")
    }

    #[test]
    fn usage_counts_a_namespace_but_one_variable_and_the_wal_is_bounded() {
        let path = temp("usage");
        let s = SqliteStore::open(&path).unwrap();
        s.set("ns", "a", &serde_json::json!("héllo")).unwrap(); // 8 bytes of JSON
        s.set("ns", "b", &serde_json::json!([1, 2])).unwrap(); // 5
        s.set("other", "c", &serde_json::json!(1)).unwrap();
        assert_eq!(
            s.usage("ns", "").unwrap(),
            Usage {
                count: 2,
                bytes: 13
            }
        );
        assert_eq!(s.usage("ns", "a").unwrap(), Usage { count: 1, bytes: 5 });
        assert_eq!(s.usage("none", "").unwrap(), Usage::default());
        let conn = s.conn.lock().unwrap();
        let limit: i64 = conn
            .pragma_query_value(None, "journal_size_limit", |r| r.get(0))
            .unwrap();
        assert_eq!(limit, WAL_SIZE_LIMIT);
    }

    #[test]
    fn values_survive_reopening_and_namespaces_are_apart() {
        let path = temp("reopen");
        {
            let s = SqliteStore::open(&path).unwrap();
            assert_eq!(s.get("a", "x").unwrap(), None);
            assert_eq!(s.set("a", "x", &json!({"k": [1, "é"]})).unwrap(), 1);
            assert_eq!(s.set("a", "x", &json!(2)).unwrap(), 2);
            s.set("b", "x", &json!(true)).unwrap();
        }
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(
            s.get("a", "x").unwrap(),
            Some(Versioned {
                value: json!(2),
                version: 2
            })
        );
        assert_eq!(s.get("b", "x").unwrap().unwrap().value, json!(true));
        assert_eq!(s.names("a").unwrap(), vec!["x".to_string()]);
        assert_eq!(s.compare_and_set("a", "x", 1, &json!(3)).unwrap(), None);
        assert_eq!(s.compare_and_set("a", "x", 2, &json!(3)).unwrap(), Some(3));
        assert_eq!(s.compare_and_set("a", "y", 0, &json!(1)).unwrap(), Some(1));
        assert_eq!(s.compare_and_set("a", "y", 0, &json!(1)).unwrap(), None);
        assert!(s.remove("a", "y").unwrap());
        assert!(!s.remove("a", "y").unwrap());
    }

    #[test]
    fn concurrent_updates_from_two_connections_never_lose_one() {
        let path = temp("concurrent");
        // Two stores on one file: what two processes see.
        let stores: Vec<Arc<SqliteStore>> = (0..2)
            .map(|_| Arc::new(SqliteStore::open(&path).unwrap()))
            .collect();
        let threads: Vec<_> = stores
            .iter()
            .cloned()
            .map(|s| {
                std::thread::spawn(move || {
                    for _ in 0..100 {
                        s.update("n", "counter", &mut |v| {
                            json!(v.and_then(Value::as_i64).unwrap_or(0) + 1)
                        })
                        .unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            stores[0].get("n", "counter").unwrap().unwrap().value,
            json!(200)
        );
    }

    #[test]
    fn many_openers_of_one_new_file_wait_for_each_other() {
        let path = temp("openers");
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let s = SqliteStore::open(&path).unwrap();
                    s.set("n", &format!("v{i}"), &json!(i)).unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(
            SqliteStore::open(&path).unwrap().names("n").unwrap().len(),
            8
        );
    }

    #[test]
    fn a_lazy_store_touches_nothing_until_used_and_retries_after_a_failure() {
        let path = temp("lazy");
        let lazy = SqliteStore::lazy(&path);
        assert!(!path.exists());
        // The directory is a file for now: the first use fails, clearly.
        std::fs::write(path.parent().unwrap(), b"in the way").unwrap();
        let e = lazy.get("n", "x").unwrap_err().to_string();
        assert!(e.contains("cannot create"), "{e}");
        std::fs::remove_file(path.parent().unwrap()).unwrap();
        lazy.set("n", "x", &json!(1)).unwrap();
        assert_eq!(lazy.get("n", "x").unwrap().unwrap().value, json!(1));
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_clear_error() {
        let path = temp("garbage");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, b"this is not sqlite, not at all, no").unwrap();
        let e = SqliteStore::open(&path).unwrap_err().to_string();
        assert!(e.contains("vars.sqlite3"), "{e}");
    }
}
