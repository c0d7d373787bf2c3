//! Signing keys: parsing a JWKS into ready-to-use public keys, and the cached store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{self as sig, ParsedPublicKey, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, AlgorithmFamily};
use serde::Deserialize;

use crate::Error;
use crate::error::FetchProblem;
use crate::fetch::Fetcher;
use crate::issuer::KeySource;
use crate::url::KeyUrl;

/// The smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;

/// One usable key: parsed once, for each allowed algorithm of its family.
pub(crate) struct Key {
    /// The key's own `issuer` field (Entra v2 keys may carry `{tenantid}`).
    pub(crate) issuer: Option<String>,
    /// The key's declared `alg`, when it has one.
    pub(crate) declared: Option<Algorithm>,
    verifiers: Vec<(Algorithm, ParsedPublicKey)>,
}

impl Key {
    /// The parsed key for `algorithm`, if this key can verify it.
    pub(crate) fn verifier(&self, algorithm: Algorithm) -> Option<&ParsedPublicKey> {
        self.verifiers
            .iter()
            .find_map(|(alg, key)| (*alg == algorithm).then_some(key))
    }
}

/// The usable keys of one JWKS by `kid`, and why the others were skipped.
#[derive(Default)]
pub(crate) struct KeySet {
    keys: HashMap<String, Key>,
    skipped: HashMap<String, String>,
}

impl KeySet {
    pub(crate) fn get(&self, kid: &str) -> Option<&Key> {
        self.keys.get(kid)
    }

    pub(crate) fn skipped(&self, kid: &str) -> Option<&str> {
        self.skipped.get(kid).map(String::as_str)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn same_kids(&self, other: &Self) -> bool {
        self.keys.len() == other.keys.len() && self.keys.keys().all(|kid| other.keys.contains_key(kid))
    }

    /// Parses a JWKS document, keeping the keys usable with `algorithms` and
    /// logging each one it skips.
    pub(crate) fn parse(body: &[u8], algorithms: &[Algorithm]) -> Result<Self, String> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document = serde_json::from_slice(body).map_err(|e| format!("not a JWKS: {e}"))?;
        let mut set = Self::default();
        for (index, value) in document.keys.into_iter().enumerate() {
            let raw: RawJwk = match serde_json::from_value(value) {
                Ok(raw) => raw,
                Err(e) => {
                    tracing::warn!(index, error = %e, "skipping malformed JWK");
                    continue;
                }
            };
            let Some(kid) = raw.kid.clone() else {
                tracing::warn!(index, "skipping JWK without kid");
                continue;
            };
            if set.keys.contains_key(&kid) {
                tracing::warn!(kid, "skipping JWK with a duplicate kid");
                continue;
            }
            match raw.into_key(algorithms) {
                Ok(key) => {
                    set.keys.insert(kid, key);
                }
                Err(why) => {
                    tracing::warn!(kid, why, "skipping JWK");
                    set.skipped.insert(kid, why);
                }
            }
        }
        Ok(set)
    }
}

/// The JWK fields we read; the rest (`x5c`, `x5t`, `cloud_instance_name`) are ignored.
#[derive(Deserialize)]
struct RawJwk {
    kty: String,
    kid: Option<String>,
    #[serde(rename = "use")]
    key_use: Option<String>,
    key_ops: Option<Vec<String>>,
    alg: Option<String>,
    n: Option<String>,
    e: Option<String>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    issuer: Option<String>,
}

