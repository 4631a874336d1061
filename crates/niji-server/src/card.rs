//! Signing in with the My Number Card: niji as an OpenID Connect relying
//! party of the card's provider (the デジタル認証アプリ in production, any
//! provider that hands over the card's basic items).
//!
//! `GET /login/card` discovers the provider (its
//! `.well-known/openid-configuration`), keeps a fresh `state`, nonce and
//! PKCE verifier in the shared store (by the state's SHA-256, ten minutes,
//! one use), puts the state in a cookie of this browser, and sends the
//! browser to the provider. `GET /login/card/callback` takes the provider's
//! answer: the state must be the browser's own and unspent; the code is
//! exchanged with the verifier; the ID token must be signed by a key of the
//! provider's JWKS (never `alg=none`), for niji, from the issuer, unexpired
//! and carry the nonce. Only then are the card's items (name in kanji,
//! birth date, sex) turned into the linkage's keyed token, in memory, and
//! the records that carry it found: exactly one person signs in, none or
//! several (a common name, a shared birthday) is never guessed and the page
//! offers the enrolment letter instead. The provider's subject is kept only
//! as a keyed hash. Every refusal is a page that says what to do, an audit
//! entry of its class, and no session.

use crate::problem::{ApiError, blocking};
use crate::state::AppState;
use chrono::NaiveDate;
use niji_linkage::{Identity, Sex, Tokenizer};
use niji_store::card::{CardCitizen, PendingSignin};
use openidconnect::core::{
    CoreClient, CoreGenderClaim, CoreProviderMetadata, CoreResponseType, CoreUserInfoClaims,
};
use openidconnect::{
    AuthenticationFlow, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret,
    CsrfToken, EndUserBirthday, EndUserName, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    IssuerUrl, LocalizedClaim, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, Scope, TokenResponse, reqwest,
};
use std::time::Duration;

/// The client discovery makes: authorization endpoint known, token and
/// userinfo endpoints as the provider said.
type ProviderClient = CoreClient<
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

/// The cookie that ties a sign-in to the browser that began it.
pub(crate) const STATE_COOKIE: &str = "niji_card";

/// The provider, as configured.
pub struct CardProvider {
    issuer: IssuerUrl,
    client_id: ClientId,
    secret: ClientSecret,
    redirect: RedirectUrl,
    scopes: Vec<Scope>,
    http: reqwest::Client,
}

impl std::fmt::Debug for CardProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardProvider")
            .field("issuer", &self.issuer.as_str())
            .field("client_id", &self.client_id.as_str())
            .finish_non_exhaustive()
    }
}

/// Why a card sign-in was refused: a class, never the provider's words or
/// the card's items, so that the page and the log say what happened and
/// nothing more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CardRefusal {
    /// The provider could not be reached, or its configuration read.
    Unreachable,
    /// The citizen stopped at the provider, or it answered with an error.
    Cancelled,
    /// The answer's `state` is not this browser's, or was used or expired.
    State,
    /// The provider refused to exchange the code.
    Exchange,
    /// The ID token's signature did not verify (another key, or none).
    Signature,
    /// The ID token has expired.
    Expired,
    /// The ID token is for another client.
    Audience,
    /// The ID token is from another issuer.
    Issuer,
    /// The ID token carries another sign-in's nonce.
    Nonce,
    /// The ID token lacks the name, birth date or sex, or they are malformed.
    Claims,
    /// No records carry the card's items.
    NotFound,
    /// More than one person's records carry them.
    Ambiguous,
    /// Too many sign-ins began from this address, or are under way at all.
    Busy,
}

