//! The shared backend: a PostgreSQL database several servers use at once.
//!
//! Every transaction takes one transaction-level advisory lock,
//! [`WRITER_LOCK`], before anything else, so that the servers change the
//! control plane one transaction at a time (see [`super`]); PostgreSQL
//! frees it at commit or rollback, and when a server's connection dies.

use super::{Row, Value};
use crate::StoreError;
use postgres::types::{IsNull, ToSql, Type, private::BytesMut};
use postgres::{Client, Config, NoTls, Statement};
use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error;
use std::time::Duration;

/// The advisory lock key of the platform's one writer ("niji" in ASCII).
pub(crate) const WRITER_LOCK: i64 = 0x6e69_6a69;

/// The oldest PostgreSQL the control plane runs on (`server_version_num`):
/// 15, as Debian 12 ships it.
pub(crate) const OLDEST_SERVER: i32 = 150_000;

/// How long a connection attempt waits for the server.
const CONNECT_WAIT: Duration = Duration::from_secs(10);

pub(crate) struct Postgres {
    /// Always `Some` until dropped (see the `Drop` impl).
    client: RefCell<Option<Client>>,
    statements: RefCell<HashMap<String, Statement>>,
    name: String,
}

/// A URL as messages show it: user, host, port and database, never the
/// password (nor a URL that does not parse, which may hold one).
pub(crate) fn display_url(url: &str) -> String {
    let Ok(config) = url.parse::<Config>() else {
        return "postgres://(a URL that does not parse)".to_owned();
    };
    let host = config
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".to_owned());
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "postgres://{}@{host}:{port}/{}",
        config.get_user().unwrap_or(""),
        config.get_dbname().unwrap_or("")
    )
}

impl ToSql for Value {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn Error + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(v) => match *ty {
                Type::INT2 => i16::try_from(*v)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(*v)?.to_sql(ty, out),
                Type::FLOAT8 => (*v as f64).to_sql(ty, out),
                // SQLite's booleans, copied by `niji store migrate`.
                Type::BOOL => (*v != 0).to_sql(ty, out),
                _ => v.to_sql(ty, out),
            },
            Value::Real(v) => v.to_sql(ty, out),
            // SQLite's timestamps and dates are text (see `super`).
            Value::Text(s) if *ty == Type::TIMESTAMPTZ => super::parse_time_text(s)
                .ok_or("a timestamp that does not parse")?
                .to_sql(ty, out),
            Value::Text(s) if *ty == Type::DATE => {
                chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")?.to_sql(ty, out)
            }
            Value::Text(s) => s.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
            Value::Bool(b) => b.to_sql(ty, out),
            Value::Time(t) => t.to_sql(ty, out),
            Value::Date(d) => d.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        // Checked per value in `to_sql`, which reports a mismatch.
        true
    }

    postgres::types::to_sql_checked!();
}

fn read(row: &postgres::Row, i: usize) -> Result<Value, postgres::Error> {
    let ty = row.columns()[i].type_().clone();
    Ok(match ty {
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)?
            .map(|v| Value::Int(v.into())),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)?
            .map(|v| Value::Int(v.into())),
        Type::INT8 => row.try_get::<_, Option<i64>>(i)?.map(Value::Int),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)?
            .map(|v| Value::Real(v.into())),
        Type::FLOAT8 => row.try_get::<_, Option<f64>>(i)?.map(Value::Real),
        Type::BOOL => row.try_get::<_, Option<bool>>(i)?.map(Value::Bool),
        Type::BYTEA => row.try_get::<_, Option<Vec<u8>>>(i)?.map(Value::Blob),
        Type::TIMESTAMPTZ => row
            .try_get::<_, Option<chrono::DateTime<chrono::Utc>>>(i)?
            .map(Value::Time),
        Type::TIMESTAMP => row
            .try_get::<_, Option<chrono::NaiveDateTime>>(i)?
            .map(|t| Value::Time(t.and_utc())),
        Type::DATE => row
            .try_get::<_, Option<chrono::NaiveDate>>(i)?
            .map(Value::Date),
        // TEXT, VARCHAR, NAME, BPCHAR; anything else fails here, naming
        // its type (a `numeric` sum wants a cast to BIGINT).
        _ => row.try_get::<_, Option<String>>(i)?.map(Value::Text),
    }
    .unwrap_or(Value::Null))
}

