//! A loopback Apache DataFusion Ballista cluster, for the tests that run
//! analysis on the cluster engine.
//!
//! The processes are Ballista's own `ballista-scheduler` (with Flight SQL
//! on its port) and `ballista-executor` binaries, built once per machine
//! by `.ci/run` (`cargo install --locked` at [`VERSION`]) into
//! `ballista/<VERSION>/bin` beside the build directory, or wherever
//! `NIJI_BALLISTA_BIN` says. A [`Cluster`] starts one scheduler and the
//! executors asked for on free loopback ports, each with a work directory
//! of its own, waits until the scheduler lists every executor, and kills
//! them all and removes their directories when dropped.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Ballista release `.ci/run` builds.
pub const VERSION: &str = "55.0.0";

/// The directory of Ballista's binaries: `NIJI_BALLISTA_BIN`, else
/// `ballista/<VERSION>/bin` beside `CARGO_TARGET_DIR` (or beside
/// `~/.cache/niji/target`, `.ci/run`'s default).
pub fn bin_dir() -> io::Result<PathBuf> {
    let dir = match std::env::var_os("NIJI_BALLISTA_BIN") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/niji/target"))
                })
                .ok_or_else(|| io::Error::other("neither CARGO_TARGET_DIR nor HOME is set"))?;
            target
                .parent()
                .unwrap_or(Path::new("."))
                .join("ballista")
                .join(VERSION)
                .join("bin")
        }
    };
    for program in ["ballista-scheduler", "ballista-executor"] {
        if !dir.join(program).is_file() {
            return Err(io::Error::other(format!(
                "{}: no {program}; `bash .ci/run` builds Ballista {VERSION} there (or set NIJI_BALLISTA_BIN)",
                dir.display()
            )));
        }
    }
    Ok(dir)
}

/// Whether the tests run analysis on a cluster: `NIJI_TEST_ENGINE=ballista`
/// (CI runs the hostile corpus and the authorization matrix so); otherwise
/// the embedded engine.
pub fn engine_is_ballista() -> bool {
    std::env::var("NIJI_TEST_ENGINE").is_ok_and(|e| e == "ballista")
}

/// A port of 127.0.0.1 that was free when asked: the caller binds it soon
/// after (another process could take it in between, which a test would
/// see as a failure to start).
pub fn free_port() -> io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// The largest gRPC message the cluster's processes send or take: 1 GiB,
/// not Ballista's 16 MiB. A result batch carries each cell's persons (one
/// row of a 10⁸-claim join held 10⁷ of them), and Ballista's scheduler
/// relays results through a client bound by these limits.
pub const GRPC_MESSAGE: &str = "1073741824";

/// The scheduler's and executors' server-side message limits.
const MESSAGE_LIMITS: [&str; 4] = [
    "--grpc-server-max-decoding-message-size",
    GRPC_MESSAGE,
    "--grpc-server-max-encoding-message-size",
    GRPC_MESSAGE,
];

/// A running loopback cluster.
pub struct Cluster {
    dir: PathBuf,
    port: u16,
    scheduler: Child,
    executors: Vec<Option<Child>>,
}

impl Cluster {
    /// Starts a scheduler and `executors` executors (one task slot each)
    /// and waits until the scheduler lists them all.
    pub fn start(executors: usize) -> io::Result<Cluster> {
        Cluster::start_with(executors, 1)
    }