impl RawJwk {
    fn into_key(self, allowed: &[Algorithm]) -> Result<Key, String> {
        if let Some(key_use) = self.key_use.as_deref().filter(|u| *u != "sig") {
            return Err(format!("use is {key_use:?}, not \"sig\""));
        }
        if let Some(ops) = &self.key_ops
            && !ops.iter().any(|op| op == "verify")
        {
            return Err(format!("key_ops {ops:?} has no \"verify\""));
        }
        let declared = match self.alg.as_deref() {
            None => None,
            Some(name) => match name.parse::<Algorithm>() {
                Ok(alg) if allowed.contains(&alg) => Some(alg),
                _ => return Err(format!("alg {name} is not in AUTH_ALLOWED_ALGORITHMS")),
            },
        };
        let candidates: Vec<Algorithm> = allowed
            .iter()
            .copied()
            .filter(|alg| declared.is_none_or(|d| d == *alg))
            .collect();
        let verifiers = match self.kty.as_str() {
            "RSA" => self.rsa(&candidates)?,
            "EC" => self.ec(&candidates)?,
            "OKP" => self.okp(&candidates)?,
            other => return Err(format!("key type {other} is not used for signatures here")),
        };
        if verifiers.is_empty() {
            return Err(format!(
                "{} key, but AUTH_ALLOWED_ALGORITHMS has no algorithm for it",
                self.kty
            ));
        }
        Ok(Key {
            issuer: self.issuer,
            declared,
            verifiers,
        })
    }

    fn rsa(&self, candidates: &[Algorithm]) -> Result<Vec<(Algorithm, ParsedPublicKey)>, String> {
        let n = decode_field("n", self.n.as_deref())?;
        let e = decode_field("e", self.e.as_deref())?;
        let bits = bit_length(&n);
        if bits < MIN_RSA_BITS {
            return Err(format!("RSA key of {bits} bits (minimum {MIN_RSA_BITS})"));
        }
        let components = RsaPublicKeyComponents { n: &n, e: &e };
        candidates
            .iter()
            .filter(|alg| alg.family() == AlgorithmFamily::Rsa)
            .map(|alg| {
                let params = rsa_params(*alg);
                components
                    .to_parsed_public_key(params)
                    .map(|key| (*alg, key))
                    .map_err(|e| format!("invalid RSA key: {e}"))
            })
            .collect()
    }

    fn ec(&self, candidates: &[Algorithm]) -> Result<Vec<(Algorithm, ParsedPublicKey)>, String> {
        let (alg, params, size): (_, &'static sig::EcdsaVerificationAlgorithm, _) = match self.crv.as_deref() {
            Some("P-256") => (Algorithm::ES256, &sig::ECDSA_P256_SHA256_FIXED, 32),
            Some("P-384") => (Algorithm::ES384, &sig::ECDSA_P384_SHA384_FIXED, 48),
            other => return Err(format!("EC curve {other:?} is not supported")),
        };
        if !candidates.contains(&alg) {
            return Ok(Vec::new());
        }
        let x = decode_field("x", self.x.as_deref())?;
        let y = decode_field("y", self.y.as_deref())?;
        if x.len() != size || y.len() != size {
            return Err(format!("EC coordinates are not {size} bytes"));
        }
        let point = [&[4u8][..], &x, &y].concat();
        let key = ParsedPublicKey::new(params, point).map_err(|e| format!("invalid EC key: {e}"))?;
        Ok(vec![(alg, key)])
    }

    fn okp(&self, candidates: &[Algorithm]) -> Result<Vec<(Algorithm, ParsedPublicKey)>, String> {
        if self.crv.as_deref() != Some("Ed25519") {
            return Err(format!("OKP curve {:?} is not supported", self.crv));
        }
        if !candidates.contains(&Algorithm::EdDSA) {
            return Ok(Vec::new());
        }
        let x = decode_field("x", self.x.as_deref())?;
        let key = ParsedPublicKey::new(&sig::ED25519, x).map_err(|e| format!("invalid Ed25519 key: {e}"))?;
        Ok(vec![(Algorithm::EdDSA, key)])
    }
}

fn rsa_params(alg: Algorithm) -> &'static sig::RsaParameters {
    match alg {
        Algorithm::RS384 => &sig::RSA_PKCS1_2048_8192_SHA384,
        Algorithm::RS512 => &sig::RSA_PKCS1_2048_8192_SHA512,
        Algorithm::PS256 => &sig::RSA_PSS_2048_8192_SHA256,
        Algorithm::PS384 => &sig::RSA_PSS_2048_8192_SHA384,
        Algorithm::PS512 => &sig::RSA_PSS_2048_8192_SHA512,
        _ => &sig::RSA_PKCS1_2048_8192_SHA256,
    }
}

