//! The verifier: token in, [`Decision`] out.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use serde::de::IgnoredAny;

use crate::Error;
use crate::config::Config;
use crate::decision::{Decision, Denial, Held, Identity, Refusal};
use crate::fetch::{FetchLimits, Fetcher};
use crate::jwks::{KeyStore, Refetch, RefreshPolicy};

/// Longest token looked at. Entra tokens with many claims reach ~8 KB and API Gateway
/// caps a header at 10 KB, so anything beyond this is not a real token.
pub const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// Knobs that are not user settings: fetch bounds and the verified-token cache size.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub fetch: FetchLimits,
    /// How many verified tokens to remember (0 turns the cache off).
    pub token_cache_entries: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            fetch: FetchLimits::default(),
            token_cache_entries: 1024,
        }
    }
}

/// Verifies tokens against one [`Config`]; built once, shared by every request.
pub struct Verifier {
    config: Config,
    stores: Vec<KeyStore>,
    cache: TokenCache,
}

impl Verifier {
    /// Builds the verifier and its HTTP client. No network I/O: call [`Self::prewarm`].
    pub fn new(config: Config) -> Result<Self, Error> {
        Self::with_settings(config, Settings::default())
    }

    pub fn with_settings(config: Config, settings: Settings) -> Result<Self, Error> {
        let fetcher = Fetcher::new(settings.fetch)?;
        let sources = config
            .issuers
            .key_sources(config.jwks_url.as_ref())
            .map_err(|e| Error::config("AUTH_ISSUERS", e))?;
        let policy = RefreshPolicy {
            fresh_for: config.jwks_cache,
            min_interval: config.jwks_min_refresh,
        };
        let stores = sources
            .into_iter()
            .map(|source| KeyStore::new(source, config.algorithms.clone(), policy, fetcher.clone()))
            .collect();
        Ok(Self {
            cache: TokenCache::new(settings.token_cache_entries),
            config,
            stores,
        })
    }

