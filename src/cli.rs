//! The command line.

use clap::{Args, Parser, Subcommand, ValueEnum};
use niji_core::config::{Config, LogFormat};
use niji_synth::{Noise, Rates, SynthConfig};
use std::path::PathBuf;

/// niji (二次): secondary use of Japanese health data.
///
/// Configuration comes from niji.toml (or --config), then NIJI_* environment
/// variables, then these flags. Secrets come only from the environment
/// (NIJI_PASSPHRASE, NIJI_ADMIN_PASSWORD) or a prompt on a terminal.
#[derive(Debug, Parser)]
#[command(name = "niji", version)]
pub struct Cli {
    /// Data directory holding everything niji writes [env: NIJI_DATA] [default: ./data]
    #[arg(long, global = true, value_name = "DIR")]
    pub data: Option<PathBuf>,

    /// Configuration file [env: NIJI_CONFIG] [default: ./niji.toml if present]
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Log line format on standard error [env: NIJI_LOG_FORMAT] [default: text]
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormatArg>,

    /// Log filter, e.g. `warn` or `info,niji_store=debug` [env: NIJI_LOG_LEVEL] [default: info]
    #[arg(long, global = true, value_name = "FILTER")]
    pub log_level: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

/// `--log-format` values.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormatArg {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// A working platform on synthetic data in one command: population, ingest, linkage, two releases, demo accounts, an approved project, queries; then serve
    Demo(DemoArgs),
    /// Create the data directory, the control-plane store, the keystore, the platform keys and the admin account
    Init(InitArgs),
    /// Report on the data directory: store, migrations, keys and accounts
    Status(ReportArgs),
    /// Keystore operations
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Generate a synthetic population and its source files, with ground truth
    Synth(SynthArgs),
    /// Ingest source files (レセ電, DPC, care, checkups, FHIR, eligibility) into the staging store
    Ingest(IngestArgs),
    /// Link the staged records into persons (stable person keys); with --truth, measure each strategy
    Link(LinkArgs),
    /// Credentials of inbound source systems (electronic charts posting FHIR Bundles)
    #[command(subcommand)]
    Sources(SourcesCommand),
    /// Start the HTTP server: `POST /fhir/Bundle` for source systems
    Serve(ServeArgs),
    /// Anonymized and pseudonymized releases: build, list, export, re-identify
    #[command(subcommand)]
    Release(ReleaseCommand),
    /// Accounts of admins, reviewers, researchers and citizens
    #[command(subcommand)]
    Accounts(AccountsCommand),
    /// Research organizations, and whether each is certified for the pseudonymized tier
    #[command(subcommand)]
    Organizations(OrganizationsCommand),
    /// The access log: a Merkle tree over every audit event
    #[command(subcommand)]
    Log(LogCommand),
    /// The control-plane store itself: copy a platform to another backend
    #[command(subcommand)]
    Store(StoreCommand),
}

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Copy this platform's control plane (the configured store) into an empty store on another backend, whole or not at all, and verify its access log there
    Migrate(StoreMigrateArgs),
}

#[derive(Debug, Args)]
pub struct StoreMigrateArgs {
    /// Where to: `postgres://user:password@host:port/database`, or `sqlite` for the data directory's control.sqlite. From NIJI_STORE_TO when not given: a password on the command line is visible to the machine's other users
    #[arg(
        long,
        value_name = "TARGET",
        env = "NIJI_STORE_TO",
        hide_env_values = true
    )]
    pub to: String,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// `niji demo`.
#[derive(Debug, Args)]
#[command(
    after_help = "Synthetic data only: the demo's keystore passphrase and account passwords are public (README, Demo), and it refuses a data directory it did not make. A second run reuses every step done. `niji serve` serves a demo's directory without NIJI_PASSPHRASE."
)]
pub struct DemoArgs {
    /// Prepare everything, then exit instead of serving
    #[arg(long)]
    pub no_serve: bool,

    /// Address and port to serve on [env: NIJI_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,