fn decode_field(name: &str, value: Option<&str>) -> Result<Vec<u8>, String> {
    let value = value.ok_or_else(|| format!("missing {name}"))?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| format!("{name} is not base64url"))
}

/// Bits in a big-endian unsigned integer, ignoring leading zero bytes.
fn bit_length(bytes: &[u8]) -> usize {
    match bytes.iter().position(|b| *b != 0) {
        Some(first) => (bytes.len() - first - 1) * 8 + (8 - bytes[first].leading_zeros() as usize),
        None => 0,
    }
}

/// How often keys are refreshed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RefreshPolicy {
    pub(crate) fresh_for: Duration,
    pub(crate) min_interval: Duration,
}

/// The keys of one source, fetched once and shared by every request.
pub(crate) struct KeyStore {
    source: KeySource,
    algorithms: Vec<Algorithm>,
    policy: RefreshPolicy,
    fetcher: Fetcher,
    state: RwLock<State>,
    /// Serialises refetches; holds the `jwks_uri` found by discovery.
    refresh: tokio::sync::Mutex<Option<KeyUrl>>,
    fetches: AtomicU64,
}

#[derive(Default)]
struct State {
    keys: Arc<KeySet>,
    fetched_at: Option<Instant>,
    attempted_at: Option<Instant>,
    last_error: Option<String>,
    /// Bumped whenever the set of kids changes, so cached verdicts can be dropped.
    generation: u64,
}

/// The keys to verify with, plus why a refetch did or did not happen.
pub(crate) struct Lookup {
    pub(crate) keys: Arc<KeySet>,
    pub(crate) generation: u64,
    pub(crate) last_error: Option<String>,
    pub(crate) refetch: Refetch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Refetch {
    NotNeeded,
    Done,
    Failed(String),
    TooSoon(Duration),
}

impl KeyStore {
    pub(crate) fn new(source: KeySource, algorithms: Vec<Algorithm>, policy: RefreshPolicy, fetcher: Fetcher) -> Self {
        Self {
            source,
            algorithms,
            policy,
            fetcher,
            state: RwLock::new(State::default()),
            refresh: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
        }
    }

    /// Fetches now (at init), whatever the refresh policy says.
    pub(crate) async fn prewarm(&self) -> Result<(), Error> {
        let mut jwks_uri = self.refresh.lock().await;
        self.refetch(&mut jwks_uri).await
    }

    /// How many documents (discovery and JWKS) this store has requested.
    pub(crate) fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    pub(crate) fn generation(&self) -> u64 {
        self.read().generation
    }

    /// The keys for a token with `kid`: refetched when stale or when `kid` is
    /// unknown, at most once per `min_interval`; last-known-good keys otherwise.
    pub(crate) async fn lookup(&self, kid: &str) -> Lookup {
        let (known, stale, attempted_at) = {
            let state = self.read();
            let known = state.keys.get(kid).is_some();
            let stale = state.fetched_at.is_none_or(|at| at.elapsed() >= self.policy.fresh_for);
            (known, stale, state.attempted_at)
        };
        if known && !stale {
            return self.current(Refetch::NotNeeded);
        }
        if let Some(wait) = self.too_soon(attempted_at) {
            return self.current(Refetch::TooSoon(wait));
        }
        let mut jwks_uri = self.refresh.lock().await;
        // Another request may have refetched while this one waited for the lock.
        let state_attempt = self.read().attempted_at;
        if state_attempt != attempted_at {
            return self.current(Refetch::Done);
        }
        let outcome = match self.refetch(&mut jwks_uri).await {
            Ok(()) => Refetch::Done,
            Err(e) => Refetch::Failed(e.to_string()),
        };
        self.current(outcome)
    }

