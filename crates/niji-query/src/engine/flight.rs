//! The cluster engine: an Apache DataFusion Ballista scheduler reached
//! through Arrow Flight SQL.
//!
//! Each sandbox is a Flight SQL session of its own (the handshake gives a
//! token bound to a session catalog on the scheduler). Into it go only the
//! grant's release tables, as external Parquet tables over the release
//! directory's table directories (partition directories are not read as
//! columns, so DataFusion sees the files' schema, as DuckDB does), and the
//! views of the granted columns over them. Queries are the platform's SQL
//! in DataFusion's dialect; each result is read whole from every endpoint
//! before anything is returned, so a query that fails part-way (an
//! executor lost after its retries) returns an error, never part of a
//! result.
//!
//! Flight SQL has no cancellation that Ballista implements, so an
//! interrupted query is also cancelled through the scheduler's REST API
//! (`PATCH /api/job/{id}`), found by the tag its text begins with.

use super::{Dialect, Engine, Running, Source, View};
use crate::QueryError;
use crate::plan::{ident as quote_ident, text_literal as quote_literal};
use arrow_array::RecordBatch;
use arrow_flight::flight_service_client::FlightServiceClient;
use arrow_flight::sql::client::FlightSqlServiceClient;
use futures::TryStreamExt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tonic::transport::{Channel, Endpoint};

/// How long connecting to the scheduler may take.
const CONNECT: Duration = Duration::from_secs(5);

/// How long one REST call to the scheduler may take.
const REST: Duration = Duration::from_secs(2);

/// The Tokio runtime every cluster session's calls run on: two threads,
/// for the whole process. Sessions hand it their futures and wait on a
/// channel, so a caller never blocks inside a runtime of its own.
fn runtime() -> Result<&'static tokio::runtime::Runtime, QueryError> {
    static RUNTIME: OnceLock<Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name("niji-flight")
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(|e| QueryError::Internal(format!("the cluster client's runtime: {e}")))
}

/// Runs `future` on the shared runtime and waits for it.
fn wait<T: Send + 'static>(
    future: impl std::future::Future<Output = T> + Send + 'static,
) -> Result<T, QueryError> {
    let (done, result) = std::sync::mpsc::channel();
    runtime()?.spawn(async move {
        let _ = done.send(future.await);
    });
    result
        .recv()
        .map_err(|_| QueryError::Internal("the cluster client stopped".into()))
}

/// A failure of the cluster as the researcher reads it: its class only
/// (DataFusion's messages can quote values).
fn failed(error: &dyn std::fmt::Display) -> QueryError {
    let text = error.to_string();
    let class = if text.contains("Unavailable") || text.contains("transport error") {
        "the cluster is unavailable"
    } else if text.contains("InvalidArgument") || text.contains("failed to plan") {
        "the cluster could not plan it"
    } else if text.contains("Unimplemented") {
        "the cluster does not implement it"
    } else if text.contains("Cancelled") || text.contains("cancelled") {
        "interrupted"
    } else if text.contains("message length too large") || text.contains("larger than max") {
        "the result is larger than the cluster may send (its gRPC message limit)"
    } else if lost_executor(&text) {
        LOST
    } else {
        "cluster error"
    };
    QueryError::Failed(class.into())
}

/// The largest message niji reads from the cluster (the cluster's own
/// limit must be as large: README, "Analysis on a cluster").
const MAX_MESSAGE: usize = 1 << 30;

/// The class of a failure that an executor's loss caused.
const LOST: &str = "an executor of the cluster was lost";

/// Whether a failure's text says an executor could not be reached (its
/// results or tasks went with it).
fn lost_executor(text: &str) -> bool {
    text.contains("GrpcConnectionError") || text.contains("connecting to Ballista executor")
}

fn rest_agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(REST))
        .http_status_as_error(false)
        .build()
        .into()
}

/// The ids of the executors the scheduler lists; None when it does not
/// answer.
fn executors(agent: &ureq::Agent, rest: &str) -> Option<Vec<String>> {
    let text = agent
        .get(format!("{rest}/api/executors"))
        .call()
        .ok()?
        .body_mut()
        .read_to_string()
        .ok()?;
    let listed: serde_json::Value = serde_json::from_str(&text).ok()?;
    Some(
        listed
            .as_array()?
            .iter()
            .filter_map(|e| e.get("id")?.as_str().map(str::to_owned))
            .collect(),
    )
}

/// Watches the scheduler's executors while a query runs: when one that
/// was there at the start is gone, `lost` is set and the query woken.
/// Ballista reschedules a lost executor's tasks, but a job whose task was
/// running on it can wait for it without end; the query is then tried
/// again rather than left to its timeout.
struct Watch {
    done: Arc<AtomicBool>,
}

