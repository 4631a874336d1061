//! Releases in the control plane: manifests, members, opt-outs, the
//! escrow of pseudonymized releases' keys and the re-identification
//! requests against it, and the audit events of those steps.

use crate::db::{Conn, Row, Value, stamp};
use crate::keystore::{Keystore, open_in};
use crate::{Account, Store, StoreError};
use chrono::{DateTime, Utc};
use niji_audit::event::{EventKind, Subject};
use niji_core::Role;
use ring::aead::{Aad, NONCE_LEN, Nonce};
use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

/// A release to record.
pub struct NewRelease<'a> {
    /// Its name.
    pub name: &'a str,
    /// `anonymized` or `pseudonymized`.
    pub tier: &'a str,
    /// The policy's SHA-256, hex.
    pub policy_sha256: &'a str,
    /// The policy text.
    pub policy: &'a str,
    /// The release file, relative to the data directory.
    pub file: &'a str,
    /// Who built it.
    pub built_by: &'a str,
    /// The build's report (JSON).
    pub manifest: &'a str,
    /// The person keys it holds.
    pub members: &'a [i64],
    /// For a pseudonymized release: its pseudonym key, to seal under the
    /// escrow key.
    pub escrow: Option<&'a [u8]>,
    /// For a pseudonymized release: each member's disclosure tag
    /// (`Tokenizer::disclosure_tag` of their pseudonym) and person key, so
    /// that a row-level result can tell whom it showed. Empty otherwise.
    pub tags: &'a [([u8; 32], i64)],
}

/// A recorded release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseInfo {
    /// Its id.
    pub release_id: i64,
    /// Its name.
    pub name: String,
    /// Its tier.
    pub tier: String,
    /// The policy's SHA-256.
    pub policy_sha256: String,
    /// The release file, relative to the data directory.
    pub file: String,
    /// Who built it.
    pub built_by: String,
    /// When (UTC).
    pub built_at: String,
    /// Persons it holds.
    pub persons: i64,
    /// The build's report (JSON).
    pub manifest: String,
}

/// A re-identification request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reidentification {
    /// Its id.
    pub id: i64,
    /// The release.
    pub release: String,
    /// The pseudonym to map back.
    pub pseudonym: String,
    /// Why (the investigation it answers).
    pub reason: String,
    /// The admin who asked.
    pub requested_by: String,
    /// The admin who approved, once one has.
    pub approved_by: Option<String>,
}

/// An audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// Its number, in order.
    pub id: i64,
    /// When (UTC).
    pub at: String,
    /// Who acted.
    pub actor: String,
    /// What happened (`release.build`, `reidentification.request`, …).
    pub kind: String,
    /// What it concerns.
    pub subject: String,
    /// Details, never personal data.
    pub detail: String,
}

const RELEASE_COLUMNS: &str =
    "release_id, name, tier, policy_sha256, file, built_by, built_at, persons, manifest";

fn release_from_row(r: &Row) -> Result<ReleaseInfo, StoreError> {
    Ok(ReleaseInfo {
        release_id: r.get(0)?,
        name: r.get(1)?,
        tier: r.get(2)?,
        policy_sha256: r.get(3)?,
        file: r.get(4)?,
        built_by: r.get(5)?,
        built_at: stamp(&r.get::<DateTime<Utc>>(6)?),
        persons: r.get(7)?,
        manifest: r.get(8)?,
    })
}

/// The associated data that binds a sealed pseudonym key to its release.
fn escrow_aad(release: &str) -> Vec<u8> {
    [b"niji release escrow v1\0".as_slice(), release.as_bytes()].concat()
}

fn require_admin(who: &Account) -> Result<(), StoreError> {
    if who.role == Role::Admin {
        Ok(())
    } else {
        Err(StoreError::Refused(format!(
            "account `{}` is not an admin",
            who.name
        )))
    }
}

