//! Revoked tokens: the issuer's signed revocation list, polled, verified,
//! kept, and checked on every request.
//!
//! - **Polling**: `GET <revocations URL>` every `revocations_refresh` (after
//!   the previous poll ended), with `If-None-Match` naming the last list
//!   applied; `304` confirms it. A revocation therefore reaches the gateway
//!   within one refresh period plus one fetch.
//! - **Verification**: the answer is `{"token": "<JWT>"}`, a
//!   [`RevocationList`] signed like Slipway's tokens. It is verified with
//!   [`Verifier`] against the issuer's keys (the gateway's [`KeyStore`]; a
//!   key id not yet known triggers a JWKS refetch, as for tokens): EdDSA, a
//!   known key, the exact issuer, audience [`REVOCATIONS_AUDIENCE`], subject
//!   [`ISSUER_SUBJECT`], `exp`/`nbf` with 30 s leeway. A list that fails is
//!   ignored (counted as `invalid`): the set stays as it was.
//! - **The set**: revoked `jti`s with their `exp`, and people (`sub`) whose
//!   tokens for this cluster issued before a time are refused (a member
//!   removed from the cluster's organization: one entry for all their
//!   tokens); entries for other clusters are not kept. A verified list only
//!   adds, extends an `exp` or moves a cut-off on; an entry leaves once past
//!   its `exp` plus the 30 s leeway — never because a later list omits it,
//!   so an old list replayed cannot undo a revocation. A list from an
//!   issuer that publishes no people has none, and works as before.
//! - **Persistence**: whenever the set changes it is written (atomically,
//!   mode 0600) to the state file's path plus `.revocations`, and read
//!   back before a restarted gateway serves: it keeps refusing what it
//!   knew was revoked even if the issuer is unreachable.

use std::collections::HashMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use http::StatusCode;
use http::header::{ETAG, IF_NONE_MATCH};
use parking_lot::{Mutex, RwLock};
use serde::{Deserialize, Serialize};
use slipway_auth::jwt::{
    ISSUER_SUBJECT, LEEWAY_SECS, REVOCATIONS_AUDIENCE, Rejection, RevocationList, RevokedSubject,
    RevokedToken, Verifier,
};

use super::GatewayError;
use super::config::Config;
use super::keys::{KeyStore, Refetch, chain, issuer_client};
use super::metrics::{FetchResult, Metrics};

/// The largest answer accepted.
const MAX_BODY: usize = 64 << 20;

/// What one poll of the list came to (the `result` label of
/// `slipway_gateway_revocation_fetches_total`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fetched {
    /// A verified list, applied; `added` entries were new.
    Applied { added: usize },
    /// `304`: the list applied last is still current.
    Unchanged,
    /// The issuer could not be asked, or did not answer with a list.
    Error(String),
    /// A list came, and it does not verify: ignored.
    Invalid(String),
}

impl Fetched {
    fn result(&self) -> FetchResult {
        match self {
            Fetched::Applied { .. } => FetchResult::Ok,
            Fetched::Unchanged => FetchResult::Unchanged,
            Fetched::Error(_) => FetchResult::Error,
            Fetched::Invalid(_) => FetchResult::Invalid,
        }
    }
}

/// The file the set is kept in between runs.
#[derive(Debug, Serialize, Deserialize)]
struct Persisted {
    /// The issuer whose list this is.
    issuer: String,
    /// The `ETag` of the last list applied.
    etag: Option<String>,
    /// When the list was last known current (unix seconds).
    confirmed_at: i64,
    revoked: Vec<RevokedToken>,
    /// Absent from files kept before people were published.
    #[serde(default)]
    subjects: Vec<RevokedSubject>,
}

/// A person whose tokens for this cluster issued before `issued_before`
/// are refused until `exp` (unix seconds both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cutoff {
    issued_before: i64,
    exp: i64,
}

/// The revoked token ids, and how to keep them current.
pub(crate) struct Revocations {
    /// Where the list is fetched from; `None`: never (no issuer).
    url: Option<String>,
    issuer: String,
    /// This gateway's cluster: only people's entries for it are kept.
    cluster: String,
    verifier: Verifier,
    file: Option<PathBuf>,
    http: reqwest::Client,
    keys: Arc<KeyStore>,
    metrics: Arc<Metrics>,
    /// `jti` → its `exp` (unix seconds).
    revoked: RwLock<HashMap<Box<str>, i64>>,
    /// `sub` → the cut-off for their tokens.
    subjects: RwLock<HashMap<Box<str>, Cutoff>>,
    /// `revoked.len()` and `subjects.len()`, read without the locks: most
    /// of the time the set is empty, and requests then take no lock at all.
    len: AtomicUsize,
    subjects_len: AtomicUsize,
    /// The `ETag` of the last list applied.
    etag: Mutex<Option<String>>,
    /// Serializes polls.
    polling: tokio::sync::Mutex<()>,
}

