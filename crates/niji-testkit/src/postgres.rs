//! A throwaway PostgreSQL cluster on loopback, for the tests that run the
//! control plane on PostgreSQL.
//!
//! The cluster is Debian's PostgreSQL (`initdb`, `pg_ctl`, `psql` from
//! `/usr/lib/postgresql/<version>/bin`, or the directory `NIJI_PG_BIN`
//! names). `initdb` runs once per machine into a template under the system's
//! temporary directory; each [`Cluster`] copies it, starts a postmaster on
//! a free loopback port with its socket in its own directory, and stops it
//! (immediate mode) and removes everything when dropped. PostgreSQL refuses
//! to run as root, so where the tests run as root every PostgreSQL program
//! runs as the `postgres` user through `runuser`.
//!
//! The superuser `postgres` logs in over TCP with [`SUPERUSER_PASSWORD`]
//! (scram-sha-256); the cluster listens on 127.0.0.1 only.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The superuser's password in every test cluster. The clusters listen on
/// loopback only and live for one test.
pub const SUPERUSER_PASSWORD: &str = "niji-test-cluster";

/// The directory of PostgreSQL's programs: `NIJI_PG_BIN`, else Debian's
/// newest `/usr/lib/postgresql/<version>/bin`.
pub fn bin_dir() -> io::Result<PathBuf> {
    if let Some(dir) = std::env::var_os("NIJI_PG_BIN") {
        return Ok(PathBuf::from(dir));
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("/usr/lib/postgresql: {e} (install the `postgresql` package)"),
            )
        })?
        .filter_map(|e| {
            let e = e.ok()?;
            let version = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).ok_or_else(|| {
        io::Error::other(
            "no PostgreSQL under /usr/lib/postgresql: install the `postgresql` package",
        )
    })
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// A PostgreSQL program, as the `postgres` user when we are root.
fn program(bin: &Path, name: &str) -> Command {
    if running_as_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(bin.join(name));
        cmd
    } else {
        Command::new(bin.join(name))
    }
}

fn run(mut cmd: Command, what: &str) -> io::Result<Output> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )));
    }
    Ok(out)
}

/// Gives a path to the `postgres` user when we are root.
fn hand_over(path: &Path) -> io::Result<()> {
    if running_as_root() {
        run(
            {
                let mut c = Command::new("chown");
                c.args(["-R", "postgres:postgres"]).arg(path);
                c
            },
            "chown",
        )?;
    }
    Ok(())
}

/// The initialized data directory every cluster starts from, made once.
fn template(bin: &Path) -> io::Result<PathBuf> {
    let root = std::env::temp_dir().join("niji-pg-template");
    std::fs::create_dir_all(&root)?;
    let lock = File::create(root.join("lock"))?;
    lock.lock()?;
    let version = run(
        {
            let mut c = Command::new(bin.join("initdb"));
            c.arg("--version");
            c
        },
        "initdb --version",
    )?;
    let version: String = String::from_utf8_lossy(&version.stdout)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    let data = root.join(version);
    if data.join("PG_VERSION").exists() && root.join("complete").exists() {
        return Ok(data);
    }
    let _ = std::fs::remove_file(root.join("complete"));
    if data.exists() {
        std::fs::remove_dir_all(&data)?;
    }
    let pwfile = root.join("pwfile");
    std::fs::write(&pwfile, SUPERUSER_PASSWORD)?;
    // The postgres user must reach the template through /tmp.
    hand_over(&root)?;
    let mut initdb = program(bin, "initdb");
    initdb
        .arg("-D")
        .arg(&data)
        .args(["-U", "postgres", "-E", "UTF8", "--locale=C"])
        .args(["--auth-local=trust", "--auth-host=scram-sha-256"])
        .arg(format!("--pwfile={}", pwfile.display()));
    run(initdb, "initdb")?;
    std::fs::remove_file(&pwfile)?;
    File::create(root.join("complete"))?;
    Ok(data)
}

