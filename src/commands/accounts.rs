//! `niji accounts`: the accounts of admins, reviewers and researchers.

use super::emit;
use crate::cli::{AccountsAddArgs, AccountsCommand, OrganizationsCommand, ReportArgs};
use crate::secrets::{self, Ask};
use niji_core::Config;
use niji_store::Account;
use serde::Serialize;

#[derive(Serialize)]
struct AccountView {
    name: String,
    role: &'static str,
    created_at: String,
}

impl From<Account> for AccountView {
    fn from(a: Account) -> Self {
        AccountView {
            name: a.name,
            role: a.role.as_str(),
            created_at: a.created_at,
        }
    }
}

pub fn run(config: &Config, command: &AccountsCommand) -> anyhow::Result<()> {
    match command {
        AccountsCommand::Add(args) => add(config, args),
        AccountsCommand::List(args) => list(config, args),
    }
}

fn add(config: &Config, args: &AccountsAddArgs) -> anyhow::Result<()> {
    let store = super::open_store(config)?;
    let password = secrets::require(
        secrets::ACCOUNT_PASSWORD,
        &format!("password for {}", args.name),
        Ask::Twice,
    )?;
    let account: AccountView = store
        .add_account(
            &args.name,
            args.role,
            &password,
            args.organization.as_deref(),
            niji_store::Actor::Operator("operator"),
        )?
        .into();
    emit(args.report.json, &account, |a| {
        format!("account {} ({}) created\n", a.name, a.role)
    })
}

fn list(config: &Config, args: &ReportArgs) -> anyhow::Result<()> {
    let accounts: Vec<AccountView> = super::open_store(config)?
        .accounts()?
        .into_iter()
        .map(Into::into)
        .collect();
    emit(args.json, &accounts, |accounts| {
        accounts
            .iter()
            .map(|a| format!("  {:<24} {:<10} created {}\n", a.name, a.role, a.created_at))
            .collect()
    })
}

#[derive(Serialize)]
struct OrganizationView {
    id: i64,
    name: String,
    certified: bool,
}

pub fn organizations(config: &Config, command: &OrganizationsCommand) -> anyhow::Result<()> {
    match command {
        OrganizationsCommand::Add(args) => {
            let store = super::open_store(config)?;
            let id = store.add_organization(
                &args.name,
                args.certified,
                niji_store::Actor::Operator("operator"),
            )?;
            let view = OrganizationView {
                id,
                name: args.name.clone(),
                certified: args.certified,
            };
            emit(args.report.json, &view, |o| {
                format!(
                    "organization {} created{}\n",
                    o.name,
                    if o.certified {
                        " (certified for the pseudonymized tier)"
                    } else {
                        ""
                    }
                )
            })
        }
    }
}