impl Revocations {
    pub fn new(config: &Config, keys: Arc<KeyStore>, metrics: Arc<Metrics>) -> Self {
        let issuer = config.issuer.clone().unwrap_or_default();
        let http = issuer_client();
        let url = config.effective_revocations_url();
        metrics.revocations_enabled(url.is_some());
        Self {
            url,
            verifier: Verifier::new(&issuer, REVOCATIONS_AUDIENCE),
            issuer,
            cluster: config.cluster.clone(),
            file: config.revocations_file(),
            http,
            keys,
            metrics,
            revoked: RwLock::new(HashMap::new()),
            subjects: RwLock::new(HashMap::new()),
            len: AtomicUsize::new(0),
            subjects_len: AtomicUsize::new(0),
            etag: Mutex::new(None),
            polling: tokio::sync::Mutex::new(()),
        }
    }

    pub fn url(&self) -> Option<&str> {
        self.url.as_deref()
    }

    /// Whether a token — its `jti`, and `sub` issued at `iat` — is revoked
    /// at `now` (unix seconds all).
    pub fn is_revoked(&self, jti: &str, sub: &str, iat: i64, now: i64) -> bool {
        let live = |exp: i64| now <= exp.saturating_add(LEEWAY_SECS as i64);
        (self.len.load(Ordering::Acquire) > 0
            && self.revoked.read().get(jti).is_some_and(|exp| live(*exp)))
            || (self.subjects_len.load(Ordering::Acquire) > 0
                && self
                    .subjects
                    .read()
                    .get(sub)
                    .is_some_and(|cut| iat < cut.issued_before && live(cut.exp)))
    }

    /// How many token ids the set holds.
    pub fn len(&self) -> usize {
        self.len.load(Ordering::Acquire)
    }

    /// How many people the set holds.
    pub fn subjects_len(&self) -> usize {
        self.subjects_len.load(Ordering::Acquire)
    }

    fn set_gauges(&self) {
        self.metrics.revoked_tokens.set(self.len() as i64);
        self.metrics
            .revoked_subjects
            .set(self.subjects_len() as i64);
    }

