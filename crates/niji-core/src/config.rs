//! The platform configuration.
//!
//! Values come from four layers, each overriding the one before:
//!
//! 1. built-in defaults;
//! 2. the TOML file (`niji.toml` in the working directory, or the file named
//!    by `--config` / `NIJI_CONFIG`);
//! 3. `NIJI_*` environment variables, one per key (see [`KEYS`]);
//! 4. command-line flags, applied by the binary.
//!
//! Secrets (the keystore passphrase, the admin password) are never
//! configuration keys: they come only from the environment or a prompt, so
//! they cannot end up in a file that is copied around or checked in.

use serde::Deserialize;
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// The name of the configuration file looked for in the working directory.
pub const DEFAULT_FILE: &str = "niji.toml";

/// One configuration key: its dotted name in the TOML file, the environment
/// variable that overrides it, its default and what it means.
///
/// The README's configuration table is written from this list; a test keeps
/// the two in step.
#[derive(Debug, Clone, Copy)]
pub struct Key {
    /// The dotted TOML name, e.g. `log.format`.
    pub name: &'static str,
    /// The environment variable that overrides it.
    pub env: &'static str,
    /// The default, as it would be written in the file.
    pub default: &'static str,
    /// What the key controls.
    pub doc: &'static str,
}

/// Every configuration key.
pub const KEYS: &[Key] = &[
    Key {
        name: "data",
        env: "NIJI_DATA",
        default: "./data",
        doc: "Directory holding everything the platform writes: the control-plane store and its lock, the staging store (`content.duckdb`) and, later, linked sets, releases and the access log. Also `--data`.",
    },
    Key {
        name: "store",
        env: "NIJI_STORE",
        default: "",
        doc: "Where the control plane is (accounts, grants, the DP ledger, the access log): empty for the embedded SQLite file `control.sqlite` in the data directory, or a PostgreSQL URL (`postgres://niji:password@db.example:5432/niji`) shared by several `niji serve` processes. A data directory from before SQLite keeps its `control.duckdb` until `niji store migrate` moves it.",
    },
    Key {
        name: "engine",
        env: "NIJI_ENGINE",
        default: "duckdb",
        doc: "Where analysis queries run: `duckdb` for DuckDB in the server's process, or `flightsql://host:port` for an Apache DataFusion Ballista cluster whose scheduler serves Arrow Flight SQL (`ballista-scheduler --flight-sql`). The cluster's executors must read the data directory's `releases/` at the same path. The same SQL, gate, disclosure control and log either way.",
    },
    Key {
        name: "log.format",
        env: "NIJI_LOG_FORMAT",
        default: "text",
        doc: "`text` for human-readable log lines on standard error, `json` for one JSON object per line. Also `--log-format`.",
    },
    Key {
        name: "log.level",
        env: "NIJI_LOG_LEVEL",
        default: "info",
        doc: "Log filter in tracing's `EnvFilter` syntax, e.g. `warn` or `info,niji_store=debug`. Also `--log-level`.",
    },
    Key {
        name: "server.listen",
        env: "NIJI_LISTEN",
        default: "127.0.0.1:8080",
        doc: "Address and port `niji serve` listens on (port 0 picks a free one and prints it). Also `niji serve --listen`.",
    },
    Key {
        name: "server.behind_tls",
        env: "NIJI_BEHIND_TLS",
        default: "false",
        doc: "`true` when browsers reach the server over HTTPS through a TLS-terminating proxy: session cookies are then marked `Secure`. A request the proxy marks `X-Forwarded-Proto: https` gets a `Secure` cookie either way.",
    },
    Key {
        name: "server.trusted_proxy",
        env: "NIJI_TRUSTED_PROXY",
        default: "",
        doc: "The address of a reverse proxy in front of the server (e.g. `10.0.0.1`): for requests from it, the client's address (used to throttle sign-ins per address) is the last one in `X-Forwarded-For`. Empty: every client is the address it connects from; the header is ignored.",
    },
    Key {
        name: "server.job_after_ms",
        env: "NIJI_JOB_AFTER_MS",
        default: "2000",
        doc: "Milliseconds an analysis request (SQL or DP) is waited for before the answer becomes an asynchronous job: the request then gets 202 with the job's id, to poll at `/api/v1/jobs/{id}` and fetch from `/api/v1/jobs/{id}/result`.",
    },
    Key {
        name: "server.analysis_workers",
        env: "NIJI_ANALYSIS_WORKERS",
        default: "0",
        doc: "Threads that run analysis requests (SQL and DP), at the lowest CPU priority so that lookups, reads and reviews go first. `0`: one per core of the machine.",
    },
    Key {
        name: "server.analysis_queue",
        env: "NIJI_ANALYSIS_QUEUE",
        default: "64",
        doc: "Analysis requests that may wait for a worker. Past them a request gets 429 with `Retry-After` worked out from the queue, before anything runs.",
    },
    Key {
        name: "card.issuer",
        env: "NIJI_CARD_ISSUER",
        default: "",
        doc: "The OpenID provider citizens sign in through with their My Number Card (e.g. the デジタル認証アプリ's issuer URL); its `/.well-known/openid-configuration` is read at each sign-in. Empty: no card sign-in, the enrolment letter only. The client secret is the keystore's `card-client` key (`niji keys import card-client`).",
    },
    Key {
        name: "card.client_id",
        env: "NIJI_CARD_CLIENT_ID",
        default: "",
        doc: "niji's client id at the provider, as registered there.",
    },
    Key {
        name: "card.redirect",
        env: "NIJI_CARD_REDIRECT",
        default: "",
        doc: "The callback URL registered with the provider: this server's public address followed by `/login/card/callback` (e.g. `https://niji.example.jp/login/card/callback`).",
    },
    Key {
        name: "card.scopes",
        env: "NIJI_CARD_SCOPES",
        default: "openid profile",
        doc: "The scopes asked for, space-separated: `openid` and those that give the name in kanji, the birth date and the sex (the provider's documentation names them).",
    },
    Key {
        name: "review.quorum",
        env: "NIJI_REVIEW_QUORUM",
        default: "2",
        doc: "Approvals from review-board members an application needs before its grant is made (at least 1).",
    },
];