impl Store {
    /// Records a built release, its members and (pseudonymized) its sealed
    /// key, in one transaction, with its audit event.
    pub fn add_release(
        &mut self,
        keystore: &Keystore,
        r: &NewRelease,
    ) -> Result<ReleaseInfo, StoreError> {
        let sealed = match r.escrow {
            Some(key) => Some(self.seal_escrow(keystore, r.name, key)?),
            None => None,
        };
        let tx = self.conn.transaction()?;
        let release_id: i64 = tx.value(
            "INSERT INTO releases (name, tier, policy_sha256, policy, file, built_by, persons, manifest)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING release_id",
            &[&r.name, &r.tier, &r.policy_sha256, &r.policy, &r.file, &r.built_by, &(r.members.len() as i64), &r.manifest],
        )?;
        let members: Vec<Vec<Value>> = r
            .members
            .iter()
            .map(|&k| vec![Value::Int(release_id), Value::Int(k)])
            .collect();
        tx.insert_rows("release_members", &["release_id", "person_key"], &members)?;
        tx.execute(
            "INSERT INTO release_bitmaps (release_id, members) VALUES ($1, $2)",
            &[&release_id, &(crate::log::members_bitmap(r.members)?)],
        )?;
        if !r.tags.is_empty() && r.escrow.is_none() {
            return Err(StoreError::Refused(format!(
                "release `{}`: only a pseudonymized release keeps disclosure tags",
                r.name
            )));
        }
        let tags: Vec<Vec<Value>> = r
            .tags
            .iter()
            .map(|(tag, k)| {
                vec![
                    Value::Int(release_id),
                    Value::Blob(tag.to_vec()),
                    Value::Int(*k),
                ]
            })
            .collect();
        tx.insert_rows(
            "release_disclosure_tags",
            &["release_id", "tag", "person_key"],
            &tags,
        )?;
        if let Some((nonce, sealed)) = sealed {
            tx.execute(
                "INSERT INTO release_escrow (release_id, nonce, sealed) VALUES ($1, $2, $3)",
                &[&release_id, &nonce.to_vec(), &sealed],
            )?;
        }
        audit_in(
            &tx,
            r.built_by,
            EventKind::ReleaseBuild,
            Subject::Release(r.name),
            &format!(
                "tier {}, {} persons, policy sha256 {}",
                r.tier,
                r.members.len(),
                r.policy_sha256
            ),
        )?;
        tx.commit()?;
        self.release(r.name)?.ok_or_else(|| StoreError::Damaged {
            what: format!("release `{}` is missing after insert", r.name),
        })
    }