    /// Persons of the synthetic population (used by the first run only)
    #[arg(long, default_value_t = 20_000)]
    pub persons: u64,
}

#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Recompute the whole tree from the audit events and check every stored hash; names the first entry that differs
    Verify(ReportArgs),
    /// Check a citizen's receipt (niji-receipt/v1) without the server: the entry's inclusion proof against a checkpoint signed by the log key
    VerifyReceipt(VerifyReceiptArgs),
}

#[derive(Debug, Args)]
pub struct VerifyReceiptArgs {
    /// The receipt file, as downloaded from /api/v1/me/accesses/{id}/receipt
    pub file: std::path::PathBuf,

    /// The log key to trust (`name+id+base64`, as GET /log/key publishes it). Without it the receipt is checked against the key it carries, which only shows it is self-consistent: compare that key with the published one
    #[arg(long, value_name = "VERIFIER")]
    pub key: Option<String>,

    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Subcommand)]
pub enum OrganizationsCommand {
    /// Create an organization
    Add(OrganizationsAddArgs),
}

#[derive(Debug, Args)]
pub struct OrganizationsAddArgs {
    /// Its name
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Certified (認定仮名加工医療情報利用事業者): may apply for the pseudonymized tier
    #[arg(long)]
    pub certified: bool,

    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Subcommand)]
pub enum ReleaseCommand {
    /// Build a release from the linked content under a policy; prints its risk report
    Build(ReleaseBuildArgs),
    /// List releases with their tier, size and policy hash
    List(ReportArgs),
    /// Write a release's tables as Parquet files
    Export(ReleaseExportArgs),
    /// Build a release's dummy data: the same policy over a synthetic population
    Dummy(ReleaseDummyArgs),
    /// Map a pseudonym of a pseudonymized release back to its source records, with two admins
    #[command(subcommand)]
    Reidentify(ReidentifyCommand),
}

/// `niji release build`.
#[derive(Debug, Args)]
#[command(
    after_help = "The policy (policies/release-*.toml) names the tier, the sources, the person table's columns with \
their roles and hierarchies, the privacy model and the event tables. An anonymized release is generalized by the \
optimal search until the model holds; a pseudonymized one keeps exact values and may draw on chart data only. The \
release is written to releases/NAME/ in the data directory as partitioned Parquet with its manifest.json, \
read-only, and its report to the store."
)]
pub struct ReleaseBuildArgs {
    /// The release policy
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,

    /// The release's name (lower-case letters, digits, - and _)
    #[arg(long, value_name = "NAME")]
    pub name: String,

    /// Generalization levels to use instead of searching, each
    /// quasi-identifier's (an anonymized policy): how `niji release dummy`
    /// keeps its release's value domains. The privacy model still holds for
    /// every row kept (classes that fail it are suppressed, however many:
    /// max_suppression bounds only the search)
    #[arg(long, value_name = "COLUMN=LEVEL,...")]
    pub levels: Option<String>,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// `niji release dummy`.
#[derive(Debug, Args)]
#[command(
    long_about = "Build dummy data for a release: a synthetic population (niji synth) is ingested, linked and \
built with the release's own policy in a throwaway data directory with keys of its own, and the result is kept in \
dummies/NAME/ of the data directory. Researchers download it (GET /api/v1/projects/{id}/dummy) to write their \
queries on data with the release's tables, columns, types and value domains, none of it from the release's rows. \
Building it again replaces it."
)]
pub struct ReleaseDummyArgs {
    /// The release
    #[arg(value_name = "NAME")]
    pub name: String,

    /// Persons of the synthetic population
    #[arg(long, default_value_t = 1000)]
    pub persons: u32,

    /// First month of the synthetic records (YYYY-MM); by default five years before the policy's reference date
    #[arg(long, value_name = "YYYY-MM")]
    pub from: Option<String>,

    /// Last month of the synthetic records (YYYY-MM); by default the month of the policy's reference date
    #[arg(long, value_name = "YYYY-MM")]
    pub to: Option<String>,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// `niji release export`.
#[derive(Debug, Args)]
pub struct ReleaseExportArgs {
    /// The release
    #[arg(value_name = "NAME")]
    pub name: String,

