//! `niji sources`: the credentials of inbound source systems.

use super::emit;
use crate::cli::{ReportArgs, SourcesAddArgs, SourcesRevokeArgs};
use niji_core::Config;
use niji_store::SourceClient;
use serde::Serialize;

#[derive(Serialize)]
struct ClientView {
    client_id: String,
    facility: String,
    created_at: String,
    revoked_at: Option<String>,
}

impl From<SourceClient> for ClientView {
    fn from(c: SourceClient) -> Self {
        ClientView {
            client_id: c.client_id,
            facility: c.facility,
            created_at: c.created_at,
            revoked_at: c.revoked_at,
        }
    }
}

#[derive(Serialize)]
struct Added {
    #[serde(flatten)]
    client: ClientView,
    /// Shown here once; only its digest is stored.
    credential: String,
}

fn line(c: &ClientView) -> String {
    let state = match &c.revoked_at {
        Some(at) => format!("revoked {at}"),
        None => "active".to_owned(),
    };
    format!(
        "  {}  facility {}  created {}  {state}\n",
        c.client_id, c.facility, c.created_at
    )
}

pub fn add(config: &Config, args: &SourcesAddArgs) -> anyhow::Result<()> {
    let store = super::open_store(config)?;
    let (client, credential) = store.add_source_client(&args.facility)?;
    let added = Added {
        client: client.into(),
        credential: credential.expose().to_owned(),
    };
    emit(args.report.json, &added, |a| {
        format!(
            "source system {} created for facility {}\n\ncredential (shown once; send it as `Authorization: Bearer <credential>`):\n  {}\n",
            a.client.client_id, a.client.facility, a.credential
        )
    })
}

pub fn list(config: &Config, args: &ReportArgs) -> anyhow::Result<()> {
    let clients: Vec<ClientView> = super::open_store(config)?
        .source_clients()?
        .into_iter()
        .map(Into::into)
        .collect();
    emit(args.json, &clients, |clients| {
        if clients.is_empty() {
            "no source systems; create one with `niji sources add --facility CODE`\n".to_owned()
        } else {
            clients.iter().map(line).collect()
        }
    })
}

pub fn revoke(config: &Config, args: &SourcesRevokeArgs) -> anyhow::Result<()> {
    let client: ClientView = super::open_store(config)?
        .revoke_source_client(&args.client_id)?
        .into();
    emit(args.report.json, &client, |c| {
        format!("revoked:\n{}", line(c))
    })
}