impl CardRefusal {
    /// Its words in the log (English, fixed).
    pub(crate) fn reason(self) -> &'static str {
        match self {
            CardRefusal::Unreachable => "the provider could not be reached",
            CardRefusal::Cancelled => "the provider returned no sign-in",
            CardRefusal::State => "unknown, spent or foreign state",
            CardRefusal::Exchange => "the provider refused the code exchange",
            CardRefusal::Signature => "the ID token's signature did not verify",
            CardRefusal::Expired => "the ID token had expired",
            CardRefusal::Audience => "the ID token was for another client",
            CardRefusal::Issuer => "the ID token was from another issuer",
            CardRefusal::Nonce => "the ID token's nonce did not match",
            CardRefusal::Claims => "the ID token lacked the card's items",
            CardRefusal::NotFound => "no records carry the card's items",
            CardRefusal::Ambiguous => "the card's items fit more than one person",
            CardRefusal::Busy => "too many sign-ins under way",
        }
    }

    /// Its message key in the pages' catalogues.
    pub(crate) fn message(self) -> &'static str {
        match self {
            CardRefusal::Unreachable => "card.unreachable",
            CardRefusal::Cancelled => "card.cancelled",
            CardRefusal::State => "card.state",
            CardRefusal::Exchange
            | CardRefusal::Signature
            | CardRefusal::Expired
            | CardRefusal::Audience
            | CardRefusal::Issuer
            | CardRefusal::Nonce
            | CardRefusal::Claims => "card.invalid",
            CardRefusal::NotFound => "card.not_found",
            CardRefusal::Ambiguous => "card.ambiguous",
            CardRefusal::Busy => "card.busy",
        }
    }

    /// The page's status.
    pub(crate) fn status(self) -> axum::http::StatusCode {
        use axum::http::StatusCode;
        match self {
            CardRefusal::Unreachable => StatusCode::BAD_GATEWAY,
            CardRefusal::NotFound | CardRefusal::Ambiguous => StatusCode::CONFLICT,
            CardRefusal::Busy => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::FORBIDDEN,
        }
    }
}

/// A sign-in leaving for the provider.
pub(crate) struct Departure {
    /// Where the browser goes.
    pub url: String,
    /// The state, for the browser's cookie (and, hashed, the store).
    pub state: String,
    /// What the store keeps until the answer.
    pub pending: PendingSignin,
}

/// What a verified answer leaves of the citizen: the keyed hash of the
/// provider's subject and the keyed tokens of the card's items.
pub(crate) struct Vouched {
    pub subject: [u8; 32],
    pub tokens: Vec<[u8; 32]>,
}