    /// Reads the set kept by a previous run (before serving). A missing
    /// file is an empty set; a file of another issuer is ignored; a file
    /// that cannot be read or parsed is an error — the gateway does not
    /// start without knowing what was revoked.
    pub fn load(&self) -> Result<(), GatewayError> {
        let Some(path) = &self.file else {
            return Ok(());
        };
        let text = match fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(GatewayError::io(format!("reading {}", path.display()), err)),
        };
        let kept: Persisted = serde_json::from_str(&text).map_err(|err| {
            GatewayError::Invalid(format!(
                "the revocation list {} is not valid ({err}); remove it to start without it",
                path.display()
            ))
        })?;
        if kept.issuer != self.issuer {
            tracing::warn!(
                file = %path.display(),
                issuer = %kept.issuer,
                "ignoring the revocation list kept for another issuer"
            );
            return Ok(());
        }
        let now = unix_now();
        self.add(&kept.revoked, now);
        self.add_subjects(&kept.subjects, now);
        self.prune(now);
        *self.etag.lock() = kept.etag;
        self.metrics.revocations_confirmed(kept.confirmed_at);
        self.set_gauges();
        tracing::info!(
            file = %path.display(),
            revoked = self.len(),
            people = self.subjects_len(),
            "revocation list loaded"
        );
        Ok(())
    }

    /// Polls the list once, applies it if it verifies, drops expired
    /// entries, and keeps the set on disk when it changed.
    pub async fn refresh(&self) -> Fetched {
        let Some(url) = &self.url else {
            return Fetched::Error("no revocation list URL".into());
        };
        let _polling = self.polling.lock().await;
        let etag = self.etag.lock().clone();
        let fetched = match self.fetch(url, etag.as_deref()).await {
            Err(err) => Fetched::Error(err),
            Ok(None) => {
                self.metrics.revocations_confirmed(unix_now());
                Fetched::Unchanged
            }
            Ok(Some((token, new_etag))) => match self.verify(&token).await {
                Err(fetched) => fetched,
                Ok(list) => {
                    let now = unix_now();
                    let added =
                        self.add(&list.revoked, now) + self.add_subjects(&list.subjects, now);
                    let etag_changed = *self.etag.lock() != new_etag;
                    *self.etag.lock() = new_etag;
                    self.metrics.revocations_confirmed(now);
                    if added > 0 || etag_changed {
                        self.persist(now);
                    }
                    if added > 0 {
                        tracing::info!(added, revoked = self.len(), "revoked tokens added");
                    }
                    Fetched::Applied { added }
                }
            },
        };
        let now = unix_now();
        if self.prune(now) > 0 {
            self.persist(now);
        }
        self.metrics.revocation_fetch(fetched.result());
        self.set_gauges();
        fetched
    }

    /// `Ok(None)`: 304. `Ok(Some((token, etag)))`: a list to verify.
    async fn fetch(
        &self,
        url: &str,
        etag: Option<&str>,
    ) -> Result<Option<(String, Option<String>)>, String> {
        let mut request = self.http.get(url);
        if let Some(etag) = etag {
            request = request.header(IF_NONE_MATCH, etag);
        }
        let mut response = request
            .send()
            .await
            .map_err(|e| format!("GET {url}: {}", chain(&e)))?;
        let status = response.status();
        if status == StatusCode::NOT_MODIFIED && etag.is_some() {
            return Ok(None);
        }
        if !status.is_success() {
            return Err(format!("GET {url}: HTTP {status}"));
        }
        let new_etag = response
            .headers()
            .get(ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {}", chain(&e)))?
        {
            if body.len() + chunk.len() > MAX_BODY {
                return Err(format!("GET {url}: the answer is over {MAX_BODY} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        #[derive(Deserialize)]
        struct Answer {
            token: String,
        }
        let answer: Answer = serde_json::from_slice(&body)
            .map_err(|e| format!("{url}: not a revocation list ({e})"))?;
        Ok(Some((answer.token, new_etag)))
    }

    /// Verifies a list (refetching the keys once for a key id not yet
    /// known).
    async fn verify(&self, token: &str) -> Result<RevocationList, Fetched> {
        let mut result = self
            .verifier
            .verify_as::<RevocationList>(token, &self.keys.current());
        if let Err(Rejection::UnknownKey(_)) = &result
            && let Some(kid) = Verifier::key_id(token)
        {
            match self.keys.refetch_for(&kid).await {
                Refetch::Found => {
                    result = self
                        .verifier
                        .verify_as::<RevocationList>(token, &self.keys.current());
                }
                Refetch::Unknown => {}
                Refetch::Unavailable => {
                    return Err(Fetched::Error(
                        "the issuer's keys are unavailable: the list cannot be verified".into(),
                    ));
                }
            }
        }
        let list = result.map_err(|r| Fetched::Invalid(r.to_string()))?;
        if list.sub != ISSUER_SUBJECT {
            return Err(Fetched::Invalid(format!(
                "the list's subject is {:?}, not {ISSUER_SUBJECT:?}",
                list.sub
            )));
        }
        Ok(list)
    }

    /// Adds entries not yet expired; returns how many were new.
    fn add(&self, entries: &[RevokedToken], now: i64) -> usize {
        let mut revoked = self.revoked.write();
        let mut added = 0;
        for entry in entries {
            if entry.exp.saturating_add(LEEWAY_SECS as i64) < now {
                continue;
            }
            match revoked.get_mut(entry.jti.as_str()) {
                Some(exp) => *exp = (*exp).max(entry.exp),
                None => {
                    revoked.insert(entry.jti.as_str().into(), entry.exp);
                    added += 1;
                }
            }
        }
        self.len.store(revoked.len(), Ordering::Release);
        added
    }

    /// Adds the people's entries for this cluster not yet expired, or
    /// moves an entry's cut-off and expiry on (never back); returns how
    /// many were new or moved.
    fn add_subjects(&self, entries: &[RevokedSubject], now: i64) -> usize {
        let mut subjects = self.subjects.write();
        let mut changed = 0;
        for entry in entries {
            if entry.aud != self.cluster || entry.exp.saturating_add(LEEWAY_SECS as i64) < now {
                continue;
            }
            let new = Cutoff {
                issued_before: entry.issued_before,
                exp: entry.exp,
            };
            match subjects.get_mut(entry.sub.as_str()) {
                Some(cut) => {
                    let moved = Cutoff {
                        issued_before: cut.issued_before.max(new.issued_before),
                        exp: cut.exp.max(new.exp),
                    };
                    if moved != *cut {
                        *cut = moved;
                        changed += 1;
                    }
                }
                None => {
                    subjects.insert(entry.sub.as_str().into(), new);
                    changed += 1;
                }
            }
        }
        self.subjects_len.store(subjects.len(), Ordering::Release);
        changed
    }

    /// Drops entries past their `exp` plus the leeway; returns how many.
    fn prune(&self, now: i64) -> usize {
        let live = |exp: i64| now <= exp.saturating_add(LEEWAY_SECS as i64);
        let mut dropped = 0;
        if self.len() > 0 {
            let mut revoked = self.revoked.write();
            let before = revoked.len();
            revoked.retain(|_, exp| live(*exp));
            if revoked.capacity() > 2 * revoked.len() + 64 {
                revoked.shrink_to_fit();
            }
            self.len.store(revoked.len(), Ordering::Release);
            dropped += before - revoked.len();
        }
        if self.subjects_len() > 0 {
            let mut subjects = self.subjects.write();
            let before = subjects.len();
            subjects.retain(|_, cut| live(cut.exp));
            if subjects.capacity() > 2 * subjects.len() + 64 {
                subjects.shrink_to_fit();
            }
            self.subjects_len.store(subjects.len(), Ordering::Release);
            dropped += before - subjects.len();
        }
        dropped
    }

    /// Writes the set to its file, if it has one. A failure is logged: the
    /// set in memory is still applied.
    fn persist(&self, now: i64) {
        let Some(path) = &self.file else {
            return;
        };
        let mut revoked: Vec<RevokedToken> = self
            .revoked
            .read()
            .iter()
            .map(|(jti, exp)| RevokedToken {
                jti: jti.to_string(),
                exp: *exp,
            })
            .collect();
        revoked.sort_by(|a, b| a.jti.cmp(&b.jti));
        let mut subjects: Vec<RevokedSubject> = self
            .subjects
            .read()
            .iter()
            .map(|(sub, cut)| RevokedSubject {
                sub: sub.to_string(),
                aud: self.cluster.clone(),
                issued_before: cut.issued_before,
                exp: cut.exp,
            })
            .collect();
        subjects.sort_by(|a, b| a.sub.cmp(&b.sub));
        let kept = Persisted {
            issuer: self.issuer.clone(),
            etag: self.etag.lock().clone(),
            confirmed_at: now,
            revoked,
            subjects,
        };
        let bytes = serde_json::to_vec(&kept).expect("the list serializes");
        if let Err(err) = write_private(path, &bytes) {
            tracing::error!(
                file = %path.display(),
                error = %err,
                "keeping the revocation list failed; a restart would forget it until the next fetch"
            );
        }
    }
}

/// Writes the kept list atomically, readable by its owner only, creating
/// its directory if needed.
fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    slipway_files::write_private(path, bytes)
}

pub(crate) fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn revocations(dir: &Path) -> Revocations {
        let mut config = Config::new("abc");
        config.issuer = Some("http://issuer".into());
        config.state_file = Some(dir.join("gateway.json"));
        let metrics = Arc::new(Metrics::new());
        let keys = Arc::new(KeyStore::new(
            config.effective_jwks_url(),
            Duration::from_secs(5),
            metrics.clone(),
        ));
        Revocations::new(&config, keys, metrics)
    }

    fn entry(jti: &str, exp: i64) -> RevokedToken {
        RevokedToken {
            jti: jti.into(),
            exp,
        }
    }

    fn person(sub: &str, aud: &str, issued_before: i64, exp: i64) -> RevokedSubject {
        RevokedSubject {
            sub: sub.into(),
            aud: aud.into(),
            issued_before,
            exp,
        }
    }

    #[test]
    fn entries_count_until_their_expiry_plus_the_leeway() {
        let dir = tempfile::tempdir().unwrap();
        let r = revocations(dir.path());
        let now = 1_000_000;
        let revoked = |jti: &str, at: i64| r.is_revoked(jti, "github:1", now - 10, at);
        assert!(!revoked("a", now));
        assert_eq!(
            r.add(&[entry("a", now + 10), entry("b", now - 100)], now),
            1,
            "an entry long expired is not added"
        );
        assert!(revoked("a", now));
        assert!(revoked("a", now + 10 + LEEWAY_SECS as i64));
        assert!(!revoked("a", now + 11 + LEEWAY_SECS as i64));
        assert!(!revoked("b", now));

        // A later list only adds, or extends.
        assert_eq!(r.add(&[entry("a", now + 50)], now), 0);
        assert!(revoked("a", now + 50));
        assert_eq!(r.add(&[entry("a", now + 5)], now), 0);
        assert!(revoked("a", now + 50), "never shortened");

        assert_eq!(r.prune(now + 50 + LEEWAY_SECS as i64), 0);
        assert_eq!(r.prune(now + 51 + LEEWAY_SECS as i64), 1);
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn a_persons_tokens_issued_before_the_cutoff_are_refused_and_later_ones_not() {
        let dir = tempfile::tempdir().unwrap();
        let r = revocations(dir.path());
        let now = 1_000_000;
        let revoked = |sub: &str, iat: i64, at: i64| r.is_revoked("some-jti", sub, iat, at);
        assert_eq!(
            r.add_subjects(
                &[
                    person("github:1", "abc", now, now + 3600),
                    person("github:2", "other-cluster", now, now + 3600),
                    person("github:3", "abc", now - 7200, now - 3600),
                ],
                now
            ),
            1,
            "another cluster's entries and expired ones are not kept"
        );
        assert_eq!(r.subjects_len(), 1);
        assert!(revoked("github:1", now - 1, now));
        assert!(
            !revoked("github:1", now, now),
            "issued at the cut-off: after it"
        );
        assert!(!revoked("github:2", now - 1, now));
        assert!(!revoked("github:3", now - 7300, now));
        assert!(revoked(
            "github:1",
            now - 1,
            now + 3600 + LEEWAY_SECS as i64
        ));
        assert!(!revoked(
            "github:1",
            now - 1,
            now + 3601 + LEEWAY_SECS as i64
        ));

        // A later list moves the cut-off on; a replayed older one never back.
        assert_eq!(
            r.add_subjects(&[person("github:1", "abc", now + 60, now + 3660)], now),
            1
        );
        assert!(revoked("github:1", now + 30, now));
        assert_eq!(
            r.add_subjects(&[person("github:1", "abc", now, now + 3600)], now),
            0
        );
        assert!(
            revoked("github:1", now + 30, now + 3650),
            "never moved back"
        );

        assert_eq!(r.prune(now + 3660 + LEEWAY_SECS as i64), 0);
        assert_eq!(r.prune(now + 3661 + LEEWAY_SECS as i64), 1);
        assert_eq!(r.subjects_len(), 0);
    }

    #[test]
    fn the_set_is_kept_privately_and_read_back() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let now = unix_now();
        let r = revocations(dir.path());
        r.add(&[entry("a", now + 600), entry("b", now + 600)], now);
        r.add_subjects(&[person("github:7", "abc", now, now + 600)], now);
        *r.etag.lock() = Some("\"v1\"".into());
        r.persist(now);
        let path = dir.path().join("gateway.json.revocations");
        let mode = fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "no temporary file left: {names:?}");

        let again = revocations(dir.path());
        again.load().unwrap();
        assert!(again.is_revoked("a", "x", now, now) && again.is_revoked("b", "x", now, now));
        assert!(again.is_revoked("c", "github:7", now - 1, now));
        assert!(!again.is_revoked("c", "github:7", now, now));

        // A file kept by a gateway before people were published still loads.
        let old = serde_json::json!({
            "issuer": "http://issuer",
            "etag": null,
            "confirmed_at": now,
            "revoked": [{"jti": "d", "exp": now + 600}],
        });
        fs::write(&path, old.to_string()).unwrap();
        let older = revocations(dir.path());
        older.load().unwrap();
        assert!(older.is_revoked("d", "x", now, now));
        assert_eq!(older.subjects_len(), 0);
        r.persist(now);
        assert_eq!(again.etag.lock().as_deref(), Some("\"v1\""));

        // Another issuer's list is ignored; a corrupt one stops the start.
        let mut other = Config::new("abc");
        other.issuer = Some("http://elsewhere".into());
        other.state_file = Some(dir.path().join("gateway.json"));
        let metrics = Arc::new(Metrics::new());
        let keys = Arc::new(KeyStore::new(None, Duration::from_secs(5), metrics.clone()));
        let elsewhere = Revocations::new(&other, keys, metrics);
        elsewhere.load().unwrap();
        assert_eq!(elsewhere.len(), 0);
        fs::write(&path, "{garbage").unwrap();
        let err = revocations(dir.path()).load().unwrap_err().to_string();
        assert!(err.contains(".revocations"), "{err}");
    }
}
