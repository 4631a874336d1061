//! The `niji` binary: argument parsing and wiring only. The work is done by
//! the crates under `crates/`; this file reads the configuration, sets up
//! logging and hands each command to its module.

mod cli;
mod commands;
mod logging;
mod secrets;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // `{:#}` prints the whole chain on one line: "context: cause".
            eprintln!("niji: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: cli::Cli) -> anyhow::Result<()> {
    let config = cli.config()?;
    logging::init(config.log.format, &config.log.level)?;
    match cli.command {
        cli::Command::Init(args) => commands::init::run(&config, &args),
        cli::Command::Status(args) => commands::status::run(&config, &args),
        cli::Command::Keys(cli::KeysCommand::Verify(args)) => {
            commands::keys::verify(&config, &args)
        }
        cli::Command::Keys(cli::KeysCommand::Passphrase(args)) => {
            commands::keys::passphrase(&config, &args)
        }
        cli::Command::Keys(cli::KeysCommand::Import(args)) => {
            commands::keys::import(&config, &args)
        }
        cli::Command::Synth(args) => commands::synth::run(&args),
        cli::Command::Ingest(args) => commands::ingest::run(&config, &args),
        cli::Command::Link(args) => commands::link::run(&config, &args),
        cli::Command::Sources(cli::SourcesCommand::Add(args)) => {
            commands::sources::add(&config, &args)
        }
        cli::Command::Sources(cli::SourcesCommand::List(args)) => {
            commands::sources::list(&config, &args)
        }
        cli::Command::Sources(cli::SourcesCommand::Revoke(args)) => {
            commands::sources::revoke(&config, &args)
        }
        cli::Command::Serve(args) => commands::serve::run(&config, &args),
        cli::Command::Release(command) => commands::release::run(&config, &command),
        cli::Command::Accounts(command) => commands::accounts::run(&config, &command),
        cli::Command::Organizations(command) => {
            commands::accounts::organizations(&config, &command)
        }
        cli::Command::Log(cli::LogCommand::Verify(args)) => commands::log::verify(&config, &args),
        cli::Command::Store(cli::StoreCommand::Migrate(args)) => {
            commands::store::migrate(&config, &args)
        }
        cli::Command::Log(cli::LogCommand::VerifyReceipt(args)) => {
            commands::log::verify_receipt(&args)
        }
        cli::Command::Demo(args) => commands::demo::run(&config, &args),
    }
}