impl Postgres {
    pub(crate) fn connect(url: &str) -> Result<Self, StoreError> {
        let name = display_url(url);
        let failed = |reason: String| StoreError::Connect {
            store: name.clone(),
            reason,
        };
        let mut config: Config = url.parse().map_err(|_| {
            failed("not a PostgreSQL URL (postgres://user:password@host:port/database)".into())
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_WAIT);
        }
        config.application_name("niji");
        // PostgreSQL's notices ("relation … already exists, skipping") are
        // not news to an operator.
        config.options("-c client_min_messages=warning");
        let mut client = config.connect(NoTls).map_err(|e| failed(message(&e)))?;
        let version: i32 = client
            .query_one("SELECT current_setting('server_version_num')::int", &[])
            .and_then(|row| row.try_get(0))
            .map_err(|e| failed(message(&e)))?;
        if version < OLDEST_SERVER {
            return Err(failed(format!(
                "PostgreSQL {}.{} is older than the {} this niji needs; nothing was written",
                version / 10_000,
                version % 10_000,
                OLDEST_SERVER / 10_000
            )));
        }
        Ok(Self {
            client: RefCell::new(Some(client)),
            statements: RefCell::new(HashMap::new()),
            name,
        })
    }

    fn client(&self) -> std::cell::RefMut<'_, Client> {
        std::cell::RefMut::map(self.client.borrow_mut(), |c| {
            c.as_mut().expect("a connection is only taken when dropped")
        })
    }

    fn error(&self, e: &postgres::Error) -> StoreError {
        StoreError::Query(format!("{}: {}", self.name, message(e)))
    }

    fn statement(&self, sql: &str) -> Result<Statement, StoreError> {
        if let Some(stmt) = self.statements.borrow().get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.client().prepare(sql).map_err(|e| self.error(&e))?;
        self.statements
            .borrow_mut()
            .insert(sql.to_owned(), stmt.clone());
        Ok(stmt)
    }

    pub(crate) fn execute(&self, sql: &str, params: &[Value]) -> Result<usize, StoreError> {
        let stmt = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as _).collect();
        let n = self
            .client()
            .execute(&stmt, &params)
            .map_err(|e| self.error(&e))?;
        Ok(n as usize)
    }

    pub(crate) fn query(&self, sql: &str, params: &[Value]) -> Result<Vec<Row>, StoreError> {
        let stmt = self.statement(sql)?;
        let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as _).collect();
        let rows = self
            .client()
            .query(&stmt, &params)
            .map_err(|e| self.error(&e))?;
        rows.iter()
            .map(|row| {
                (0..row.len())
                    .map(|i| read(row, i))
                    .collect::<Result<Vec<_>, _>>()
                    .map(Row)
                    .map_err(|e| self.error(&e))
            })
            .collect()
    }

    pub(crate) fn batch(&self, sql: &str) -> Result<(), StoreError> {
        self.client().batch_execute(sql).map_err(|e| self.error(&e))
    }

    /// `BEGIN` and the writer lock, in one round trip.
    pub(crate) fn begin_locked(&self) -> Result<(), StoreError> {
        self.batch(&format!(
            "BEGIN; SELECT pg_advisory_xact_lock({WRITER_LOCK})"
        ))
    }
}

/// The synchronous client runs a runtime of its own, which may not be
/// dropped inside an async context (a server's store is dropped as its
/// runtime shuts down): the client is closed on a thread of its own.
impl Drop for Postgres {
    fn drop(&mut self) {
        if let Some(client) = self.client.get_mut().take() {
            let closed = std::thread::spawn(move || drop(client)).join();
            if closed.is_err() {
                tracing::warn!(store = %self.name, "closing a PostgreSQL connection failed");
            }
        }
    }
}

/// A driver error as a message: PostgreSQL's own message and SQLSTATE, and
/// not its DETAIL, which quotes the values of a violated key.
fn message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => match e.source() {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}