/// A control-plane URL. Its `Debug` leaves out the password, so that a
/// logged configuration never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct StoreUrl(String);

impl StoreUrl {
    /// A URL, or none for an empty one.
    pub fn new(url: String) -> Option<Self> {
        let url = url.trim();
        (!url.is_empty()).then(|| Self(url.to_owned()))
    }

    /// The URL, password included: for the store's connection only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (scheme, rest) = self.0.split_once("://").unwrap_or(("", &self.0));
        let authority_end = rest.find('/').unwrap_or(rest.len());
        let host = match rest[..authority_end].rsplit_once('@') {
            Some((_, host)) => host,
            None => &rest[..authority_end],
        };
        write!(f, "StoreUrl({scheme}://…@{host}{})", &rest[authority_end..])
    }
}

fn optional_store<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<StoreUrl>, D::Error> {
    Ok(StoreUrl::new(String::deserialize(d)?))
}

/// The engine analysis queries run on (`engine`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum Engine {
    /// DuckDB in the server's process.
    #[default]
    DuckDb,
    /// A Ballista scheduler serving Arrow Flight SQL at `host:port`
    /// (configured as `flightsql://host:port`).
    FlightSql {
        /// The scheduler's host.
        host: String,
        /// Its Flight SQL (and REST) port.
        port: u16,
    },
}

impl Engine {
    /// Reads `duckdb` or `flightsql://host:port`.
    pub fn parse(text: &str) -> Result<Engine, String> {
        if text == "duckdb" {
            return Ok(Engine::DuckDb);
        }
        let Some(address) = text.strip_prefix("flightsql://") else {
            return Err("the engine is `duckdb` or `flightsql://host:port`".into());
        };
        let (host, port) = address
            .rsplit_once(':')
            .ok_or("the engine's address is host:port")?;
        let valid_host = !host.is_empty()
            && host.len() <= 253
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        if !valid_host {
            return Err("the engine's host is a name or an IPv4 address".into());
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or("the engine's port is a number from 1 to 65535")?;
        Ok(Engine::FlightSql {
            host: host.to_owned(),
            port,
        })
    }
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Engine::DuckDb => f.write_str("duckdb"),
            Engine::FlightSql { host, port } => write!(f, "flightsql://{host}:{port}"),
        }
    }
}

