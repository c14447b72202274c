//! A profile's token life cycle: loaded from the store, fetched on first use by one request
//! while the others wait, refreshed ahead of expiry, dropped when the API rejects it, and backed
//! off when the token endpoint fails.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use super::client::TokenClient;
use super::grant::{Ask, token_request};
use super::settings::{Grant, Settings};
use super::store::{Stamp, StoreError, TokenFile};
use super::token::{Token, TokenError, check_sendable, parse_token_response};
use crate::secret::Secret;
use crate::shared::SharedStore;

mod fleet;
use fleet::Fleet;

/// The longest pause between attempts at a failing token endpoint.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How often requests look whether another process (`signet login`, `signet token --refresh`)
/// replaced the token store: one look at the file's stamp at most this often.
const STORE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Why no token can be sent.
#[derive(Debug, Clone, thiserror::Error)]
pub enum SourceError {
    /// The token endpoint failed (the OAuth error code and description when it sent them).
    #[error("{0}")]
    Endpoint(String),
    /// A browser grant has no usable token and no refresh token.
    #[error("no valid token for profile {0}; run `signet login {0}`")]
    NeedsLogin(String),
    /// The token store could not be read or written.
    #[error("{0}")]
    Store(String),
}

#[derive(Debug, Default)]
struct State {
    token: Option<Token>,
    loaded: bool,
    /// The API answered 401 to the current access token.
    rejected: bool,
    /// Token requests failed in a row.
    failures: u32,
    /// Token requests failed in all; a request that saw it change while it waited for its turn
    /// shares that failure.
    failed_fetches: u64,
    retry_at: Option<SystemTime>,
    last_error: Option<String>,
    /// The store file's stamp when it was last read.
    store_stamp: Option<Stamp>,
    /// When a request last looked at the store's stamp.
    store_checked: Option<SystemTime>,
    /// The store as it was when a reload changed the profile: what it held then was got under
    /// other settings, and is not used.
    disowned: Option<Stamp>,
    /// The current token as sealed in the shared store, when it came from there or went there.
    shared_sealed: Option<Vec<u8>>,
}

/// A request's time as it waits for its token: the time it was signed at, moved on by the
/// monotonic clock (tokio's, so that a test's paused time moves it too).
#[derive(Debug, Clone, Copy)]
struct RequestTime {
    signed: SystemTime,
    since: tokio::time::Instant,
}

impl From<SystemTime> for RequestTime {
    fn from(signed: SystemTime) -> Self {
        RequestTime {
            signed,
            since: tokio::time::Instant::now(),
        }
    }
}

impl RequestTime {
    fn now(&self) -> SystemTime {
        let waited = self.since.elapsed();
        self.signed.checked_add(waited).unwrap_or(self.signed)
    }
}

/// One profile's tokens, shared by every request that uses the profile.
#[derive(Debug)]
pub struct TokenSource {
    settings: Settings,
    store: TokenFile,
    client: TokenClient,
    state: Mutex<State>,
    /// Held while a token request is under way, so that concurrent requests share it.
    fetch: tokio::sync::Mutex<()>,
    /// Token requests sent (for `/metrics`).
    requests_sent: std::sync::atomic::AtomicU64,
    /// Token requests by outcome: fetch ok, fetch error, refresh ok, refresh error.
    outcomes: [std::sync::atomic::AtomicU64; 4],
    /// Where the token is shared with other instances, with `[shared]`.
    fleet: Option<Fleet>,
}

/// What `signet token` shows.
#[derive(Debug, Clone)]
pub struct Status {
    /// The token, when there is one.
    pub token: Option<Token>,
    /// Whether the API rejected it.
    pub rejected: bool,
}

impl TokenSource {
    /// A source for `settings` that asks token endpoints with `client` (nothing is read or
    /// fetched yet).
    pub fn new(settings: Settings, client: TokenClient) -> Self {
        TokenSource {
            store: TokenFile::new(settings.store_path.clone()),
            settings,
            client,
            state: Mutex::new(State::default()),
            fetch: tokio::sync::Mutex::new(()),
            requests_sent: std::sync::atomic::AtomicU64::new(0),
            outcomes: Default::default(),
            fleet: None,
        }
    }

