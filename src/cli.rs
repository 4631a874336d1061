//! The command line.

use clap::{Args, Parser, Subcommand, ValueEnum};
use niji_core::config::{Config, LogFormat};
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
    /// Create the data directory, the control-plane store, the keystore, the platform keys and the admin account
    Init(InitArgs),
    /// Report on the data directory: store, migrations, keys and accounts
    Status(ReportArgs),
    /// Keystore operations
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Unlock the keystore and check that every key opens (NIJI_PASSPHRASE)
    Verify(ReportArgs),
    /// Re-wrap every key under a new passphrase (NIJI_PASSPHRASE, then NIJI_NEW_PASSPHRASE)
    Passphrase(ReportArgs),
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Login name of the admin account
    #[arg(long, default_value = "admin", value_name = "NAME")]
    pub admin: String,

    #[command(flatten)]
    pub report: ReportArgs,
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