fn engine<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Engine, D::Error> {
    Engine::parse(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The data directory (`data`).
    pub data: PathBuf,
    /// Where the control plane is (`store`): none for the data
    /// directory's embedded store.
    #[serde(deserialize_with = "optional_store")]
    pub store: Option<StoreUrl>,
    /// Where analysis queries run (`engine`).
    #[serde(deserialize_with = "engine")]
    pub engine: Engine,
    /// Logging (`[log]`).
    pub log: LogConfig,
    /// The HTTP server (`[server]`).
    pub server: ServerConfig,
    /// The review board (`[review]`).
    pub review: ReviewConfig,
    /// Sign-in with the My Number Card (`[card]`).
    pub card: CardConfig,
}

/// The `[card]` table: the OpenID provider of the My Number Card.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CardConfig {
    /// `card.issuer` (empty: no card sign-in).
    pub issuer: String,
    /// `card.client_id`.
    pub client_id: String,
    /// `card.redirect`.
    pub redirect: String,
    /// `card.scopes`.
    pub scopes: String,
}

impl Default for CardConfig {
    fn default() -> Self {
        Self {
            issuer: String::new(),
            client_id: String::new(),
            redirect: String::new(),
            scopes: "openid profile".into(),
        }
    }
}

impl CardConfig {
    /// Whether card sign-in is configured; an issuer without a client id
    /// or callback is an error naming what is missing.
    pub fn enabled(&self) -> Result<bool, ConfigError> {
        if self.issuer.is_empty() {
            return Ok(false);
        }
        for (value, key) in [
            (&self.client_id, "card.client_id"),
            (&self.redirect, "card.redirect"),
        ] {
            if value.is_empty() {
                return Err(ConfigError::Incomplete {
                    key: "card.issuer",
                    reason: format!("is set, so `{key}` is needed too"),
                });
            }
        }
        if !self.scopes.split_whitespace().any(|s| s == "openid") {
            return Err(ConfigError::Incomplete {
                key: "card.scopes",
                reason: "must include `openid`".into(),
            });
        }
        Ok(true)
    }
}

/// The `[review]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReviewConfig {
    /// `review.quorum`.
    pub quorum: usize,
}

impl Default for ReviewConfig {
    fn default() -> Self {
        Self { quorum: 2 }
    }
}

/// The `[server]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// `server.listen`.
    pub listen: std::net::SocketAddr,
    /// `server.behind_tls`.
    pub behind_tls: bool,
    /// `server.job_after_ms`.
    pub job_after_ms: u64,
    /// `server.analysis_workers` (0: one per core).
    pub analysis_workers: usize,
    /// `server.analysis_queue`.
    pub analysis_queue: usize,
    /// `server.trusted_proxy`.
    #[serde(deserialize_with = "optional_address")]
    pub trusted_proxy: Option<std::net::IpAddr>,
}

/// A whole number of at least `least` from variable `var`, or an error
/// saying what was `expected`.
fn whole<T: std::str::FromStr + PartialOrd + From<u8>>(
    var: &'static str,
    text: &str,
    least: u8,
    expected: &str,
) -> Result<T, ConfigError> {
    text.parse::<T>()
        .ok()
        .filter(|n| *n >= T::from(least))
        .ok_or_else(|| ConfigError::Env {
            var,
            reason: format!("expected {expected}"),
        })
}

/// An address, or none for an empty string.
fn optional_address<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<std::net::IpAddr>, D::Error> {
    let text = String::deserialize(d)?;
    if text.is_empty() {
        return Ok(None);
    }
    text.parse().map(Some).map_err(serde::de::Error::custom)
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            listen: std::net::SocketAddr::from(([127, 0, 0, 1], 8080)),
            behind_tls: false,
            job_after_ms: 2000,
            analysis_workers: 0,
            analysis_queue: 64,
            trusted_proxy: None,
        }
    }
}

/// The `[log]` table.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// `log.format`.
    pub format: LogFormat,
    /// `log.level`.
    pub level: String,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            data: PathBuf::from("./data"),
            engine: Engine::DuckDb,
            store: None,
            log: LogConfig::default(),
            server: ServerConfig::default(),
            review: ReviewConfig::default(),
            card: CardConfig::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            format: LogFormat::Text,
            level: "info".to_owned(),
        }
    }
}

impl FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("expected `text` or `json`, got `{other}`")),
        }
    }
}

impl fmt::Display for LogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LogFormat::Text => "text",
            LogFormat::Json => "json",
        })
    }
}