    /// The output format
    #[arg(long, value_name = "FORMAT", default_value = "parquet")]
    pub format: ExportFormat,

    /// The directory to write one file per table into (created; must be empty)
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// Export formats.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ExportFormat {
    /// Apache Parquet
    Parquet,
    /// CSV with a header (what pycanon and anjana read)
    Csv,
}

#[derive(Debug, Subcommand)]
pub enum ReidentifyCommand {
    /// File a request (an admin; password from NIJI_ADMIN_PASSWORD or a prompt)
    Request(ReidentifyRequestArgs),
    /// Approve a request as a second admin: opens the escrowed key and prints the source records
    Approve(ReidentifyApproveArgs),
}

#[derive(Debug, Args)]
pub struct ReidentifyRequestArgs {
    /// The pseudonymized release
    #[arg(long, value_name = "NAME")]
    pub release: String,

    /// The pseudonym to map back
    #[arg(long, value_name = "PSEUDONYM")]
    pub pseudonym: String,

    /// The investigation it answers (e.g. a PMDA inquiry number)
    #[arg(long, value_name = "TEXT")]
    pub reason: String,

    /// The requesting admin's account
    #[arg(long = "as", value_name = "ACCOUNT")]
    pub admin: String,

    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Args)]
pub struct ReidentifyApproveArgs {
    /// The request's id
    #[arg(value_name = "ID")]
    pub id: i64,

    /// The approving admin's account (not the requester)
    #[arg(long = "as", value_name = "ACCOUNT")]
    pub admin: String,

    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Create an account; its password comes from NIJI_ACCOUNT_PASSWORD or a prompt
    Add(AccountsAddArgs),
    /// List accounts with their roles
    List(ReportArgs),
}

#[derive(Debug, Args)]
pub struct AccountsAddArgs {
    /// The login name
    #[arg(value_name = "NAME")]
    pub name: String,

    /// admin, reviewer, researcher or citizen
    #[arg(long, value_name = "ROLE")]
    pub role: niji_core::Role,

    /// The organization it belongs to (researchers; reviewers too, for conflicts of interest)
    #[arg(long, value_name = "NAME")]
    pub organization: Option<String>,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// `niji link`.
#[derive(Debug, Args)]
#[command(
    after_help = "Joins records that share tokens as the linkage plan (linkage/plan.toml) says, and keeps each \
person's key from run to run. With --truth DIR (a `niji synth` truth directory), reports precision, recall, F1, \
B-cubed and false merges and splits for the id1, id4, id5 and full-plan strategies."
)]
pub struct LinkArgs {
    /// The truth directory of a synthetic population (its records.csv)
    #[arg(long, value_name = "DIR")]
    pub truth: Option<PathBuf>,

    /// Also write the JSON report to FILE
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,

    #[command(flatten)]
    pub report_format: ReportArgs,
}

#[derive(Debug, Subcommand)]
pub enum SourcesCommand {
    /// Create a credential for a facility's source system; prints it once
    Add(SourcesAddArgs),
    /// List source-system credentials (never the secrets)
    List(ReportArgs),
    /// Revoke a credential; the next request with it is refused
    Revoke(SourcesRevokeArgs),
}

#[derive(Debug, Args)]
pub struct SourcesAddArgs {
    /// The facility's 10-digit code (医療機関コード) whose data it may send
    #[arg(long, value_name = "CODE")]
    pub facility: String,

    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Args)]
pub struct SourcesRevokeArgs {
    /// The client id (`src-…`)
    #[arg(value_name = "CLIENT_ID")]
    pub client_id: String,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// `niji serve`.
#[derive(Debug, Args)]
#[command(
    after_help = "Needs NIJI_PASSPHRASE (the linkage key), except on a directory `niji demo` made. Prints \
`serving on http://ADDR` as its first line of standard output, then serves until Ctrl-C or SIGTERM."
)]
pub struct ServeArgs {
    /// Address and port to listen on [env: NIJI_LISTEN] [default: 127.0.0.1:8080]
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,
}