impl Watch {
    fn start(running: &Arc<FlightRunning>) -> Watch {
        let done = Arc::new(AtomicBool::new(false));
        let (stop, running) = (Arc::clone(&done), Arc::clone(running));
        std::thread::spawn(move || {
            let agent = rest_agent();
            let Some(before) = executors(&agent, &running.rest) else {
                return;
            };
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(500));
                let now = executors(&agent, &running.rest);
                if now.is_some_and(|now| before.iter().any(|e| !now.contains(e))) {
                    running.lost.store(true, Ordering::SeqCst);
                    running.wake.notify_waiters();
                    return;
                }
            }
        });
        Watch { done }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
    }
}

/// A Flight SQL session on a Ballista scheduler over one grant's views.
pub(crate) struct FlightEngine {
    client: FlightSqlServiceClient<Channel>,
    running: Arc<FlightRunning>,
}

/// The query a session runs now, as a timeout or a cancel reaches it.
struct FlightRunning {
    /// The scheduler's REST API.
    rest: String,
    interrupted: AtomicBool,
    /// Set when an executor was lost during the current attempt.
    lost: AtomicBool,
    wake: tokio::sync::Notify,
    /// The tag of the query running now.
    tag: Mutex<Option<String>>,
}

impl FlightRunning {
    /// Returns when the query is interrupted (true) or an executor was
    /// lost (false).
    async fn stopped(&self) -> bool {
        loop {
            let woken = self.wake.notified();
            if self.interrupted.load(Ordering::SeqCst) {
                return true;
            }
            if self.lost.load(Ordering::SeqCst) {
                return false;
            }
            woken.await;
        }
    }

    /// Cancels the cluster's job of the query tagged `tag`: looked for a
    /// few times, as the scheduler may not have made it a job yet.
    fn cancel_job(rest: String, tag: String) {
        std::thread::spawn(move || {
            let agent = rest_agent();
            for _ in 0..10 {
                let jobs = agent
                    .get(format!("{rest}/api/jobs"))
                    .call()
                    .ok()
                    .and_then(|mut r| r.body_mut().read_to_string().ok())
                    .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).ok());
                let id = jobs.as_ref().and_then(|jobs| {
                    jobs.as_array()?.iter().find_map(|job| {
                        let name = job.get("job_name")?.as_str()?;
                        let running = job.get("status")?.as_str()? == "Running"
                            || job.get("status")?.as_str()? == "Queued";
                        (name.contains(&tag) && running)
                            .then(|| job.get("job_id")?.as_str().map(str::to_owned))
                            .flatten()
                    })
                });
                if let Some(id) = id {
                    let _ = agent.patch(format!("{rest}/api/job/{id}")).send_empty();
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
        });
    }
}

impl Running for FlightRunning {
    fn interrupt(&self) {
        self.interrupted.store(true, Ordering::SeqCst);
        self.wake.notify_waiters();
        let tag = self.tag.lock().ok().and_then(|t| t.clone());
        if let Some(tag) = tag {
            FlightRunning::cancel_job(self.rest.clone(), tag);
        }
    }

    fn progress(&self) -> Option<f64> {
        None
    }
}

/// A fresh tag for a query's text.
fn tag() -> Result<String, QueryError> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 12];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| QueryError::Internal("the system random source failed".into()))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

impl FlightEngine {
    /// A session on the scheduler at `host:port` with the tables of
    /// `sources` that `views` read, and the views. The cluster's memory
    /// and threads are its operator's to size; the timeout and the row
    /// limit hold as on any engine (the sandbox's).
    pub(crate) fn open(
        host: &str,
        port: u16,
        sources: &[Source],
        views: &[View],
        control: &crate::sandbox::Control,
    ) -> Result<FlightEngine, QueryError> {
        control.check()?;
        let mut statements = vec![
            "SET datafusion.execution.listing_table_factory_infer_partitions = false".to_owned(),
        ];
        let mut registered: Vec<(usize, &str)> = Vec::new();
        for v in views {
            let table = format!("r{}_{}", v.source, v.table);
            if !registered.contains(&(v.source, v.table.as_str())) {
                let release = match &sources[v.source] {
                    Source::Parquet(release) => release,
                    Source::File(path) => {
                        return Err(QueryError::Internal(format!(
                            "{}: a single-file release, which only the embedded engine reads; \
                             rebuild it as a release directory",
                            path.display()
                        )));
                    }
                };
                let entry = release.table(&v.table).ok_or_else(|| {
                    QueryError::Internal(format!(
                        "release {}: no table {}",
                        release.dir.display(),
                        v.table
                    ))
                })?;
                statements.push(format!(
                    "CREATE EXTERNAL TABLE {} STORED AS PARQUET LOCATION {}",
                    quote_ident(&table),
                    quote_literal(&format!("{}/", release.table_dir(entry).display()))
                ));
                registered.push((v.source, v.table.as_str()));
            }
            let columns: Vec<String> = v.columns.iter().map(|c| quote_ident(c)).collect();
            statements.push(format!(
                "CREATE VIEW {} AS SELECT {} FROM {}",
                quote_ident(&v.name),
                columns.join(", "),
                quote_ident(&table)
            ));
        }
        let address = format!("http://{host}:{port}");
        let endpoint = Endpoint::from_shared(address.clone())
            .map_err(|_| QueryError::Internal("the cluster engine's address".into()))?
            .connect_timeout(CONNECT);
        let client = wait(async move {
            let channel = endpoint
                .connect()
                .await
                .map_err(|_| QueryError::Failed("the cluster is unavailable".into()))?;
            // A result batch carries each cell's persons: far past tonic's
            // 4 MiB default at national scale.
            let inner = FlightServiceClient::new(channel).max_decoding_message_size(MAX_MESSAGE);
            let mut client = FlightSqlServiceClient::new_from_inner(inner);
            client.handshake("niji", "").await.map_err(|e| failed(&e))?;
            for statement in statements {
                collect(&mut client, &statement, usize::MAX).await?;
            }
            Ok::<_, QueryError>(client)
        })??;
        Ok(FlightEngine {
            client,
            running: Arc::new(FlightRunning {
                rest: address,
                interrupted: AtomicBool::new(false),
                lost: AtomicBool::new(false),
                wake: tokio::sync::Notify::new(),
                tag: Mutex::new(None),
            }),
        })
    }
}