    fn seal_escrow(
        &self,
        keystore: &Keystore,
        release: &str,
        key: &[u8],
    ) -> Result<([u8; NONCE_LEN], Vec<u8>), StoreError> {
        let escrow = open_in(&self.conn, keystore, "escrow")?.aead_key()?;
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| StoreError::Crypto("system random source failed".into()))?;
        let mut sealed = key.to_vec();
        escrow
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(escrow_aad(release)),
                &mut sealed,
            )
            .map_err(|_| StoreError::Crypto("AES-256-GCM seal failed".into()))?;
        Ok((nonce, sealed))
    }

    /// Every release, oldest first.
    pub fn releases(&self) -> Result<Vec<ReleaseInfo>, StoreError> {
        self.conn
            .rows(
                &format!("SELECT {RELEASE_COLUMNS} FROM releases ORDER BY release_id"),
                &[],
            )?
            .iter()
            .map(release_from_row)
            .collect()
    }

    /// The policy text release `name` was built with.
    pub fn release_policy(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.conn
            .opt_value("SELECT policy FROM releases WHERE name = $1", &[&name])
    }

    /// Release `name`, if recorded.
    pub fn release(&self, name: &str) -> Result<Option<ReleaseInfo>, StoreError> {
        self.conn
            .rows(
                &format!("SELECT {RELEASE_COLUMNS} FROM releases WHERE name = $1"),
                &[&name],
            )?
            .first()
            .map(release_from_row)
            .transpose()
    }

    /// The person keys a release holds.
    pub fn release_members(&self, release_id: i64) -> Result<Vec<i64>, StoreError> {
        self.conn.values(
            "SELECT person_key FROM release_members WHERE release_id = $1 ORDER BY person_key",
            &[&release_id],
        )
    }

    /// Persons who opted out.
    pub fn opt_outs(&self) -> Result<Vec<i64>, StoreError> {
        self.conn
            .values("SELECT person_key FROM opt_outs ORDER BY person_key", &[])
    }

    /// Records an opt-out (again is a no-op), with its audit event. The
    /// entry names the person only by commitment; their own view finds it.
    pub fn add_opt_out(&self, person_key: i64, actor: &str) -> Result<bool, StoreError> {
        self.add_opt_outs(&[person_key], actor)
    }

    /// Records the opt-out of one person held under several keys (a
    /// citizen whose records were linked more than once), as one event;
    /// whether anything changed.
    pub fn add_opt_outs(&self, persons: &[i64], actor: &str) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let mut added = 0;
        for person in persons {
            added += tx.execute(
                "INSERT INTO opt_outs (person_key) VALUES ($1) ON CONFLICT DO NOTHING",
                &[&person],
            )?;
        }
        if added > 0 {
            audit_for(
                &tx,
                actor,
                EventKind::OptOut,
                Subject::Person,
                "a person refused further provision of their data for secondary use",
                persons,
            )?;
        }
        tx.commit()?;
        Ok(added > 0)
    }

    /// Withdraws an opt-out: releases built from now on may include the
    /// person again. Logged like the opt-out; whether anything changed.
    pub fn withdraw_opt_outs(&self, persons: &[i64], actor: &str) -> Result<bool, StoreError> {
        let tx = self.conn.transaction()?;
        let mut removed = 0;
        for person in persons {
            removed += tx.execute("DELETE FROM opt_outs WHERE person_key = $1", &[&person])?;
            tx.execute(
                "INSERT INTO opt_out_withdrawals (person_key) VALUES ($1)",
                &[&person],
            )?;
        }
        if removed > 0 {
            audit_for(
                &tx,
                actor,
                EventKind::OptOutWithdraw,
                Subject::Person,
                "a person withdrew their refusal: later releases may include their data",
                persons,
            )?;
            tx.commit()?;
        } else {
            // Nothing changed: dropping the transaction rolls it back.
            drop(tx);
        }
        Ok(removed > 0)
    }

    /// Files a re-identification request against a pseudonymized release.
    pub fn request_reidentification(
        &self,
        release: &str,
        pseudonym: &str,
        reason: &str,
        admin: &Account,
    ) -> Result<Reidentification, StoreError> {
        require_admin(admin)?;
        let info = self
            .release(release)?
            .ok_or_else(|| StoreError::Refused(format!("no release `{release}`")))?;
        if info.tier != "pseudonymized" {
            return Err(StoreError::Refused(format!(
                "release `{release}` is anonymized: it can never be re-identified"
            )));
        }
        if reason.trim().is_empty() {
            return Err(StoreError::Refused(
                "a re-identification needs a reason (the investigation it answers)".into(),
            ));
        }
        let tx = self.conn.transaction()?;
        let id: i64 = tx.value(
            "INSERT INTO reidentifications (release_id, pseudonym, reason, requested_by) VALUES ($1, $2, $3, $4) RETURNING id",
            &[&info.release_id, &pseudonym, &reason, &admin.name],
        )?;
        audit_in(
            &tx,
            &admin.name,
            EventKind::ReidentificationRequest,
            Subject::Release(release),
            &format!("request {id}: {reason}"),
        )?;
        tx.commit()?;
        self.reidentification(id)
    }

    /// A re-identification request.
    pub fn reidentification(&self, id: i64) -> Result<Reidentification, StoreError> {
        let row: Option<(i64, String, String, String, String, Option<String>)> = self.conn.opt(
            "SELECT q.id, r.name, q.pseudonym, q.reason, q.requested_by, q.approved_by
             FROM reidentifications q JOIN releases r USING (release_id) WHERE q.id = $1",
            &[&id],
        )?;
        let (id, release, pseudonym, reason, requested_by, approved_by) =
            row.ok_or_else(|| StoreError::Refused(format!("no re-identification request {id}")))?;
        Ok(Reidentification {
            id,
            release,
            pseudonym,
            reason,
            requested_by,
            approved_by,
        })
    }

    /// Approves a request as a second admin and opens the release's
    /// pseudonym key. The approval and the opening are audit events.
    pub fn approve_reidentification(
        &self,
        keystore: &Keystore,
        id: i64,
        admin: &Account,
    ) -> Result<(Reidentification, Zeroizing<Vec<u8>>), StoreError> {
        require_admin(admin)?;
        let request = self.reidentification(id)?;
        if request.requested_by == admin.name {
            return Err(StoreError::Refused(format!(
                "request {id} was filed by `{}`; a second, different admin must approve it",
                admin.name
            )));
        }
        if let Some(by) = &request.approved_by {
            return Err(StoreError::Refused(format!(
                "request {id} was already approved by `{by}`"
            )));
        }
        let (nonce, sealed): (Vec<u8>, Vec<u8>) = self.conn.one(
            "SELECT e.nonce, e.sealed FROM release_escrow e JOIN releases r USING (release_id) WHERE r.name = $1",
            &[&request.release],
        )?;
        let escrow = open_in(&self.conn, keystore, "escrow")?.aead_key()?;
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| StoreError::Damaged {
            what: format!("escrow of release `{}`: nonce", request.release),
        })?;
        let mut key = Zeroizing::new(sealed);
        let len = escrow
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(escrow_aad(&request.release)),
                &mut key,
            )
            .map_err(|_| StoreError::Damaged {
                what: format!("escrow of release `{}` does not open", request.release),
            })?
            .len();
        key.truncate(len);
        let tx = self.conn.transaction()?;
        tx.execute(
            "UPDATE reidentifications SET approved_by = $1, approved_at = $2 WHERE id = $3",
            &[&admin.name, &Utc::now(), &id],
        )?;
        audit_in(
            &tx,
            &admin.name,
            EventKind::ReidentificationApprove,
            Subject::Release(&request.release),
            &format!("request {id}"),
        )?;
        audit_in(
            &tx,
            &admin.name,
            EventKind::ReidentificationOpen,
            Subject::Release(&request.release),
            &format!("request {id}: pseudonym key opened"),
        )?;
        tx.commit()?;
        Ok((self.reidentification(id)?, key))
    }

    /// Appends an audit event.
    pub fn audit(
        &self,
        actor: &str,
        kind: EventKind,
        subject: Subject<'_>,
        detail: &str,
    ) -> Result<(), StoreError> {
        self.audit_persons(actor, kind, subject, detail, &[])
            .map(|_| ())
    }

    /// Appends audit events in one transaction, in order: a group commit,
    /// so that many requests' entries share one durable write. What each
    /// became; all or none. An event that lets a result leave under a
    /// grant ([`NewEvent::releases_under`]) is written only while the
    /// grant is in force, read under the same writer lock: a revocation on
    /// another server, or one that came while the query ran, keeps the
    /// result in, and a refusal is logged instead.
    pub fn audit_many(&self, events: &[NewEvent<'_>]) -> Result<Vec<Logged>, StoreError> {
        // Taken out: a batch that fails leaves no head behind.
        let cached = self.head.borrow_mut().take();
        let tx = self.conn.transaction()?;
        let mut reasons = Vec::with_capacity(events.len());
        for e in events {
            reasons.push(match e.releases_under {
                Some(grant) => crate::governance::lapse(&tx, grant, e.actor)?,
                None => None,
            });
        }
        let details: Vec<Option<String>> = events
            .iter()
            .zip(&reasons)
            .map(|(e, reason)| reason.as_ref().map(|r| withheld_detail(e, r)))
            .collect();
        let mut written = Vec::with_capacity(events.len());
        for (e, detail) in events.iter().zip(&details) {
            let refusal;
            let event = match detail {
                Some(detail) => {
                    refusal = NewEvent {
                        kind: EventKind::AnalysisRefused,
                        detail,
                        releases_under: None,
                        ..*e
                    };
                    &refusal
                }
                None => e,
            };
            written.push(insert_event(&tx, event)?);
        }
        let (indices, head) = crate::log::append_batch(&tx, cached, &written)?;
        tx.commit()?;
        *self.head.borrow_mut() = Some(head);
        Ok(indices
            .into_iter()
            .zip(reasons)
            .map(|(index, reason)| match reason {
                Some(reason) => Logged::Withheld { index, reason },
                None => Logged::Entry(index),
            })
            .collect())
    }

    /// Appends an audit event that concerns `persons` (person keys)
    /// directly: the entry carries their commitments, and each person's
    /// view lists it. Its leaf index.
    pub fn audit_persons(
        &self,
        actor: &str,
        kind: EventKind,
        subject: Subject<'_>,
        detail: &str,
        persons: &[i64],
    ) -> Result<u64, StoreError> {
        let event = NewEvent {
            actor,
            kind,
            subject,
            detail,
            persons,
            releases_under: None,
        };
        self.audit_many(&[event])?
            .first()
            .map(Logged::index)
            .ok_or_else(|| StoreError::Damaged {
                what: "an audit event was not appended to the log".into(),
            })
    }

    /// Every audit event, in order.
    pub fn audit_events(&self) -> Result<Vec<AuditEvent>, StoreError> {
        let rows: Vec<(i64, DateTime<Utc>, String, String, String, String)> = self.conn.all(
            "SELECT id, occurred_at, actor, kind, subject, detail FROM audit_events ORDER BY id",
            &[],
        )?;
        Ok(rows
            .into_iter()
            .map(|(id, at, actor, kind, subject, detail)| AuditEvent {
                id,
                at: stamp(&at),
                actor,
                kind,
                subject,
                detail,
            })
            .collect())
    }

    /// Creates an account, in `organization` when one is named; both or
    /// neither happen. `actor` is who did it (an admin, or the operator).
    pub fn add_account(
        &self,
        name: &str,
        role: Role,
        password: &niji_core::SecretString,
        organization: Option<&str>,
        actor: crate::Actor<'_>,
    ) -> Result<Account, StoreError> {
        actor.must_be_admin("creates accounts")?;
        let actor = actor.name();
        let tx = self.conn.transaction()?;
        crate::accounts::insert(&tx, name, role, password)?;
        audit_in(
            &tx,
            actor,
            EventKind::AccountCreate,
            Subject::Account(name),
            role.as_str(),
        )?;
        if let Some(org) = organization {
            crate::governance::join_in(&tx, name, org, actor)?;
        }
        tx.commit()?;
        self.account(name)?.ok_or_else(|| StoreError::Damaged {
            what: format!("account `{name}` is missing after insert"),
        })
    }
}