/// A configuration that could not be loaded. The message names where the
/// problem is: a file and line, or an environment variable.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has an unknown key or a bad value.
    #[error("{path}: line {line}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the problem.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// An environment variable holds a value the key does not accept.
    #[error("{var}: {reason}")]
    Env {
        /// The variable.
        var: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Keys that only work together are not all set, or conflict.
    #[error("configuration key `{key}`: {reason}")]
    Incomplete {
        /// The key.
        key: &'static str,
        /// What is missing.
        reason: String,
    },
}

impl Config {
    /// Loads the configuration: defaults, then the file, then the environment.
    ///
    /// `file` is the file named on the command line or by `NIJI_CONFIG`; it
    /// must exist. Without it, `niji.toml` in the working directory is read if
    /// it is there. `env` looks up environment variables (a closure, so tests
    /// need not touch the process environment).
    pub fn load(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let named = file
            .map(Path::to_path_buf)
            .or_else(|| env("NIJI_CONFIG").map(PathBuf::from));
        let mut config = match named {
            Some(path) => Self::from_file(&path)?,
            None if Path::new(DEFAULT_FILE).is_file() => Self::from_file(Path::new(DEFAULT_FILE))?,
            None => Config::default(),
        };
        config.apply_env(env)?;
        Ok(config)
    }

    /// Reads one TOML file over the defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml_str(&text, path)
    }

    /// Parses TOML text over the defaults; `origin` names it in errors.
    pub fn from_toml_str(text: &str, origin: impl AsRef<Path>) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|err| ConfigError::Parse {
            path: origin.as_ref().to_path_buf(),
            line: err.span().map_or(1, |span| line_of(text, span.start)),
            reason: err.message().trim().to_owned(),
        })
    }

    fn apply_env(&mut self, env: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        if let Some(data) = env("NIJI_DATA") {
            if data.is_empty() {
                return Err(ConfigError::Env {
                    var: "NIJI_DATA",
                    reason: "is set but empty".to_owned(),
                });
            }
            self.data = PathBuf::from(data);
        }
        if let Some(url) = env("NIJI_STORE") {
            self.store = StoreUrl::new(url);
        }
        if let Some(engine) = env("NIJI_ENGINE") {
            self.engine = Engine::parse(&engine).map_err(|reason| ConfigError::Env {
                var: "NIJI_ENGINE",
                reason,
            })?;
        }
        if let Some(format) = env("NIJI_LOG_FORMAT") {
            self.log.format = format.parse().map_err(|reason| ConfigError::Env {
                var: "NIJI_LOG_FORMAT",
                reason,
            })?;
        }
        if let Some(level) = env("NIJI_LOG_LEVEL") {
            self.log.level = level;
        }
        if let Some(listen) = env("NIJI_LISTEN") {
            self.server.listen = listen.parse().map_err(|err| ConfigError::Env {
                var: "NIJI_LISTEN",
                reason: format!("expected an address and port such as 127.0.0.1:8080: {err}"),
            })?;
        }
        if let Some(tls) = env("NIJI_BEHIND_TLS") {
            self.server.behind_tls = tls.parse().map_err(|_| ConfigError::Env {
                var: "NIJI_BEHIND_TLS",
                reason: "expected true or false".to_owned(),
            })?;
        }
        if let Some(proxy) = env("NIJI_TRUSTED_PROXY") {
            self.server.trusted_proxy = match proxy.as_str() {
                "" => None,
                text => Some(text.parse().map_err(|err| ConfigError::Env {
                    var: "NIJI_TRUSTED_PROXY",
                    reason: format!("expected an IP address such as 10.0.0.1: {err}"),
                })?),
            };
        }
        if let Some(ms) = env("NIJI_JOB_AFTER_MS") {
            self.server.job_after_ms = whole(
                "NIJI_JOB_AFTER_MS",
                &ms,
                0,
                "a whole number of milliseconds",
            )?;
        }
        if let Some(n) = env("NIJI_ANALYSIS_WORKERS") {
            self.server.analysis_workers = whole(
                "NIJI_ANALYSIS_WORKERS",
                &n,
                0,
                "a whole number (0: one per core)",
            )?;
        }
        if let Some(n) = env("NIJI_ANALYSIS_QUEUE") {
            self.server.analysis_queue =
                whole("NIJI_ANALYSIS_QUEUE", &n, 1, "a whole number of 1 or more")?;
        }
        for (var, field) in [
            ("NIJI_CARD_ISSUER", &mut self.card.issuer),
            ("NIJI_CARD_CLIENT_ID", &mut self.card.client_id),
            ("NIJI_CARD_REDIRECT", &mut self.card.redirect),
            ("NIJI_CARD_SCOPES", &mut self.card.scopes),
        ] {
            if let Some(value) = env(var) {
                *field = value;
            }
        }
        if let Some(quorum) = env("NIJI_REVIEW_QUORUM") {
            self.review.quorum = whole(
                "NIJI_REVIEW_QUORUM",
                &quorum,
                1,
                "a whole number of 1 or more",
            )?;
        }
        Ok(())
    }
}