impl CardProvider {
    /// The provider of `config` with niji's client secret; a malformed URL
    /// is named by its key.
    pub fn new(
        config: &niji_core::config::CardConfig,
        secret: &niji_core::SecretString,
    ) -> Result<Self, String> {
        let issuer = IssuerUrl::new(config.issuer.clone())
            .map_err(|e| format!("card.issuer: not a URL: {e}"))?;
        let redirect = RedirectUrl::new(config.redirect.clone())
            .map_err(|e| format!("card.redirect: not a URL: {e}"))?;
        let http = reqwest::Client::builder()
            // Never follow a redirect: the provider's answers are read as
            // given (and a redirect cannot lead the server elsewhere).
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| format!("card sign-in: cannot make an HTTP client: {e}"))?;
        Ok(Self {
            issuer,
            client_id: ClientId::new(config.client_id.clone()),
            secret: ClientSecret::new(secret.expose().to_owned()),
            redirect,
            scopes: config
                .scopes
                .split_whitespace()
                .filter(|s| *s != "openid")
                .map(|s| Scope::new(s.to_owned()))
                .collect(),
            http,
        })
    }

    async fn metadata(&self) -> Result<CoreProviderMetadata, CardRefusal> {
        CoreProviderMetadata::discover_async(self.issuer.clone(), &self.http)
            .await
            .map_err(|e| {
                tracing::warn!(error = %e, "card sign-in: provider discovery failed");
                CardRefusal::Unreachable
            })
    }

    /// niji as the provider's client, from its discovered configuration
    /// (read at each sign-in, so that a rotated JWKS is seen at once).
    async fn client(&self) -> Result<ProviderClient, CardRefusal> {
        Ok(CoreClient::from_provider_metadata(
            self.metadata().await?,
            self.client_id.clone(),
            Some(self.secret.clone()),
        )
        .set_redirect_uri(self.redirect.clone()))
    }

    /// Starts a sign-in: where to send the browser, and what to keep.
    pub(crate) async fn depart(&self) -> Result<Departure, CardRefusal> {
        let client = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(
                AuthenticationFlow::<CoreResponseType>::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .set_pkce_challenge(challenge);
        for scope in &self.scopes {
            request = request.add_scope(scope.clone());
        }
        let (url, state, nonce) = request.url();
        Ok(Departure {
            url: url.to_string(),
            state: state.secret().clone(),
            pending: PendingSignin {
                nonce: niji_core::SecretString::new(nonce.secret().clone()),
                verifier: niji_core::SecretString::new(verifier.secret().clone()),
            },
        })
    }

    /// Finishes a sign-in with the provider's `code`: exchanges it, checks
    /// the ID token, and turns the card's items into keyed tokens.
    pub(crate) async fn arrive(
        &self,
        code: String,
        pending: PendingSignin,
        tokenizer: &Tokenizer,
    ) -> Result<Vouched, CardRefusal> {
        let client = self.client().await?;
        let response = client
            .exchange_code(AuthorizationCode::new(code))
            .map_err(|_| CardRefusal::Exchange)?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.verifier.expose().to_owned()))
            .request_async(&self.http)
            .await
            .map_err(|e| {
                // Its kind only: a token error can quote the provider's
                // reply, which carries the ID token.
                tracing::warn!(
                    kind = exchange_failure(&e),
                    "card sign-in: code exchange failed"
                );
                CardRefusal::Exchange
            })?;
        let token = response.id_token().ok_or(CardRefusal::Exchange)?;
        let nonce = Nonce::new(pending.nonce.expose().to_owned());
        let verifier = client.id_token_verifier();
        let claims = token.claims(&verifier, &nonce).map_err(refusal_of)?;
        // The basic items ride in the ID token, or else the provider's
        // userinfo endpoint gives them for the same subject.
        let items = match Items::of(claims.name(), claims.birthdate(), claims.gender()) {
            Some(items) => items,
            None => {
                let request = client
                    .user_info(
                        response.access_token().clone(),
                        Some(claims.subject().clone()),
                    )
                    .map_err(|_| CardRefusal::Claims)?;
                let info: CoreUserInfoClaims =
                    request.request_async(&self.http).await.map_err(|_| {
                        tracing::warn!("card sign-in: the userinfo request failed");
                        CardRefusal::Claims
                    })?;
                Items::of(info.name(), info.birthdate(), info.gender())
                    .ok_or(CardRefusal::Claims)?
            }
        };
        let (name, birth, sex) = (items.name.as_str(), items.birth, items.sex);
        let identity = Identity {
            kanji_name: Some(name),
            birth: Some(birth),
            sex: Some(sex),
            ..Identity::default()
        };
        Ok(Vouched {
            subject: tokenizer.card_subject(self.issuer.as_str(), claims.subject().as_str()),
            tokens: tokenizer
                .card_tokens(&identity)
                .into_iter()
                .map(|t| t.bytes)
                .collect(),
        })
    }
}

/// What kind of failure a code exchange met, without its words.
fn exchange_failure<RE: std::error::Error + 'static, T: openidconnect::ErrorResponse>(
    e: &openidconnect::RequestTokenError<RE, T>,
) -> &'static str {
    match e {
        openidconnect::RequestTokenError::ServerResponse(_) => "the provider refused",
        openidconnect::RequestTokenError::Request(_) => "the provider could not be reached",
        openidconnect::RequestTokenError::Parse(..) => "the provider's reply was malformed",
        openidconnect::RequestTokenError::Other(_) => "other",
    }
}

/// The card's items a sign-in needs, checked: the name in kanji (1 to 100
/// characters), the birth date, and OpenID's `male` / `female` (the two the
/// card records).
struct Items {
    name: String,
    birth: NaiveDate,
    sex: Sex,
}

impl Items {
    fn of(
        name: Option<&LocalizedClaim<EndUserName>>,
        birthdate: Option<&EndUserBirthday>,
        gender: Option<&CoreGenderClaim>,
    ) -> Option<Items> {
        let name = name?
            .get(None)
            .map(|n| n.as_str())
            .filter(|n| !n.trim().is_empty() && n.chars().count() <= 100)?;
        let birth = NaiveDate::parse_from_str(birthdate?.as_str(), "%Y-%m-%d").ok()?;
        let sex = match gender?.as_str() {
            g @ ("male" | "female") => Sex::parse(g)?,
            _ => return None,
        };
        Some(Items {
            name: name.to_owned(),
            birth,
            sex,
        })
    }
}