/// Runs `sql` in the session and reads every endpoint to its end: the
/// batches, or None past `max_rows` rows.
async fn collect(
    client: &mut FlightSqlServiceClient<Channel>,
    sql: &str,
    max_rows: usize,
) -> Result<Option<Vec<RecordBatch>>, QueryError> {
    let info = client
        .execute(sql.to_owned(), None)
        .await
        .map_err(|e| failed(&e))?;
    let mut batches = Vec::new();
    let mut rows = 0usize;
    for endpoint in &info.endpoint {
        let Some(ticket) = endpoint.ticket.clone() else {
            continue;
        };
        let mut stream = client.do_get(ticket).await.map_err(|e| failed(&e))?;
        while let Some(batch) = stream.try_next().await.map_err(|e| failed(&e))? {
            rows = rows.saturating_add(batch.num_rows());
            if rows > max_rows {
                return Ok(None);
            }
            batches.push(batch);
        }
    }
    if batches.is_empty() {
        // Ballista's FlightInfo can carry the aggregate's partial state
        // rather than the result's schema: only an empty result, which
        // has no endpoint data to take it from, falls back to it.
        let schema = info
            .try_decode_schema()
            .map_err(|_| QueryError::Internal("the cluster's result schema".into()))?;
        batches.push(RecordBatch::new_empty(Arc::new(schema)));
    }
    Ok(Some(batches))
}

impl FlightEngine {
    /// One run of `sql`, watched for a lost executor.
    fn attempt(&self, sql: &str, max_rows: usize) -> Result<Option<Vec<RecordBatch>>, QueryError> {
        let tag = tag()?;
        if let Ok(mut current) = self.running.tag.lock() {
            *current = Some(tag.clone());
        }
        self.running.lost.store(false, Ordering::SeqCst);
        let watch = Watch::start(&self.running);
        let text = format!("/* niji {tag} */ {sql}");
        let mut client = self.client.clone();
        let running = Arc::clone(&self.running);
        let result = wait(async move {
            tokio::select! {
                result = collect(&mut client, &text, max_rows) => result,
                interrupted = running.stopped() => Err(QueryError::Failed(
                    if interrupted { "interrupted" } else { LOST }.into(),
                )),
            }
        })?;
        drop(watch);
        if self.running.lost.load(Ordering::SeqCst) {
            FlightRunning::cancel_job(self.running.rest.clone(), tag);
        }
        if let Ok(mut current) = self.running.tag.lock() {
            *current = None;
        }
        result
    }
}

impl Engine for FlightEngine {
    fn dialect(&self) -> Dialect {
        Dialect::DataFusion
    }

    fn execute(&self, sql: &str, max_rows: usize) -> Result<Option<Vec<RecordBatch>>, QueryError> {
        // A query an executor's loss stopped is tried once more: the
        // platform's SQL only reads, so a second run gives the whole
        // result or a clear error.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let result = self.attempt(sql, max_rows);
            match &result {
                Err(QueryError::Failed(class)) if class == LOST && attempt == 1 => {
                    tracing::warn!(
                        "an executor of the cluster was lost during a query; trying it again"
                    );
                }
                _ => return result,
            }
        }
    }

    fn running(&self) -> Arc<dyn Running> {
        Arc::clone(&self.running) as Arc<dyn Running>
    }
}