/// Writes an audit event and its leaf in the access log, inside the
/// caller's transaction.
pub(crate) fn audit_in(
    conn: &Conn,
    actor: &str,
    kind: EventKind,
    subject: Subject<'_>,
    detail: &str,
) -> Result<(), StoreError> {
    // A change of governance state raises the count every process checks
    // what it keeps against.
    if kind.changes_governance() {
        crate::sessions::governance_changed(conn)?;
    }
    audit_for(conn, actor, kind, subject, detail, &[]).map(|_| ())
}

/// Writes an audit event that concerns `persons` (person keys) directly,
/// and appends it to the access log; its leaf index. The entry names them
/// only by commitment.
pub(crate) fn audit_for(
    conn: &Conn,
    actor: &str,
    kind: EventKind,
    subject: Subject<'_>,
    detail: &str,
    persons: &[i64],
) -> Result<u64, StoreError> {
    // The event and its leaf in the access log are one write: the caller's
    // transaction holds both.
    let event = NewEvent {
        actor,
        kind,
        subject,
        detail,
        persons,
        releases_under: None,
    };
    let written = insert_event(conn, &event)?;
    let indices = crate::log::append_all(conn, &[written])?;
    indices.first().copied().ok_or_else(|| StoreError::Damaged {
        what: "an audit event was not appended to the log".into(),
    })
}