    fn too_soon(&self, attempted_at: Option<Instant>) -> Option<Duration> {
        let since = attempted_at?.elapsed();
        (since < self.policy.min_interval).then_some(since)
    }

    fn current(&self, refetch: Refetch) -> Lookup {
        let state = self.read();
        Lookup {
            keys: state.keys.clone(),
            generation: state.generation,
            last_error: state.last_error.clone(),
            refetch,
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere mid-update of plain data.
        self.state.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    async fn refetch(&self, jwks_uri: &mut Option<KeyUrl>) -> Result<(), Error> {
        let started = Instant::now();
        let result = self.fetch(jwks_uri).await;
        let mut state = self.state.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        state.attempted_at = Some(started);
        match result {
            Ok(keys) => {
                if !keys.same_kids(&state.keys) {
                    state.generation += 1;
                }
                tracing::info!(source = %self.describe(jwks_uri), keys = keys.keys.len(), skipped = keys.skipped.len(), "signing keys fetched");
                state.keys = Arc::new(keys);
                state.fetched_at = Some(started);
                state.last_error = None;
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, cached_keys = state.keys.keys.len(), "signing key fetch failed; keeping last-known-good keys");
                state.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    async fn fetch(&self, jwks_uri: &mut Option<KeyUrl>) -> Result<KeySet, Error> {
        let url = match (&self.source, jwks_uri.as_ref()) {
            (KeySource::Jwks(url), _) => url.clone(),
            (KeySource::Discovery { .. }, Some(url)) => url.clone(),
            (KeySource::Discovery { issuer, url }, None) => {
                self.fetches.fetch_add(1, Ordering::Relaxed);
                let found = self.fetcher.discover(issuer, url).await?;
                *jwks_uri = Some(found.clone());
                found
            }
        };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let body = self.fetcher.get(&url).await?;
        let keys = KeySet::parse(&body, &self.algorithms)
            .map_err(|e| Error::fetch(&url.to_string(), FetchProblem::Invalid(e)))?;
        if keys.is_empty() {
            return Err(Error::fetch(
                &url.to_string(),
                FetchProblem::Invalid("no usable signing key in the JWKS".into()),
            ));
        }
        Ok(keys)
    }

    fn describe(&self, jwks_uri: &Option<KeyUrl>) -> String {
        match (&self.source, jwks_uri) {
            (KeySource::Jwks(url), _) | (KeySource::Discovery { .. }, Some(url)) => url.to_string(),
            (KeySource::Discovery { url, .. }, None) => url.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa_jwk(kid: &str, n_bytes: &[u8], extra: &str) -> String {
        format!(
            r#"{{"kty":"RSA","kid":"{kid}","n":"{}","e":"AQAB"{extra}}}"#,
            URL_SAFE_NO_PAD.encode(n_bytes)
        )
    }

    fn modulus(bits: usize) -> Vec<u8> {
        // An odd modulus with its top bit set: enough for parsing and size checks.
        let mut n = vec![0xC5u8; bits / 8];
        n[0] = 0xE1;
        if let Some(last) = n.last_mut() {
            *last |= 1;
        }
        n
    }

    fn parse(keys: &[String], algorithms: &[Algorithm]) -> KeySet {
        let body = format!(r#"{{"keys":[{}]}}"#, keys.join(","));
        KeySet::parse(body.as_bytes(), algorithms).unwrap()
    }

    #[test]
    fn bit_lengths() {
        assert_eq!(bit_length(&[0, 0, 1]), 1);
        assert_eq!(bit_length(&[0x80, 0]), 16);
        assert_eq!(bit_length(&[0, 0x7f, 0]), 15);
        assert_eq!(bit_length(&[]), 0);
        assert_eq!(bit_length(&modulus(2048)), 2048);
    }

    #[test]
    fn keeps_signing_rsa_keys_and_skips_the_rest_with_reasons() {
        let rs = [Algorithm::RS256];
        let set = parse(
            &[
                rsa_jwk(
                    "good",
                    &modulus(2048),
                    r#","use":"sig","x5t":"abc","issuer":"https://login.microsoftonline.com/{tenantid}/v2.0""#,
                ),
                rsa_jwk("enc", &modulus(2048), r#","use":"enc""#),
                rsa_jwk("small", &modulus(1024), ""),
                rsa_jwk("padded", &[&[0u8][..], &modulus(1024)].concat(), ""),
                rsa_jwk("ps", &modulus(2048), r#","alg":"PS256""#),
                rsa_jwk("ops", &modulus(2048), r#","key_ops":["encrypt"]"#),
                r#"{"kty":"EC","kid":"ec","crv":"P-256","x":"AA","y":"AA"}"#.to_owned(),
                r#"{"kty":"oct","kid":"hmac","k":"c2VjcmV0"}"#.to_owned(),
                r#"{"kty":"RSA","kid":"no-n","e":"AQAB"}"#.to_owned(),
                r#"{"kid":"no-kty"}"#.to_owned(),
                r#"{"kty":"RSA","n":"AQAB","e":"AQAB"}"#.to_owned(),
                rsa_jwk("good", &modulus(4096), ""),
            ],
            &rs,
        );
        let good = set.get("good").unwrap();
        assert!(good.verifier(Algorithm::RS256).is_some());
        assert!(good.verifier(Algorithm::PS256).is_none());
        assert_eq!(
            good.issuer.as_deref(),
            Some("https://login.microsoftonline.com/{tenantid}/v2.0")
        );
        assert_eq!(set.keys.len(), 1);
        assert_eq!(set.skipped("enc"), Some("use is \"enc\", not \"sig\""));
        assert_eq!(set.skipped("small"), Some("RSA key of 1024 bits (minimum 2048)"));
        assert_eq!(set.skipped("padded"), Some("RSA key of 1024 bits (minimum 2048)"));
        assert_eq!(set.skipped("ps"), Some("alg PS256 is not in AUTH_ALLOWED_ALGORITHMS"));
        assert_eq!(set.skipped("ops"), Some("key_ops [\"encrypt\"] has no \"verify\""));
        assert_eq!(
            set.skipped("ec"),
            Some("EC key, but AUTH_ALLOWED_ALGORITHMS has no algorithm for it")
        );
        assert_eq!(
            set.skipped("hmac"),
            Some("key type oct is not used for signatures here")
        );
        assert_eq!(set.skipped("no-n"), Some("missing n"));
        assert_eq!(set.skipped("good"), None);
    }

    #[test]
    fn one_rsa_key_serves_every_allowed_rsa_algorithm() {
        let set = parse(
            &[rsa_jwk("k", &modulus(2048), "")],
            &[Algorithm::RS256, Algorithm::PS256, Algorithm::ES256],
        );
        let key = set.get("k").unwrap();
        assert!(key.verifier(Algorithm::RS256).is_some());
        assert!(key.verifier(Algorithm::PS256).is_some());
        assert!(key.verifier(Algorithm::ES256).is_none());
    }

    #[test]
    fn declared_alg_narrows_the_key() {
        let set = parse(
            &[rsa_jwk("k", &modulus(2048), r#","alg":"RS256""#)],
            &[Algorithm::RS256, Algorithm::PS256],
        );
        let key = set.get("k").unwrap();
        assert_eq!(key.declared, Some(Algorithm::RS256));
        assert!(key.verifier(Algorithm::PS256).is_none());
    }

    #[test]
    fn documents_that_are_not_a_jwks_are_errors() {
        let error = |body: &[u8]| KeySet::parse(body, &[Algorithm::RS256]).err().unwrap_or_default();
        assert!(error(b"<html>").starts_with("not a JWKS"), "{}", error(b"<html>"));
        assert!(error(b"{\"keys\":{}}").starts_with("not a JWKS"));
        assert!(error(b"[]").starts_with("not a JWKS"));
        assert!(KeySet::parse(b"{\"keys\":[]}", &[Algorithm::RS256]).unwrap().is_empty());
    }
}