    /// [`Cluster::start`] with `slots` task slots per executor.
    pub fn start_with(executors: usize, slots: usize) -> io::Result<Cluster> {
        let bin = bin_dir()?;
        let dir = std::env::temp_dir().join(format!(
            "niji-ballista-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        ));
        std::fs::create_dir_all(&dir)?;
        let port = free_port()?;
        let logs = dir.clone();
        let log = |name: &str| -> io::Result<Stdio> {
            Ok(Stdio::from(std::fs::File::create(
                logs.join(format!("{name}.log")),
            )?))
        };
        let scheduler = Command::new(bin.join("ballista-scheduler"))
            .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
            .args(["--bind-port", &port.to_string(), "--flight-sql"])
            // A lost executor is noticed within seconds, not minutes.
            .args(["--executor-timeout-seconds", "6"])
            // Pull-based scheduling, as the README recommends: with
            // push-based scheduling an executor lost while it ran a task
            // left every later job of the cluster waiting (Ballista 55).
            .args(["--scheduler-policy", "pull-staged"])
            .args(["--expire-dead-executor-interval-seconds", "1"])
            .args(MESSAGE_LIMITS)
            .args(["--grpc-client-max-message-size", GRPC_MESSAGE])
            .stdin(Stdio::null())
            .stdout(log("scheduler")?)
            .stderr(log("scheduler.err")?)
            .spawn()?;
        let mut cluster = Cluster {
            dir,
            port,
            scheduler,
            executors: Vec::new(),
        };
        cluster.wait_for(|body| body.starts_with('['), "the scheduler's REST API")?;
        for i in 0..executors {
            let work = cluster.dir.join(format!("executor-{i}"));
            std::fs::create_dir_all(&work)?;
            let child = Command::new(bin.join("ballista-executor"))
                .args(["--scheduler-host", "127.0.0.1"])
                .args(["--scheduler-port", &port.to_string()])
                .args(["--bind-host", "127.0.0.1", "--external-host", "127.0.0.1"])
                .args(["--bind-port", &free_port()?.to_string()])
                .args(["--bind-grpc-port", &free_port()?.to_string()])
                .args(["--bind-health-port", &free_port()?.to_string()])
                .args(["--vcores", &slots.max(1).to_string()])
                .args(["--executor-heartbeat-interval-seconds", "2"])
                .args(["--task-scheduling-policy", "pull-staged"])
                .args(MESSAGE_LIMITS)
                .arg("--work-dir")
                .arg(&work)
                .stdin(Stdio::null())
                .stdout(log(&format!("executor-{i}"))?)
                .stderr(log(&format!("executor-{i}.err"))?)
                .spawn()?;
            cluster.executors.push(Some(child));
        }
        cluster.wait_for(
            |body| body.matches("\"id\"").count() >= executors,
            "every executor registered",
        )?;
        Ok(cluster)
    }

    /// The engine setting that points niji at it.
    pub fn engine(&self) -> String {
        format!("flightsql://127.0.0.1:{}", self.port)
    }

    /// Kills executor `i` (SIGKILL), as a machine that fails does.
    pub fn kill_executor(&mut self, i: usize) -> io::Result<()> {
        if let Some(mut child) = self.executors.get_mut(i).and_then(Option::take) {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// A GET of the scheduler's REST API: the body.
    pub fn rest(&self, path: &str) -> io::Result<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        Ok(response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default())
    }

    /// The scheduler's and executors' logs, for a failing test's message.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        if let Ok(entries) = std::fs::read_dir(&self.dir) {
            for entry in entries.flatten() {
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "log") {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    let tail: Vec<&str> = text.lines().rev().take(20).collect();
                    out.push_str(&format!("== {}\n", path.display()));
                    for line in tail.into_iter().rev() {
                        out.push_str(line);
                        out.push('\n');
                    }
                }
            }
        }
        out
    }

    fn wait_for(&mut self, ready: impl Fn(&str) -> bool, what: &str) -> io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.scheduler.try_wait()? {
                return Err(io::Error::other(format!(
                    "the scheduler exited ({status}) before {what}:\n{}",
                    self.logs()
                )));
            }
            if self.rest("/api/executors").is_ok_and(|b| ready(&b)) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(io::Error::other(format!(
                    "no {what} within 60 s:\n{}",
                    self.logs()
                )));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in self.executors.iter_mut().flatten() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = self.scheduler.kill();
        let _ = self.scheduler.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