fn insert_event<'a>(conn: &Conn, e: &NewEvent<'a>) -> Result<crate::log::Written<'a>, StoreError> {
    // The release an event is scoped to: a release's own events name it.
    let release = e
        .subject
        .release()
        .filter(|_| e.kind.concerns_its_release());
    let (id, at, release_id): (i64, DateTime<Utc>, Option<i64>) = conn.one(
        "INSERT INTO audit_events (actor, kind, subject, detail, project_id, release_id) \
         VALUES ($1, $2, $3, $4, $5, (SELECT release_id FROM releases WHERE name = $6)) \
         RETURNING id, occurred_at, release_id",
        &[
            &e.actor,
            &e.kind.as_str(),
            &e.subject.text(),
            &e.detail,
            &e.subject.project(),
            &release,
        ],
    )?;
    Ok(crate::log::Written::new(id, stamp(&at), e, release_id))
}

/// An audit event to append with [`Store::audit_many`].
#[derive(Debug, Clone, Copy)]
pub struct NewEvent<'a> {
    /// Who acted.
    pub actor: &'a str,
    /// What happened.
    pub kind: EventKind,
    /// What it concerns.
    pub subject: Subject<'a>,
    /// Details (never personal data).
    pub detail: &'a str,
    /// The person keys it concerns directly (named by commitment).
    pub persons: &'a [i64],
    /// The grant under which the event lets a result leave, if it does:
    /// such an event is written only while that grant is in force for its
    /// actor, checked in the transaction that writes it; otherwise a
    /// refusal is written in its place ([`Logged::Withheld`]).
    pub releases_under: Option<i64>,
}

/// What [`Store::audit_many`] wrote for one event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Logged {
    /// The event, at this leaf index.
    Entry(u64),
    /// A refusal in place of an event that would have let a result leave
    /// under a grant no longer in force: its leaf index, and why.
    Withheld {
        /// The refusal's leaf index.
        index: u64,
        /// Why the grant is no longer in force.
        reason: String,
    },
}

impl Logged {
    /// The leaf index of what was written.
    pub fn index(&self) -> u64 {
        match self {
            Logged::Entry(index) | Logged::Withheld { index, .. } => *index,
        }
    }
}

/// The refusal logged in place of `event`: its detail with the outcome
/// `withheld` and the reason.
fn withheld_detail(event: &NewEvent<'_>, reason: &str) -> String {
    let mut detail = match serde_json::from_str::<serde_json::Value>(event.detail) {
        Ok(serde_json::Value::Object(map)) => map,
        _ => serde_json::Map::from_iter([(
            "request".to_owned(),
            serde_json::Value::String(event.detail.to_owned()),
        )]),
    };
    detail.insert("withheld".into(), event.kind.as_str().into());
    detail.insert("outcome".into(), "withheld".into());
    detail.insert("reason".into(), reason.into());
    serde_json::Value::Object(detail).to_string()
}