/// A running throwaway cluster; stopped and removed when dropped.
pub struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Cluster {
    /// Starts a new cluster on a free loopback port.
    pub fn start() -> io::Result<Self> {
        let bin = bin_dir()?;
        let template = template(&bin)?;
        let dir = std::env::temp_dir().join(format!(
            "niji-pg-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        let data = dir.join("data");
        std::fs::create_dir_all(&dir)?;
        run(
            {
                let mut c = Command::new("cp");
                c.arg("-a").arg(&template).arg(&data);
                c
            },
            "copying the template cluster",
        )?;
        hand_over(&dir)?;
        let cluster = Self { bin, dir, port: 0 };
        cluster.start_on_free_port()
    }

    fn start_on_free_port(mut self) -> io::Result<Self> {
        // A port another process takes between here and the postmaster's
        // bind makes pg_ctl fail; try a few.
        let mut last = None;
        for _ in 0..5 {
            let port = std::net::TcpListener::bind("127.0.0.1:0")?
                .local_addr()?
                .port();
            let mut start = program(&self.bin, "pg_ctl");
            start
                .arg("-D")
                .arg(self.dir.join("data"))
                .arg("-l")
                .arg(self.dir.join("server.log"))
                .args(["-w", "-t", "60", "-o"])
                .arg(format!(
                    "-p {port} -k {} -c listen_addresses=127.0.0.1",
                    self.dir.display()
                ))
                .arg("start");
            match run(start, "pg_ctl start") {
                Ok(_) => {
                    self.port = port;
                    return Ok(self);
                }
                Err(e) => last = Some(e),
            }
        }
        let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
        Err(io::Error::other(format!(
            "{}; server log:\n{log}",
            last.map(|e| e.to_string()).unwrap_or_default()
        )))
    }

    /// The cluster's data directory (its files on disk).
    pub fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// The loopback port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A URL for `database` as the superuser.
    pub fn url(&self, database: &str) -> String {
        format!(
            "postgres://postgres:{SUPERUSER_PASSWORD}@127.0.0.1:{}/{database}",
            self.port
        )
    }

    /// Runs SQL as the superuser over the cluster's socket (`psql`).
    pub fn psql(&self, database: &str, sql: &str) -> io::Result<String> {
        let mut psql = program(&self.bin, "psql");
        psql.arg("-h")
            .arg(&self.dir)
            .args([
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                database,
            ])
            .args(["-v", "ON_ERROR_STOP=1", "-At", "-c", sql]);
        let out = run(psql, "psql")?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// Every row of every table of `database`, as `pg_dump --data-only`
    /// writes them: `COPY` blocks of tab-separated text values.
    pub fn dump(&self, database: &str) -> io::Result<String> {
        let mut dump = program(&self.bin, "pg_dump");
        dump.arg("-h")
            .arg(&self.dir)
            .args(["-p", &self.port.to_string(), "-U", "postgres"])
            .args(["--data-only", "--no-owner", database]);
        let out = run(dump, "pg_dump")?;
        String::from_utf8(out.stdout).map_err(|e| io::Error::other(format!("pg_dump: {e}")))
    }

    /// Creates an empty database and returns its URL.
    pub fn create_database(&self, name: &str) -> io::Result<String> {
        self.psql("postgres", &format!("CREATE DATABASE {name}"))?;
        Ok(self.url(name))
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let mut stop = program(&self.bin, "pg_ctl");
        stop.arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "stop"]);
        let _ = stop.output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The control-plane backend the tests run on: `NIJI_TEST_BACKEND`,
/// `sqlite` (the default) or `postgres`. CI runs the store's tests and the
/// API's once on each.
pub fn backend_is_postgres() -> bool {
    std::env::var("NIJI_TEST_BACKEND").is_ok_and(|b| b == "postgres")
}

/// Where a test's control plane lives: nothing to set up on SQLite (the
/// data directory's file); on PostgreSQL a cluster of the test's own with
/// an empty database `niji`, stopped when this is dropped.
pub struct TestStore {
    cluster: Option<Cluster>,
    url: Option<String>,
}

impl TestStore {
    /// The backend `NIJI_TEST_BACKEND` names.
    pub fn new() -> io::Result<Self> {
        if !backend_is_postgres() {
            return Ok(Self {
                cluster: None,
                url: None,
            });
        }
        Self::on_postgres()
    }

    /// PostgreSQL, whatever `NIJI_TEST_BACKEND` says: for the tests that
    /// are about several processes on one database.
    pub fn on_postgres() -> io::Result<Self> {
        let cluster = Cluster::start()?;
        let url = cluster.create_database("niji")?;
        Ok(Self {
            cluster: Some(cluster),
            url: Some(url),
        })
    }

    /// The `store` URL to configure, or none for the embedded store.
    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// The cluster, on PostgreSQL.
    pub fn cluster(&self) -> Option<&Cluster> {
        self.cluster.as_ref()
    }
}