    /// Fetches every key source once, so the first request pays nothing. A failure
    /// is logged and returned; requests then retry within the refresh policy.
    pub async fn prewarm(&self) -> Result<(), Error> {
        let mut first_error = None;
        for store in &self.stores {
            if let Err(e) = store.prewarm().await {
                first_error.get_or_insert(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Documents fetched so far, over all key sources.
    pub fn fetch_count(&self) -> u64 {
        self.stores.iter().map(KeyStore::fetch_count).sum()
    }

    /// Verifies `token` (the JWT alone, without `Bearer `) now.
    pub async fn verify(&self, token: &str) -> Decision {
        self.verify_at(token, unix_now()).await
    }

    /// Verifies `token` as of `now` (seconds since the epoch).
    pub async fn verify_at(&self, token: &str, now: u64) -> Decision {
        match self.authenticate(token, now).await {
            Ok(verified) => self.authorize(verified),
            Err(refusal) => Decision::Refuse(refusal),
        }
    }

    async fn authenticate(&self, token: &str, now: u64) -> Result<Verified, Refusal> {
        let skew = self.config.clock_skew_seconds;
        if let Some(hit) = self.cache.get(token) {
            if now < hit.identity.exp.saturating_add(skew) && self.stores[hit.source].generation() == hit.generation {
                return Ok(hit);
            }
            self.cache.remove(token);
        }

        let parts = split(token)?;
        let header = parse_header(parts.header)?;
        let algorithm = self.check_algorithm(&header)?;
        let kid = header.kid.ok_or(Refusal::MissingKid)?;
        let payload = decode_segment(parts.claims, "claims").map_err(Refusal::Claims)?;
        let claims: Claims<'_> = parse_object(&payload, "claims").map_err(Refusal::Claims)?;
        let iss = claims.iss.as_deref().ok_or(Refusal::MissingIssuer)?;
        let issuer = self
            .config
            .issuers
            .check(iss, claims.tid.as_deref(), self.config.jwks_url.is_some())?;

        let store = &self.stores[issuer.source];
        let lookup = store.lookup(&kid).await;
        let Some(key) = lookup.keys.get(&kid) else {
            if let Some(why) = lookup.keys.skipped(&kid) {
                return Err(Refusal::SkippedKey {
                    kid,
                    why: why.to_owned(),
                });
            }
            if lookup.keys.is_empty() {
                let problem = lookup.last_error.unwrap_or_else(|| "never fetched".to_owned());
                return Err(Refusal::NoKeys(problem));
            }
            let detail = match lookup.refetch {
                Refetch::Done => "not in the keys just refetched".to_owned(),
                Refetch::Failed(e) => format!("refetch failed: {e}"),
                Refetch::TooSoon(since) => format!(
                    "not refetched: last fetch {}s ago, AUTH_JWKS_MIN_REFRESH_SECONDS is {}",
                    since.as_secs(),
                    self.config.jwks_min_refresh.as_secs()
                ),
                Refetch::NotNeeded => "not in the key set".to_owned(),
            };
            return Err(Refusal::UnknownKey { kid, detail });
        };
        if let Some(declared) = key.declared
            && declared != algorithm
        {
            return Err(Refusal::KeyAlgorithm {
                kid,
                key_alg: format!("{declared:?}"),
                alg: format!("{algorithm:?}"),
            });
        }
        if let Some(key_issuer) = &key.issuer {
            self.check_key_issuer(&kid, key_issuer, iss, claims.tid.as_deref())?;
        }
        let Some(public_key) = key.verifier(algorithm) else {
            return Err(Refusal::KeyAlgorithm {
                kid,
                key_alg: "another algorithm family".to_owned(),
                alg: format!("{algorithm:?}"),
            });
        };
        // Large enough for RSA-8192; longer input is not a signature we could check.
        let mut signature = [0u8; 1024];
        let length = URL_SAFE_NO_PAD
            .decode_slice(parts.signature, &mut signature)
            .map_err(|_| Refusal::Encoding("signature"))?;
        if public_key
            .verify_sig(parts.signed.as_bytes(), &signature[..length])
            .is_err()
        {
            return Err(Refusal::BadSignature {
                kid,
                alg: format!("{algorithm:?}"),
            });
        }

        // The signature is good: the claims are the issuer's.
        let exp = claims.exp.ok_or(Refusal::MissingExpiry)?;
        if now >= exp.saturating_add(skew) {
            return Err(Refusal::Expired { exp, now, skew });
        }
        if let Some(nbf) = claims.nbf
            && now.saturating_add(skew) < nbf
        {
            return Err(Refusal::NotYetValid { nbf, now, skew });
        }
        self.check_audience(claims.aud.as_ref())?;

        let verified = Verified {
            identity: Arc::new(claims.into_identity(exp)),
            tenant_denial: issuer.denial,
            source: issuer.source,
            generation: lookup.generation,
        };
        self.cache.insert(token, &verified, now);
        Ok(verified)
    }

    fn check_algorithm(&self, header: &Header) -> Result<Algorithm, Refusal> {
        let name = header.alg.as_deref().unwrap_or("none");
        if name.eq_ignore_ascii_case("none") {
            return Err(Refusal::Unsigned);
        }
        let allowed = &self.config.algorithms;
        match name.parse::<Algorithm>() {
            Ok(alg) if allowed.contains(&alg) => Ok(alg),
            _ => Err(Refusal::AlgorithmNotAllowed {
                alg: name.to_owned(),
                allowed: allowed.iter().map(|a| format!("{a:?}")).collect::<Vec<_>>().join(", "),
            }),
        }
    }

    /// An Entra key's `issuer` (with `{tenantid}` filled from `tid`) must be the
    /// token's issuer, or the v2 issuer of its tenant for v1 tokens.
    fn check_key_issuer(&self, kid: &str, key_issuer: &str, iss: &str, tid: Option<&str>) -> Result<(), Refusal> {
        let filled = match tid {
            Some(tid) => key_issuer.replace("{tenantid}", tid),
            None => key_issuer.to_owned(),
        };
        let v2 = tid.and_then(|tid| self.config.issuers.v2_issuer(tid));
        if filled == iss || v2.as_deref() == Some(filled.as_str()) {
            return Ok(());
        }
        Err(Refusal::KeyIssuer {
            kid: kid.to_owned(),
            key_issuer: filled,
            iss: iss.to_owned(),
        })
    }

    fn check_audience(&self, aud: Option<&Audience>) -> Result<(), Refusal> {
        let accepted = &self.config.audiences;
        let values = match aud {
            Some(Audience { values, .. }) if !values.is_empty() => values,
            _ => return Err(Refusal::MissingAudience),
        };
        if values.iter().any(|a| accepted.iter().any(|x| x == a)) {
            return Ok(());
        }
        let got = match values.as_slice() {
            [one] if !aud.is_some_and(|a| a.array) => one.to_string(),
            many => format!("[{}]", many.join(", ")),
        };
        Err(Refusal::AudienceMismatch {
            got,
            expected: accepted.join(", "),
        })
    }

    fn authorize(&self, verified: Verified) -> Decision {
        let Verified {
            identity,
            tenant_denial,
            ..
        } = verified;
        match tenant_denial.or_else(|| self.permission_denial(&identity)) {
            Some(reason) => Decision::Deny { identity, reason },
            None => Decision::Allow(identity),
        }
    }

    /// Roles or scopes (any one of either), then the calling application.
    fn permission_denial(&self, identity: &Identity) -> Option<Denial> {
        let config = &self.config;
        if !config.required_roles.is_empty() || !config.required_scopes.is_empty() {
            let has_role = identity.roles.iter().any(|r| config.required_roles.contains(r));
            let has_scope = identity.scopes().any(|s| config.required_scopes.iter().any(|r| r == s));
            if !has_role && !has_scope {
                return Some(Denial::MissingRoleOrScope {
                    have: Held {
                        roles: identity.roles.clone(),
                        scopes: identity.scopes().map(str::to_owned).collect(),
                    },
                    required: Held {
                        roles: config.required_roles.clone(),
                        scopes: config.required_scopes.clone(),
                    },
                });
            }
        }
        if !config.allowed_client_ids.is_empty() {
            let allowed = || config.allowed_client_ids.join(", ");
            match &identity.client_id {
                None => return Some(Denial::MissingClient { allowed: allowed() }),
                Some(client) if !config.allowed_client_ids.contains(client) => {
                    return Some(Denial::ClientNotAllowed {
                        client: client.clone(),
                        allowed: allowed(),
                    });
                }
                Some(_) => {}
            }
        }
        None
    }
}

/// A token whose signature and claims checked out.
#[derive(Clone)]
struct Verified {
    identity: Arc<Identity>,
    tenant_denial: Option<Denial>,
    source: usize,
    generation: u64,
}

struct Parts<'a> {
    header: &'a str,
    claims: &'a str,
    signature: &'a str,
    /// `header.claims`, the signed bytes.
    signed: &'a str,
}

fn split(token: &str) -> Result<Parts<'_>, Refusal> {
    if token.is_empty() {
        return Err(Refusal::Empty);
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Refusal::TooLarge {
            len: token.len(),
            limit: MAX_TOKEN_BYTES,
        });
    }
    // One pass over the bytes: the positions of the first two dots and the count.
    let mut dots = token.bytes().enumerate().filter(|(_, b)| *b == b'.').map(|(i, _)| i);
    let (first, second) = (dots.next(), dots.next());
    let segments = 3 + dots.count();
    match (first, second) {
        (Some(first), Some(second)) if segments == 3 => Ok(Parts {
            header: &token[..first],
            claims: &token[first + 1..second],
            signature: &token[second + 1..],
            signed: &token[..second],
        }),
        _ if segments == 5 => Err(Refusal::Encrypted),
        (None, _) => Err(Refusal::Segments(1)),
        (Some(_), None) => Err(Refusal::Segments(2)),
        _ => Err(Refusal::Segments(segments)),
    }
}

/// The JOSE header fields we act on; any of the refused ones present means refusal.
#[derive(Deserialize)]
struct Header {
    alg: Option<String>,
    kid: Option<String>,
    nonce: Option<IgnoredAny>,
    jku: Option<IgnoredAny>,
    x5u: Option<IgnoredAny>,
    jwk: Option<IgnoredAny>,
    crit: Option<IgnoredAny>,
}

fn parse_header(segment: &str) -> Result<Header, Refusal> {
    let header: Header = decode_json(segment, "header").map_err(Refusal::Header)?;
    if header.nonce.is_some() {
        return Err(Refusal::GraphToken);
    }
    for (present, name) in [
        (header.jku.is_some(), "jku"),
        (header.x5u.is_some(), "x5u"),
        (header.jwk.is_some(), "jwk"),
    ] {
        if present {
            return Err(Refusal::KeyReference(name));
        }
    }
    if header.crit.is_some() {
        return Err(Refusal::Critical);
    }
    Ok(header)
}

fn decode_json<T: serde::de::DeserializeOwned>(segment: &str, what: &'static str) -> Result<T, String> {
    parse_object(&decode_segment(segment, what)?, what)
}

pub(crate) fn decode_segment(segment: &str, what: &'static str) -> Result<Vec<u8>, String> {
    URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| format!("{what} is not base64url"))
}