/// The class of an ID token's failed check (logged as the class only: the
/// checks' words can quote the token's values).
fn refusal_of(e: ClaimsVerificationError) -> CardRefusal {
    let refusal = match e {
        ClaimsVerificationError::Expired(_) => CardRefusal::Expired,
        ClaimsVerificationError::InvalidAudience(_) => CardRefusal::Audience,
        ClaimsVerificationError::InvalidIssuer(_) => CardRefusal::Issuer,
        ClaimsVerificationError::InvalidNonce(_) => CardRefusal::Nonce,
        _ => CardRefusal::Signature,
    };
    tracing::warn!(reason = refusal.reason(), "card sign-in: ID token refused");
    refusal
}

/// Departures to the provider an address may begin in 15 minutes: far more
/// than a household, few enough that one address cannot fill the table of
/// sign-ins under way.
pub(crate) const DEPARTURES_PER_ADDRESS: u32 = 300;

/// Keeps a departing sign-in in the store; `false` when the table of
/// sign-ins under way is full.
pub(crate) async fn keep(state: &AppState, departure: &Departure) -> Result<bool, ApiError> {
    let inner = state.inner();
    let digest = crate::caller::digest(&departure.state);
    let (nonce, verifier) = (
        niji_core::SecretString::new(departure.pending.nonce.expose().to_owned()),
        niji_core::SecretString::new(departure.pending.verifier.expose().to_owned()),
    );
    blocking(move || {
        Ok(inner
            .store_keeping_governance()?
            .begin_card_signin(&digest, &nonce, &verifier)?)
    })
    .await
}

/// Takes the sign-in of `state` from the store, once.
pub(crate) async fn take(state: &AppState, value: &str) -> Result<Option<PendingSignin>, ApiError> {
    let inner = state.inner();
    let digest = crate::caller::digest(value);
    blocking(move || {
        Ok(inner
            .store_keeping_governance()?
            .take_card_signin(&digest)?)
    })
    .await
}

/// The citizen a vouched answer is: exactly one person's records must
/// carry the card's tokens.
pub(crate) async fn citizen(
    state: &AppState,
    vouched: Vouched,
) -> Result<Result<CardCitizen, CardRefusal>, ApiError> {
    let inner = state.inner();
    blocking(move || {
        let persons = inner
            .staging
            .with(|staging| staging.persons_with_tokens(&vouched.tokens))
            .map_err(|e| match e {
                crate::state::StagingError::Busy => ApiError::busy(
                    "the linked records are in use by another process; try again shortly",
                ),
                crate::state::StagingError::Failed(reason) => ApiError::Internal(reason),
            })?
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        let person = match persons.as_slice() {
            [] => return Ok(Err(CardRefusal::NotFound)),
            [one] => *one,
            _ => return Ok(Err(CardRefusal::Ambiguous)),
        };
        Ok(Ok(inner
            .store_keeping_governance()?
            .card_citizen(&vouched.subject, person)?))
    })
    .await
}

/// Writes a refusal's audit entry: its class, no identity. Aggregated like
/// failed passwords (the 1st, 2nd, 4th, … of a class from an address in
/// 15 minutes, with the count), so that a stream of forged answers cannot
/// fill the permanent log.
pub(crate) async fn log_refusal(
    state: &AppState,
    refusal: CardRefusal,
    address: std::net::IpAddr,
) -> Result<(), ApiError> {
    let key = format!("card:{refusal:?}");
    let Some(count) = crate::signin::throttle(&state.inner())?.count_for_log(&key, address) else {
        return Ok(());
    };
    let detail = match count {
        1 => refusal.reason().to_owned(),
        n => format!("{} ({n} in 15 minutes)", refusal.reason()),
    };
    let inner = state.inner();
    blocking(move || {
        Ok(inner.store_keeping_governance()?.audit(
            crate::signin::UNKNOWN_ACTOR,
            niji_audit::event::EventKind::LoginCardRefused,
            niji_audit::event::Subject::CardSignIn,
            &detail,
        )?)
    })
    .await
}
