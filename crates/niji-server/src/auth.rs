//! The source-system extractor: a per-facility credential, checked before
//! the handler runs.

use crate::error::FhirError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use niji_core::SecretString;

/// An authenticated source system: the facility whose data it may send.
/// Only this extractor makes one, so a handler that takes it cannot run for
/// an unauthenticated caller.
#[derive(Debug, Clone)]
pub struct SourceSystem {
    /// Its public client id.
    pub client_id: String,
    /// Its facility code (医療機関コード).
    pub facility: String,
}

fn bearer(parts: &Parts) -> Option<SecretString> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| SecretString::new(credential.trim().to_owned()))
}

impl FromRequestParts<AppState> for SourceSystem {
    type Rejection = FhirError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, FhirError> {
        let Some(credential) = bearer(parts) else {
            tracing::info!(reason = "no bearer credential", "source system refused");
            return Err(FhirError::Unauthenticated);
        };
        let inner = state.inner();
        let checked = tokio::task::spawn_blocking(move || {
            let store = inner
                .store
                .lock()
                .map_err(|_| "store lock poisoned".to_owned())?;
            store
                .check_source_credential(&credential)
                .map_err(|err| err.to_string())
        })
        .await
        .map_err(|err| FhirError::Internal(err.to_string()))?
        .map_err(FhirError::Internal)?;
        match checked {
            Ok(client) => Ok(SourceSystem {
                client_id: client.client_id,
                facility: client.facility,
            }),
            Err(refusal) => {
                tracing::info!(reason = ?refusal, "source system refused");
                Err(FhirError::Unauthenticated)
            }
        }
    }
}