/// The 1-based line holding byte `offset` of `text`.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key| map.get(key).cloned()
    }

    #[test]
    fn the_engine_is_duckdb_or_a_flight_sql_address() {
        let config = Config::from_toml_str(
            "engine = \"flightsql://sched.example:50050\"\n",
            "niji.toml",
        )
        .unwrap();
        assert_eq!(
            config.engine,
            Engine::FlightSql {
                host: "sched.example".into(),
                port: 50050
            }
        );
        assert_eq!(config.engine.to_string(), "flightsql://sched.example:50050");
        let e = Config::from_toml_str("data = \"d\"\nengine = \"spark://x:1\"\n", "niji.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("niji.toml: line 2") && e.contains("flightsql://host:port"),
            "{e}"
        );
        for wrong in [
            "flightsql://h",
            "flightsql://h:0",
            "flightsql://h:99999",
            "flightsql://a b:1",
            "flightsql://:1",
        ] {
            assert!(Engine::parse(wrong).is_err(), "{wrong}");
        }
        let mut config = Config::default();
        config
            .apply_env(env_of(&[("NIJI_ENGINE", "flightsql://127.0.0.1:9")]))
            .unwrap();
        assert_eq!(config.engine.to_string(), "flightsql://127.0.0.1:9");
        assert!(config.apply_env(env_of(&[("NIJI_ENGINE", "x")])).is_err());
    }

    #[test]
    fn a_store_url_never_shows_its_password_in_debug() {
        let url = StoreUrl::new("postgres://niji:s3cret@db.example:5432/niji".into()).unwrap();
        let shown = format!("{url:?}");
        assert!(
            !shown.contains("s3cret") && shown.contains("db.example:5432/niji"),
            "{shown}"
        );
        let mut config = Config::default();
        config
            .apply_env(env_of(&[("NIJI_STORE", "postgres://a:b@h/d")]))
            .unwrap();
        assert_eq!(
            config.store.as_ref().map(StoreUrl::expose),
            Some("postgres://a:b@h/d")
        );
        assert!(!format!("{config:?}").contains(":b@"));
    }

    #[test]
    fn defaults_match_the_documented_keys() {
        let config = Config::default();
        let documented = |name: &str| KEYS.iter().find(|k| k.name == name).unwrap().default;
        assert_eq!(config.data, PathBuf::from(documented("data")));
        assert_eq!(config.log.format.to_string(), documented("log.format"));
        assert_eq!(config.log.level, documented("log.level"));
        assert_eq!(config.engine.to_string(), documented("engine"));
        assert_eq!(
            config.server.listen.to_string(),
            documented("server.listen")
        );
        assert_eq!(
            config.review.quorum.to_string(),
            documented("review.quorum")
        );
        assert_eq!(
            config.server.behind_tls.to_string(),
            documented("server.behind_tls")
        );
        assert_eq!(
            config.server.job_after_ms.to_string(),
            documented("server.job_after_ms")
        );
        assert_eq!(
            config.server.analysis_workers.to_string(),
            documented("server.analysis_workers")
        );
        assert_eq!(
            config.server.analysis_queue.to_string(),
            documented("server.analysis_queue")
        );
        assert_eq!(
            config
                .server
                .trusted_proxy
                .map(|a| a.to_string())
                .unwrap_or_default(),
            documented("server.trusted_proxy")
        );
        assert_eq!(config.card.issuer, documented("card.issuer"));
        assert_eq!(config.card.client_id, documented("card.client_id"));
        assert_eq!(config.card.redirect, documented("card.redirect"));
        assert_eq!(config.card.scopes, documented("card.scopes"));
        assert_eq!(config.card.enabled().ok(), Some(false));
    }

    #[test]
    fn every_key_is_overridden_by_its_variable() {
        let vars: Vec<(&str, &str)> = vec![
            ("NIJI_DATA", "/var/lib/niji"),
            ("NIJI_LOG_FORMAT", "json"),
            ("NIJI_LOG_LEVEL", "debug"),
            ("NIJI_LISTEN", "0.0.0.0:9000"),
            ("NIJI_REVIEW_QUORUM", "3"),
            ("NIJI_BEHIND_TLS", "true"),
            ("NIJI_JOB_AFTER_MS", "0"),
            ("NIJI_ANALYSIS_WORKERS", "3"),
            ("NIJI_ANALYSIS_QUEUE", "10"),
            ("NIJI_TRUSTED_PROXY", "10.0.0.1"),
            ("NIJI_STORE", "postgres://niji@db/niji"),
            ("NIJI_ENGINE", "flightsql://scheduler:50050"),
            ("NIJI_CARD_ISSUER", "https://op.example"),
            ("NIJI_CARD_CLIENT_ID", "niji"),
            (
                "NIJI_CARD_REDIRECT",
                "https://niji.example/login/card/callback",
            ),
            ("NIJI_CARD_SCOPES", "openid name birthdate gender"),
        ];
        assert_eq!(vars.len(), KEYS.len(), "a key without an override test");
        let mut config = Config::from_toml_str("data = \"/elsewhere\"\n", "niji.toml").unwrap();
        config.apply_env(env_of(&vars)).unwrap();
        assert_eq!(config.data, PathBuf::from("/var/lib/niji"));
        assert_eq!(
            config.store.as_ref().map(StoreUrl::expose),
            Some("postgres://niji@db/niji")
        );
        assert_eq!(config.log.format, LogFormat::Json);
        assert_eq!(config.log.level, "debug");
        assert_eq!(config.server.listen.to_string(), "0.0.0.0:9000");
        assert_eq!(config.review.quorum, 3);
        assert!(config.server.behind_tls);
        assert_eq!(
            config.server.trusted_proxy,
            Some(std::net::IpAddr::from([10, 0, 0, 1]))
        );
        assert_eq!(config.server.job_after_ms, 0);
        assert_eq!(config.server.analysis_workers, 3);
        assert_eq!(config.server.analysis_queue, 10);
        assert_eq!(config.engine.to_string(), "flightsql://scheduler:50050");
        assert_eq!(config.card.issuer, "https://op.example");
        assert_eq!(config.card.client_id, "niji");
        assert_eq!(
            config.card.redirect,
            "https://niji.example/login/card/callback"
        );
        assert_eq!(config.card.scopes, "openid name birthdate gender");
        assert_eq!(config.card.enabled().ok(), Some(true));
        config.card.client_id.clear();
        assert!(config.card.enabled().is_err());
    }

    #[test]
    fn file_values_override_defaults_and_keep_the_rest() {
        let config = Config::from_toml_str("[log]\nlevel = \"warn\"\n", "niji.toml").unwrap();
        assert_eq!(config.log.level, "warn");
        assert_eq!(config.log.format, LogFormat::Text);
        assert_eq!(config.data, PathBuf::from("./data"));
    }

    #[test]
    fn unknown_key_names_file_and_line() {
        let text = "data = \"./d\"\n\n[log]\nformat = \"text\"\ncolour = true\n";
        let err = Config::from_toml_str(text, "conf/niji.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("conf/niji.toml: line 5: "), "{msg}");
        assert!(msg.contains("colour"), "{msg}");
    }

    #[test]
    fn bad_value_names_its_line() {
        let err = Config::from_toml_str("[log]\nformat = \"xml\"\n", "niji.toml").unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("niji.toml: line 2: "), "{msg}");
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let mut config = Config::default();
        let err = config
            .apply_env(env_of(&[("NIJI_LOG_FORMAT", "xml")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "NIJI_LOG_FORMAT: expected `text` or `json`, got `xml`"
        );
    }

    #[test]
    fn a_named_file_must_exist() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent.toml");
        let err = Config::load(Some(&missing), env_of(&[])).unwrap_err();
        assert!(err.to_string().starts_with(&missing.display().to_string()));
    }

    #[test]
    fn niji_config_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("site.toml");
        std::fs::write(&file, "data = \"/srv/site\"\n").unwrap();
        let config =
            Config::load(None, env_of(&[("NIJI_CONFIG", file.to_str().unwrap())])).unwrap();
        assert_eq!(config.data, PathBuf::from("/srv/site"));
    }
}
