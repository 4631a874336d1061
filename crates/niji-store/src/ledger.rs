//! The privacy-budget ledger: a project's grant states its ρ (zCDP); each
//! differentially private release debits its cost here before it is made.
//! Checking the balance and debiting happen in one transaction on the one
//! writer connection, so concurrent requests cannot overspend.

use crate::db::Conn;
use crate::{Store, StoreError};
use niji_audit::event::{EventKind, Subject};

/// A project's budget.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    /// The grant's ρ.
    pub total: f64,
    /// Debited so far.
    pub spent: f64,
}

impl Budget {
    /// What is left.
    pub fn left(&self) -> f64 {
        (self.total - self.spent).max(0.0)
    }
}

fn budget_in(conn: &Conn, grant_id: i64) -> Result<Budget, StoreError> {
    let (total, spent): (f64, f64) = conn.one(
        "SELECT g.dp_rho, coalesce((SELECT sum(rho) FROM dp_ledger l WHERE l.grant_id = g.id), 0.0) \
         FROM grants g WHERE g.id = $1",
        &[&grant_id],
    )?;
    Ok(Budget { total, spent })
}

impl Store {
    /// A project's budget.
    pub fn budget(&self, grant_id: i64) -> Result<Budget, StoreError> {
        self.grant(grant_id)?;
        budget_in(&self.conn, grant_id)
    }

    /// Debits `rho` from a project's budget, or refuses (and debits
    /// nothing) when it would overspend. Returns the budget after.
    pub fn debit_rho(
        &self,
        grant_id: i64,
        account: &str,
        rho: f64,
        spec: &str,
    ) -> Result<Budget, StoreError> {
        if !(rho.is_finite() && rho > 0.0) {
            return Err(StoreError::Refused(format!("a debit of ρ = {rho}")));
        }
        self.grant(grant_id)?;
        let tx = self.conn.transaction()?;
        let before = budget_in(&tx, grant_id)?;
        if before.spent + rho > before.total {
            return Err(StoreError::Forbidden(format!(
                "over budget: this query costs ρ = {rho:.6}, and project {grant_id} has {:.6} of {:.6} left",
                before.left(),
                before.total
            )));
        }
        tx.execute(
            "INSERT INTO dp_ledger (grant_id, account, rho, spec) VALUES ($1, $2, $3, $4)",
            &[&grant_id, &account, &rho, &spec],
        )?;
        crate::releases::audit_in(
            &tx,
            account,
            EventKind::DpDebit,
            Subject::Project(grant_id),
            &format!("rho {rho}"),
        )?;
        tx.commit()?;
        Ok(Budget {
            total: before.total,
            spent: before.spent + rho,
        })
    }
}
