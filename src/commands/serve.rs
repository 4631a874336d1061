//! `niji serve`: the HTTP server on the data directory.

use crate::cli::ServeArgs;
use crate::secrets::{self, Ask};
use anyhow::Context;
use niji_core::Config;
use niji_core::SecretString;
use niji_ingest::Staging;
use niji_linkage::Tokenizer;
use niji_server::AppState;
use std::io::Write;
use std::net::SocketAddr;

pub fn run(config: &Config, args: &ServeArgs) -> anyhow::Result<()> {
    let listen = args.listen.unwrap_or(config.server.listen);
    let passphrase = match secrets::read(secrets::PASSPHRASE, "keystore passphrase", Ask::Once)? {
        Some(passphrase) => passphrase,
        // A demo's passphrase is public: its data directory says so.
        None if super::demo::is_demo(&config.data) => {
            tracing::warn!("serving the demo's synthetic data with its public passphrase");
            super::demo::passphrase()
        }
        None => anyhow::bail!(
            "{} is not set and there is no terminal to ask for the keystore passphrase on",
            secrets::PASSPHRASE
        ),
    };
    let state = state(config, &passphrase)?;
    let runtime = runtime()?;
    runtime.block_on(async move {
        let listener = bind(listen).await?;
        niji_server::serve(listener, state, shutdown())
            .await
            .context("serving")?;
        tracing::info!("server stopped");
        anyhow::Ok(())
    })
}

/// The server's state on the data directory, its keystore unlocked with
/// `passphrase`.
pub fn state(config: &Config, passphrase: &SecretString) -> anyhow::Result<AppState> {
    let store = super::open_store(config)?;
    let keystore = store.unlock(passphrase)?;
    let key = store.open_key(&keystore, "linkage")?.hmac_key()?;
    let log_key = store.log_key(&keystore)?;
    // Made (or checked) now, then opened by the server only when it needs
    // it, so that commands can use it in between.
    drop(Staging::open_waiting(
        &config.data,
        niji_core::busy::COMMAND_WAIT,
    )?);
    let card = match config.card.enabled()? {
        true => {
            let secret = store
                .open_key(&keystore, CARD_CLIENT_KEY)
                .and_then(|k| k.client_secret())
                .with_context(|| {
                    format!(
                        "card.issuer is set: keep the provider's client secret with \
                         `niji keys import {CARD_CLIENT_KEY}`"
                    )
                })?;
            Some(
                niji_server::CardProvider::new(&config.card, &secret)
                    .map_err(anyhow::Error::msg)?,
            )
        }
        false => None,
    };
    let state = AppState::new(store, &config.data, Tokenizer::new(key))
        .with_quorum(config.review.quorum)
        .with_secure_cookies(config.server.behind_tls)
        .with_trusted_proxy(config.server.trusted_proxy)
        .with_job_after(std::time::Duration::from_millis(config.server.job_after_ms))
        .with_analysis_workers(
            match config.server.analysis_workers {
                0 => std::thread::available_parallelism().map_or(1, usize::from),
                n => n,
            },
            config.server.analysis_queue,
        )
        .with_engine(config.engine.clone())
        .with_log_key(log_key);
    Ok(match card {
        Some(provider) => state.with_card(provider),
        None => state,
    })
}

/// The keystore key holding the card provider's client secret.
pub const CARD_CLIENT_KEY: &str = "card-client";

/// The async runtime the server runs on.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Listens on `listen`, and says where on the first line of standard
/// output, so that a script (or a test) that asked for port 0 learns the
/// port.
pub async fn bind(listen: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("listening on {listen}"))?;
    let bound = listener.local_addr()?;
    println!("serving on http://{bound}");
    std::io::stdout().flush()?;
    tracing::info!(%bound, "server started");
    Ok(listener)
}

/// Resolves on Ctrl-C or SIGTERM: requests in flight finish, then the
/// stores close cleanly.
pub async fn shutdown() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {},
        () = terminate => {},
    }
}