pub(crate) fn parse_object<'a, T: Deserialize<'a>>(bytes: &'a [u8], what: &'static str) -> Result<T, String> {
    // serde would also read a struct from a JSON array; a JOSE part is an object.
    if bytes.trim_ascii_start().first() != Some(&b'{') {
        return Err(format!("{what} is not a JSON object"));
    }
    serde_json::from_slice(bytes).map_err(|e| {
        let text = e.to_string();
        // The position says nothing useful in a log; the kind of error does.
        match text.find(" at line ") {
            Some(at) => text[..at].to_owned(),
            None => text,
        }
    })
}

/// The claims we read, borrowed from the decoded payload where JSON allows.
/// Known claims appearing twice are an error, not a guess.
#[derive(Deserialize)]
struct Claims<'a> {
    #[serde(borrow, default, deserialize_with = "text")]
    iss: Option<Cow<'a, str>>,
    #[serde(borrow)]
    aud: Option<Audience<'a>>,
    #[serde(default, deserialize_with = "numeric_date")]
    exp: Option<u64>,
    #[serde(default, deserialize_with = "numeric_date")]
    nbf: Option<u64>,
    #[serde(borrow, default, deserialize_with = "text")]
    sub: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    oid: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    tid: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    azp: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    appid: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    roles: Option<Vec<Text<'a>>>,
    #[serde(borrow, default, deserialize_with = "text")]
    scp: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    idtyp: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    preferred_username: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    upn: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "text")]
    unique_name: Option<Cow<'a, str>>,
}