/// `niji ingest`.
#[derive(Debug, Args)]
#[command(
    after_help = "Each file is one batch: written whole or not at all, and a no-op when the same \
bytes were ingested before. Records that fail their checks are left out and listed with their location; \
--strict refuses the whole file instead. Needs NIJI_PASSPHRASE (the linkage key) unless --check."
)]
pub struct IngestArgs {
    /// Files or directories (walked recursively; hidden entries are skipped)
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    /// Refuse a whole file when any of its records fails its checks
    #[arg(long)]
    pub strict: bool,

    /// Check the files without writing anything (needs no data directory)
    #[arg(long)]
    pub check: bool,

    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Unlock the keystore and check that every key opens (NIJI_PASSPHRASE)
    Verify(ReportArgs),
    /// Re-wrap every key under a new passphrase (NIJI_PASSPHRASE, then NIJI_NEW_PASSPHRASE)
    Passphrase(ReportArgs),
    /// Keep a secret another party issued, sealed in the keystore: the My Number Card provider's client secret as `card-client` (NIJI_PASSPHRASE, then NIJI_CLIENT_SECRET or a prompt)
    Import(ImportArgs),
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The key's name (`card-client` for the card sign-in's client secret)
    #[arg(value_name = "NAME")]
    pub name: String,

    #[command(flatten)]
    pub report: ReportArgs,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Login name of the admin account
    #[arg(long, default_value = "admin", value_name = "NAME")]
    pub admin: String,

    #[command(flatten)]
    pub report: ReportArgs,
}

/// `niji synth`. The rate defaults are `niji_synth::Rates::default()`.
#[derive(Debug, Args)]
#[command(
    after_help = "Writes DIR/truth/{persons,names,insurance,records}.csv and \
DIR/eligibility/history.csv. DIR must not exist or be empty; a failed run leaves nothing there."
)]
pub struct SynthArgs {
    /// Number of persons
    #[arg(long, default_value_t = 10_000)]
    pub persons: u64,

    /// Seed of the random streams: the same arguments give byte-identical output
    #[arg(long, default_value_t = 1)]
    pub seed: u64,

    /// Output directory
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// First month of the period
    #[arg(long, default_value = "2019-04", value_name = "YYYY-MM")]
    pub from: String,

    /// Last month of the period
    #[arg(long, default_value = "2024-03", value_name = "YYYY-MM")]
    pub to: String,

    /// Yearly chance that an employee-insured household changes employer, and so insurer and card
    #[arg(long, value_name = "RATE", default_value_t = Rates::default().job_change)]
    pub job_change_rate: f64,

    /// Yearly chance that a 国保 household moves to another municipality (a new 国保 insurer)
    #[arg(long, value_name = "RATE", default_value_t = Rates::default().moves)]
    pub move_rate: f64,

    /// Chance at each birthday from 60 to 64 that an employee retires into 国保
    #[arg(long, value_name = "RATE", default_value_t = Rates::default().retirement)]
    pub retirement_rate: f64,

    /// Yearly chance that an unmarried woman aged 25-35 marries and changes her family name
    #[arg(long, value_name = "RATE", default_value_t = Rates::default().marriage)]
    pub marriage_rate: f64,

    /// Share of children under 20 who are twins (same birth date and card; two in three same-sex)
    #[arg(long, value_name = "SHARE", default_value_t = Rates::default().twins)]
    pub twin_share: f64,

    /// Share of persons the eligibility service knows (ID5 coverage)
    #[arg(long, value_name = "SHARE", default_value_t = Rates::default().eligibility)]
    pub eligibility_coverage: f64,

    /// Share of invited persons (aged 40-74) who attend the yearly specific health checkup
    #[arg(long, value_name = "SHARE", default_value_t = Rates::default().checkup_attendance)]
    pub checkup_attendance: f64,