    /// Shares the token through `store` with every instance of the same settings.
    pub fn sharing(mut self, store: Arc<SharedStore>) -> Self {
        if !matches!(self.settings.grant, Grant::Fixed(_)) {
            self.fleet = Some(Fleet::new(store, &self.settings, self.client.timeout()));
        }
        self
    }

    /// Token requests by outcome: `[fetch ok, fetch error, refresh ok, refresh error]`.
    pub fn outcomes(&self) -> [u64; 4] {
        self.outcomes
            .each_ref()
            .map(|n| n.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// When the token in memory expires, if there is one and it says.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.lock().token.as_ref().and_then(|t| t.expires_at)
    }

    /// Starts without the token in the store now: a reload changed the profile, and what the
    /// store holds was got under the old settings. A token written there later (`signet
    /// login`) or fetched is used as usual.
    pub fn disown_stored(&self) {
        let stamp = self.store.stamp();
        let mut st = self.lock();
        st.disowned = stamp;
        st.store_stamp = stamp;
        st.loaded = true;
    }

    /// How many token requests this source has sent.
    pub fn requests_sent(&self) -> u64 {
        self.requests_sent
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The profile's checked settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The token store file.
    pub fn store(&self) -> &TokenFile {
        &self.store
    }

    /// The token endpoint client.
    pub fn client(&self) -> &TokenClient {
        &self.client
    }

    /// Whether a rejected token can be replaced without a person (a refresh token or a
    /// non-interactive grant).
    pub fn can_renew(&self) -> bool {
        match &self.settings.grant {
            Grant::Fixed(_) => false,
            g if g.is_interactive() => self
                .lock()
                .token
                .as_ref()
                .is_some_and(|t| t.refresh_token.is_some()),
            _ => true,
        }
    }

    /// The credential to send for a request signed at `now`: the access token (or the ID token
    /// when so configured). Whether a token is valid is judged when it is handed out, at `now`
    /// plus however long the request waited here (for the store, for a token request already
    /// under way, for its own).
    pub async fn credential(&self, now: SystemTime) -> Result<Secret, SourceError> {
        if let Grant::Fixed(token) = &self.settings.grant {
            return Ok(token.clone());
        }
        let clock = RequestTime::from(now);
        if !self.lock().loaded {
            self.reload(false).await?;
        } else {
            self.pick_up_other_writes(clock.now()).await;
        }
        if let Some(c) = self.fresh(clock.now())? {
            return Ok(c);
        }
        // A token request that fails while this request waits for its turn is this request's
        // answer too: it does not ask again right after.
        let failed_before = self.lock().failed_fetches;
        // Held until the new token is in the store too: a request that takes the turn next reads
        // the store first, and must not find the token this one replaced.
        let _turn = self.fetch.lock().await;
        // Whoever held the lock before may have fetched what this request needs.
        if let Some(c) = self.fresh(clock.now())? {
            return Ok(c);
        }
        if let Some(fleet) = &self.fleet
            && let Some(answer) = self.through_fleet(fleet, clock, failed_before).await
        {
            return answer;
        }
        // `signet login` or `signet token --refresh` in another process may have stored a newer
        // token (and, with rotation, consumed the refresh token held here).
        self.reload(false).await?;
        if let Some(c) = self.fresh(clock.now())? {
            return Ok(c);
        }
        if let Some(answer) = self.without_asking(failed_before, clock.now()) {
            return answer;
        }
        self.renew(clock).await
    }

    /// The answer of a request that does not ask the token endpoint: in the back-off after a
    /// failure, or when the token request it waited for failed. The current token while it is
    /// still valid at `now`, else that failure; `None` when the request should ask.
    fn without_asking(
        &self,
        failed_before: u64,
        now: SystemTime,
    ) -> Option<Result<Secret, SourceError>> {
        let st = self.lock();
        let failed_meanwhile = st.failed_fetches != failed_before;
        let backing_off = st.retry_at.is_some_and(|retry_at| now < retry_at);
        if !failed_meanwhile && !backing_off {
            return None;
        }
        match self.still_valid(&st, now) {
            Ok(None) => {}
            valid_or_unusable => return valid_or_unusable.transpose(),
        }
        let wait = st
            .retry_at
            .and_then(|retry_at| retry_at.duration_since(now).ok())
            .unwrap_or_default();
        Some(Err(SourceError::Endpoint(format!(
            "{} (next attempt in {}s)",
            st.last_error
                .as_deref()
                .unwrap_or("the token endpoint failed"),
            wait.as_secs().max(1)
        ))))
    }

    /// Asks for a new token (the caller holds the turn) and makes it current. On failure, backs
    /// off and keeps handing out the current token while it is valid.
    async fn renew(&self, clock: RequestTime) -> Result<Secret, SourceError> {
        let obtained = self.obtain(clock.now()).await.and_then(|token| {
            // A lifetime shorter than the token request took: expired before it could be sent.
            if token.expires_within(clock.now(), Duration::ZERO) {
                return Err(SourceError::Endpoint(
                    "the token endpoint issued a token that expired before its answer arrived"
                        .into(),
                ));
            }
            if self.due(&token, clock.now(), Duration::ZERO) {
                return Err(SourceError::Endpoint(
                    "token_type is id_token but the token endpoint issued no ID token that is \
                     still valid"
                        .into(),
                ));
            }
            Ok(token)
        });
        match obtained {
            Ok(token) => {
                let credential = self.pick(&token)?;
                self.accept(token).await;
                Ok(credential)
            }
            Err(e @ SourceError::NeedsLogin(_)) => Err(e),
            Err(e) => {
                let now = clock.now();
                let mut st = self.lock();
                st.failures = st.failures.saturating_add(1);
                st.failed_fetches = st.failed_fetches.wrapping_add(1);
                let backoff = Duration::from_secs(1u64 << st.failures.saturating_sub(1).min(6))
                    .min(MAX_BACKOFF);
                st.retry_at = now.checked_add(backoff);
                st.last_error = Some(e.to_string());
                tracing::warn!(profile = %self.settings.name, error = %e, retry_in_s = backoff.as_secs(), "token request failed");
                // A refresh ahead of expiry that fails leaves the current token usable.
                if let Some(c) = self.still_valid(&st, now)? {
                    return Ok(c);
                }
                Err(e)
            }
        }
    }

    /// Marks `sent` as rejected by the API (a 401), if it is still the current credential.
    pub fn reject(&self, sent: &str) {
        let mut st = self.lock();
        let current = st.token.as_ref().and_then(|t| self.pick(t).ok());
        if current.is_some_and(|c| c.expose() == sent) {
            tracing::info!(profile = %self.settings.name, "the API rejected the token; renewing it");
            st.rejected = true;
            if let (Some(fleet), Some(sealed)) = (&self.fleet, st.shared_sealed.take()) {
                self.drop_shared(fleet, sealed);
            }
        }
    }

    /// Gets a new token now, whatever the state of the current one (`signet token --refresh`).
    pub async fn force_refresh(&self, now: SystemTime) -> Result<(), SourceError> {
        if let Grant::Fixed(_) = self.settings.grant {
            return Err(SourceError::Endpoint(
                "a fixed access_token cannot be refreshed".into(),
            ));
        }
        let _turn = self.fetch.lock().await;
        self.reload(false).await?;
        if let Some(fleet) = &self.fleet {
            // The fleet's refresh token is the one still valid under rotation.
            let _ = self.adopt_shared(fleet).await;
        }
        let token = self.obtain(now).await?;
        self.accept(token).await;
        if let Some(fleet) = &self.fleet {
            self.publish(fleet).await;
        }
        Ok(())
    }

    /// Stores a token obtained by `signet login`.
    pub async fn store_login(&self, token: Token) -> Result<(), SourceError> {
        let _turn = self.fetch.lock().await;
        self.install(token)
            .await
            .map_err(|e| SourceError::Store(e.to_string()))?;
        if let Some(fleet) = &self.fleet {
            self.publish(fleet).await;
        }
        Ok(())
    }

    /// The current token state, read from the store when nothing is in memory.
    pub fn status(&self) -> Result<Status, SourceError> {
        self.ensure_loaded()?;
        let st = self.lock();
        Ok(Status {
            token: st.token.clone(),
            rejected: st.rejected,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes `token` the current one (clearing any failure) and starts writing it to the
    /// store. Under the state lock, so that tokens reach the store in the order they became
    /// current.
    fn install(&self, token: Token) -> impl Future<Output = Result<(), StoreError>> + use<> {
        let mut st = self.lock();
        let saved = self.store.save(token.clone());
        st.token = Some(token);
        st.loaded = true;
        st.rejected = false;
        st.failures = 0;
        st.retry_at = None;
        st.last_error = None;
        saved
    }

    /// Reads the store on first use (`signet token`, outside the proxy: in place).
    fn ensure_loaded(&self) -> Result<(), SourceError> {
        if self.lock().loaded {
            return Ok(());
        }
        let loaded = self.store.load();
        self.take_loaded(loaded)
    }

    /// Takes a token that another process stored since the store was last read. Looks at the
    /// file's stamp at most once per [`STORE_CHECK_INTERVAL`], and not while a token request is
    /// under way (it reads the store itself, and writes it before it lets go).
    async fn pick_up_other_writes(&self, now: SystemTime) {
        if !self.store_check_due(now) {
            return;
        }
        let Ok(_turn) = self.fetch.try_lock() else {
            return;
        };
        if let Err(e) = self.reload(true).await {
            tracing::warn!(profile = %self.settings.name, error = %e, "cannot read the token store; keeping the token in memory");
        }
    }

    /// Whether the store's stamp is due for a look at `now`; if so, it counts as looked at.
    fn store_check_due(&self, now: SystemTime) -> bool {
        let mut st = self.lock();
        let recent = st.store_checked.is_some_and(
            |checked| matches!(now.duration_since(checked), Ok(d) if d < STORE_CHECK_INTERVAL),
        );
        if !recent {
            st.store_checked = Some(now);
        }
        !recent
    }

    /// Reads the store on a blocking thread, so that a slow disk stalls no connection; with
    /// `only_if_changed`, only when its stamp differs from that of the last read.
    async fn reload(&self, only_if_changed: bool) -> Result<(), SourceError> {
        let store = self.store.clone();
        let seen = self.lock().store_stamp;
        let read = tokio::task::spawn_blocking(move || {
            // The stamp before the content: a write in between shows as a change next time.
            let stamp = store.stamp();
            if only_if_changed && stamp == seen {
                return None;
            }
            Some((stamp, store.load()))
        })
        .await
        .map_err(|e| SourceError::Store(e.to_string()))?;
        let Some((stamp, loaded)) = read else {
            return Ok(());
        };
        let mut st = self.lock();
        st.store_stamp = stamp;
        if stamp.is_some() && stamp == st.disowned {
            return Ok(());
        }
        drop(st);
        self.take_loaded(loaded)
    }

    /// Takes what the store held, unless the same token is already in memory. A stored token
    /// that cannot be sent (a file edited by hand, or written before tokens were checked) is
    /// renewed as if the API had refused it: its refresh token still serves.
    fn take_loaded(&self, loaded: Result<Option<Token>, StoreError>) -> Result<(), SourceError> {
        let loaded = loaded.map_err(|e| SourceError::Store(e.to_string()))?;
        let mut st = self.lock();
        st.loaded = true;
        if let Some(token) = loaded {
            let same = st
                .token
                .as_ref()
                .is_some_and(|t| t.access_token == token.access_token);
            if !same {
                let unsendable = self
                    .pick(&token)
                    .ok()
                    .and_then(|c| check_sendable(c.expose()).err());
                if let Some(why) = unsendable {
                    tracing::warn!(profile = %self.settings.name, store = %self.store.path().display(), "the stored token {why}; getting a new one");
                }
                st.token = Some(token);
                st.rejected = unsendable.is_some();
            }
        }
        Ok(())
    }

    /// The credential when the current token needs no renewal at `now`.
    fn fresh(&self, now: SystemTime) -> Result<Option<Secret>, SourceError> {
        let st = self.lock();
        let skew = if self.settings.auto_refresh {
            self.settings.skew
        } else {
            Duration::ZERO
        };
        match &st.token {
            Some(t) if !st.rejected && !self.due(t, now, skew) => self.pick(t).map(Some),
            _ => Ok(None),
        }
    }

    /// The credential when the current token, even if due for refresh, has not expired.
    fn still_valid(&self, st: &State, now: SystemTime) -> Result<Option<Secret>, SourceError> {
        match &st.token {
            Some(t) if !st.rejected && !self.due(t, now, Duration::ZERO) => self.pick(t).map(Some),
            _ => Ok(None),
        }
    }

    /// Whether the credential `pick` takes from `token` expires within `skew` of `now`.
    fn due(&self, token: &Token, now: SystemTime, skew: Duration) -> bool {
        token.expires_within(now, skew)
            || (self.settings.send_id_token && token.id_token_expires_within(now, skew))
    }

    fn pick(&self, token: &Token) -> Result<Secret, SourceError> {
        if self.settings.send_id_token {
            token.id_token.clone().ok_or_else(|| {
                SourceError::Endpoint(
                    "token_type is id_token but the token endpoint issued no id_token \
                     (is the openid scope requested?)"
                        .into(),
                )
            })
        } else {
            Ok(token.access_token.clone())
        }
    }

    /// Makes `token` the current one and writes it to the store, off the runtime thread.
    async fn accept(&self, token: Token) {
        tracing::info!(
            profile = %self.settings.name,
            expires_in_s = token.expires_at.and_then(|at| at.duration_since(SystemTime::now()).ok()).map(|d| d.as_secs()),
            scopes = %token.scopes.join(" "),
            refresh_token = token.refresh_token.is_some(),
            "obtained a token"
        );
        if let Err(e) = self.install(token).await {
            tracing::warn!(profile = %self.settings.name, error = %e, "cannot write the token store; the token is kept in memory");
        }
    }

    /// A new token: with the refresh token when there is one, else by the profile's grant.
    async fn obtain(&self, now: SystemTime) -> Result<Token, SourceError> {
        let previous = self.lock().token.clone();
        if let Some(refresh) = previous.as_ref().and_then(|t| t.refresh_token.clone()) {
            match self.request(Ask::Refresh(refresh.expose()), now).await {
                Ok(mut token) => {
                    // RFC 6749 §6: without a new refresh token the old one stays valid.
                    if token.refresh_token.is_none() {
                        token.refresh_token = Some(refresh);
                    }
                    if token.id_token.is_none() {
                        token.id_token = previous.and_then(|p| p.id_token);
                    }
                    return Ok(token);
                }
                Err(TokenError::OAuth { error, .. }) if error == "invalid_grant" => {
                    tracing::info!(profile = %self.settings.name, "the refresh token is no longer valid");
                    if let Some(t) = self.lock().token.as_mut() {
                        t.refresh_token = None;
                    }
                }
                Err(e) => return Err(SourceError::Endpoint(e.to_string())),
            }
        }
        if self.settings.grant.is_interactive() {
            return Err(SourceError::NeedsLogin(self.settings.name.clone()));
        }
        self.request(Ask::Grant, now)
            .await
            .map_err(|e| SourceError::Endpoint(e.to_string()))
    }

    /// Sends one token request and parses the answer.
    pub async fn request(&self, ask: Ask<'_>, now: SystemTime) -> Result<Token, TokenError> {
        let refresh = matches!(ask, Ask::Refresh(_));
        let kind = match ask {
            Ask::Refresh(_) => "refresh",
            Ask::Code { .. } => "code exchange",
            Ask::Grant => self.settings.grant.name(),
        };
        let req = token_request(&self.settings, ask)
            .ok_or_else(|| TokenError::Unreachable("the profile has no access_token_url".into()))?;
        tracing::debug!(profile = %self.settings.name, kind, "token request");
        self.requests_sent
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let result = match self.client.post(&req).await {
            Ok(answer) => parse_token_response(
                answer.status,
                answer.content_type.as_deref(),
                &answer.body,
                now,
                self.settings.scope.as_deref(),
            ),
            Err(e) => Err(e),
        };
        let outcome = usize::from(refresh) * 2 + usize::from(result.is_err());
        if let Some(counter) = self.outcomes.get(outcome) {
            counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        result
    }
}