impl Claims<'_> {
    fn into_identity(self, exp: u64) -> Identity {
        let owned = |v: Option<Cow<'_, str>>| v.map(Cow::into_owned);
        let principal_id = self
            .oid
            .as_deref()
            .or(self.sub.as_deref())
            .unwrap_or_default()
            .to_owned();
        Identity {
            principal_id,
            sub: owned(self.sub),
            oid: owned(self.oid),
            tid: owned(self.tid),
            client_id: owned(self.azp.or(self.appid)),
            roles: self
                .roles
                .unwrap_or_default()
                .into_iter()
                .map(|r| r.0.into_owned())
                .collect(),
            scp: owned(self.scp),
            idtyp: owned(self.idtyp),
            iss: owned(self.iss).unwrap_or_default(),
            username: owned(self.preferred_username.or(self.upn).or(self.unique_name)),
            exp,
        }
    }
}

/// `aud`: one string or an array of strings (`array` says which, for messages).
struct Audience<'a> {
    values: Vec<Cow<'a, str>>,
    array: bool,
}

impl<'de: 'a, 'a> Deserialize<'de> for Audience<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AudienceVisitor;
        impl<'de> serde::de::Visitor<'de> for AudienceVisitor {
            type Value = Audience<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or an array of strings")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Audience {
                    values: vec![Cow::Borrowed(v)],
                    array: false,
                })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Audience {
                    values: vec![Cow::Owned(v.to_owned())],
                    array: false,
                })
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut values = Vec::new();
                while let Some(value) = seq.next_element::<Text<'de>>()? {
                    values.push(value.0);
                }
                Ok(Audience { values, array: true })
            }
        }
        deserializer.deserialize_any(AudienceVisitor)
    }
}

/// A JSON string, borrowed from the input unless it had escapes to undo.
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> serde::de::Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

fn text<'de: 'a, 'a, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Cow<'a, str>>, D::Error> {
    Ok(Option::<Text<'a>>::deserialize(deserializer)?.map(|t| t.0))
}

/// RFC 7519 NumericDate: a JSON number of seconds, possibly fractional; never a string.
fn numeric_date<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    let value: Option<f64> = Option::deserialize(deserializer)?;
    match value {
        None => Ok(None),
        Some(v) if v.is_finite() && v >= 0.0 => Ok(Some(v as u64)),
        Some(v) => Err(serde::de::Error::custom(format!("{v} is not a valid NumericDate"))),
    }
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A bounded memory of verified tokens, keyed by the whole token (exact match, so a
/// lookup can never confuse two tokens). Refusals are never cached.
struct TokenCache {
    capacity: usize,
    entries: Mutex<HashMap<Box<str>, Cached>>,
}

struct Cached {
    verified: Verified,
    expires: u64,
}

impl TokenCache {
    fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::with_capacity(capacity.min(1024))),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Box<str>, Cached>> {
        self.entries.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn get(&self, token: &str) -> Option<Verified> {
        if self.capacity == 0 {
            return None;
        }
        self.lock().get(token).map(|c| c.verified.clone())
    }

    fn remove(&self, token: &str) {
        self.lock().remove(token);
    }

    fn insert(&self, token: &str, verified: &Verified, now: u64) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            entries.retain(|_, c| c.expires > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(
            token.into(),
            Cached {
                verified: verified.clone(),
                expires: verified.identity.exp,
            },
        );
    }
}