    /// Persons per 100,000 with one of the rare diseases (ALS, Fabry, PAH, Huntington)
    #[arg(long, value_name = "N", default_value_t = SynthConfig::default().rare_per_100k)]
    pub rare_per_100k: f64,

    /// Share of kana names written in half-width katakana (ｻﾄｳ ﾊﾅｺ)
    #[arg(long, value_name = "SHARE", help_heading = "Notation noise in source files", default_value_t = Noise::default().half_width_kana)]
    pub half_width_kana: f64,

    /// Share of names with no space between family and given name (others: full-width, a few half-width)
    #[arg(long, value_name = "SHARE", help_heading = "Notation noise in source files", default_value_t = Noise::default().no_name_space)]
    pub no_name_space: f64,

    /// Share of kana names whose small kana (ァ ッ ャ) are written large
    #[arg(long, value_name = "SHARE", help_heading = "Notation noise in source files", default_value_t = Noise::default().large_small_kana)]
    pub large_small_kana: f64,

    /// Share of kana names with long vowels written as a mark (ー ｰ － ‐) instead of ウ/イ
    #[arg(long, value_name = "SHARE", help_heading = "Notation noise in source files", default_value_t = Noise::default().long_vowel_mark)]
    pub long_vowel_mark: f64,

    /// Share of card symbols and numbers written in full-width digits
    #[arg(long, value_name = "SHARE", help_heading = "Notation noise in source files", default_value_t = Noise::default().full_width_digits)]
    pub full_width_digits: f64,

    /// Share of facilities whose claims before 2020-04 use era-coded dates (GYYMMDD)
    #[arg(long, value_name = "SHARE", help_heading = "Notation noise in source files", default_value_t = Noise::default().era_dates)]
    pub era_dates: f64,

    /// Share of claims before 2021-04 without the branch number (SN record); 1/25 of it after
    #[arg(long, value_name = "SHARE", help_heading = "Notation noise in source files", default_value_t = Noise::default().missing_branch)]
    pub missing_branch: f64,

    /// Share of records without a kana name
    #[arg(long, value_name = "SHARE", help_heading = "Notation noise in source files", default_value_t = Noise::default().missing_kana)]
    pub missing_kana: f64,

    /// Share of kana names with a typing error (one kana swapped for its neighbour)
    #[arg(long, value_name = "SHARE", help_heading = "Notation noise in source files", default_value_t = Noise::default().typo)]
    pub typo_rate: f64,

    #[command(flatten)]
    pub report: ReportArgs,
}

impl SynthArgs {
    pub fn noise(&self) -> Noise {
        Noise {
            half_width_kana: self.half_width_kana,
            no_name_space: self.no_name_space,
            large_small_kana: self.large_small_kana,
            long_vowel_mark: self.long_vowel_mark,
            full_width_digits: self.full_width_digits,
            era_dates: self.era_dates,
            missing_branch: self.missing_branch,
            missing_kana: self.missing_kana,
            typo: self.typo_rate,
        }
    }

    pub fn rates(&self) -> Rates {
        Rates {
            job_change: self.job_change_rate,
            moves: self.move_rate,
            retirement: self.retirement_rate,
            marriage: self.marriage_rate,
            twins: self.twin_share,
            eligibility: self.eligibility_coverage,
            checkup_attendance: self.checkup_attendance,
        }
    }
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// Print the report as JSON on standard output
    #[arg(long)]
    pub json: bool,
}

impl Cli {
    /// The effective configuration: file, then environment, then flags.
    pub fn config(&self) -> Result<Config, niji_core::config::ConfigError> {
        let mut config = Config::load(self.config.as_deref(), |var| std::env::var(var).ok())?;
        if let Some(data) = &self.data {
            config.data = data.clone();
        }
        if let Some(format) = self.log_format {
            config.log.format = match format {
                LogFormatArg::Text => LogFormat::Text,
                LogFormatArg::Json => LogFormat::Json,
            };
        }
        if let Some(level) = &self.log_level {
            config.log.level = level.clone();
        }
        Ok(config)
    }
}
