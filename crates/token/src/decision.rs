//! What the verifier concludes about a token, and why.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

/// The outcome for one token: API Gateway turns these into Allow, Deny (403) and 401.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Authenticated and permitted.
    Allow(Arc<Identity>),
    /// Authenticated (the signature and claims are good) but not permitted.
    Deny { identity: Arc<Identity>, reason: Denial },
    /// Not authenticated: no usable token, a bad signature, wrong issuer or audience, …
    Refuse(Refusal),
}

impl Decision {
    /// `allow`, `deny` or `unauthorized`, for logs.
    pub fn label(&self) -> &'static str {
        match self {
            Self::Allow(_) => "allow",
            Self::Deny { .. } => "deny",
            Self::Refuse(_) => "unauthorized",
        }
    }

    /// The caller, when the token was authenticated.
    pub fn identity(&self) -> Option<&Identity> {
        match self {
            Self::Allow(identity) | Self::Deny { identity, .. } => Some(identity),
            Self::Refuse(_) => None,
        }
    }

    /// The reason for a refusal or a denial; safe to log (never the token).
    pub fn reason(&self) -> Option<String> {
        match self {
            Self::Allow(_) => None,
            Self::Deny { reason, .. } => Some(reason.to_string()),
            Self::Refuse(reason) => Some(reason.to_string()),
        }
    }
}

/// The verified caller. Claims the token did not carry are `None`, never invented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `oid`, else `sub`.
    pub principal_id: String,
    pub sub: Option<String>,
    pub oid: Option<String>,
    pub tid: Option<String>,
    /// `azp` (v2), else `appid` (v1).
    pub client_id: Option<String>,
    pub roles: Vec<String>,
    /// The raw, space-separated `scp` claim.
    pub scp: Option<String>,
    pub idtyp: Option<String>,
    pub iss: String,
    /// `preferred_username`, `upn` or `unique_name`.
    pub username: Option<String>,
    pub exp: u64,
}

impl Identity {
    /// The authorizer context: every value a string, absent claims omitted.
    pub fn context(&self) -> Vec<(&'static str, Cow<'_, str>)> {
        let optional = [
            ("sub", &self.sub),
            ("oid", &self.oid),
            ("tid", &self.tid),
            ("client_id", &self.client_id),
            ("scp", &self.scp),
            ("idtyp", &self.idtyp),
            ("username", &self.username),
        ];
        let mut context: Vec<(&'static str, Cow<'_, str>)> = optional
            .into_iter()
            .filter_map(|(key, value)| value.as_deref().map(|v| (key, Cow::Borrowed(v))))
            .collect();
        if !self.roles.is_empty() {
            context.push(("roles", Cow::Owned(self.roles.join(" "))));
        }
        context.push(("iss", Cow::Borrowed(&self.iss)));
        context.push(("exp", Cow::Owned(self.exp.to_string())));
        context
    }

    /// The scopes of `scp`, split on spaces.
    pub fn scopes(&self) -> impl Iterator<Item = &str> {
        self.scp.as_deref().unwrap_or("").split(' ').filter(|s| !s.is_empty())
    }
}

/// Why a token was not authenticated (API Gateway answers 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("no Authorization header")]
    MissingAuthorization,
    #[error("Authorization header is not a Bearer token")]
    NotBearer,
    #[error("empty bearer token")]
    Empty,
    #[error("token too large: {len} bytes (limit {limit})")]
    TooLarge { len: usize, limit: usize },
    #[error("malformed token: {0} dot-separated segments, expected 3")]
    Segments(usize),
    #[error("encrypted token (JWE, 5 segments) is not supported; send a signed access token")]
    Encrypted,
    #[error("malformed token: {0} is not base64url")]
    Encoding(&'static str),
    #[error("malformed token header: {0}")]
    Header(String),
    #[error("unsigned token (alg none) is never accepted")]
    Unsigned,
    #[error("algorithm {alg} not allowed (allowed: {allowed})")]
    AlgorithmNotAllowed { alg: String, allowed: String },
    #[error(
        "token header has a nonce: this is a Microsoft Graph token, which only Graph can verify; request a token for your API's scope instead"
    )]
    GraphToken,
    #[error("token header carries {0}: remote or embedded keys are never used")]
    KeyReference(&'static str),
    #[error("token header has crit: no critical extensions are supported")]
    Critical,
    #[error("token header has no kid")]
    MissingKid,
    #[error("malformed token claims: {0}")]
    Claims(String),
    #[error("token has no iss claim")]
    MissingIssuer,
    #[error("untrusted issuer: got {got}, expected one of [{expected}]")]
    UntrustedIssuer { got: String, expected: String },
    #[error("token is v{version} (issuer {iss}) but AUTH_TOKEN_VERSIONS accepts only v{accepted}")]
    VersionNotAccepted { iss: String, version: u8, accepted: u8 },
    #[error("token has no tid claim, required for multi-tenant issuers")]
    MissingTenant,
    #[error("tid {0:?} is not a tenant GUID")]
    InvalidTenant(String),
    #[error("issuer tenant {issuer_tenant} differs from the token's tid {tid}")]
    TenantMismatch { issuer_tenant: String, tid: String },
    #[error("no signing key with kid {kid} ({detail})")]
    UnknownKey { kid: String, detail: String },
    #[error("key {kid} was skipped when the keys were loaded: {why}")]
    SkippedKey { kid: String, why: String },
    #[error("no keys available: {0}")]
    NoKeys(String),
    #[error("key {kid} is for {key_alg}, token says {alg}")]
    KeyAlgorithm { kid: String, key_alg: String, alg: String },
    #[error("key {kid} belongs to issuer {key_issuer}, not {iss}")]
    KeyIssuer {
        kid: String,
        key_issuer: String,
        iss: String,
    },
    #[error("signature verification failed (kid {kid}, {alg})")]
    BadSignature { kid: String, alg: String },
    #[error("token has no exp claim")]
    MissingExpiry,
    #[error("token expired at {exp} (now {now}, skew {skew}s)")]
    Expired { exp: u64, now: u64, skew: u64 },
    #[error("token not valid before {nbf} (now {now}, skew {skew}s)")]
    NotYetValid { nbf: u64, now: u64, skew: u64 },
    #[error("token has no aud claim")]
    MissingAudience,
    #[error("audience mismatch: got {got}, expected one of [{expected}]")]
    AudienceMismatch { got: String, expected: String },
}

/// Why an authenticated caller is not permitted (API Gateway answers 403).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Denial {
    #[error("tenant {tid} is not in AUTH_ALLOWED_TENANTS [{allowed}]")]
    TenantNotAllowed { tid: String, allowed: String },
    #[error("caller has {have}; required any of {required}")]
    MissingRoleOrScope { have: Held, required: Held },
    #[error("client {client} is not in AUTH_ALLOWED_CLIENT_IDS [{allowed}]")]
    ClientNotAllowed { client: String, allowed: String },
    #[error("token has no azp or appid claim; AUTH_ALLOWED_CLIENT_IDS requires one of [{allowed}]")]
    MissingClient { allowed: String },
}

/// Roles and scopes, as held by a caller or as required.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub roles: Vec<String>,
    pub scopes: Vec<String>,
}

impl fmt::Display for Held {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "roles [{}]", self.roles.join(", "))?;
        write!(f, " scopes [{}]", self.scopes.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity() -> Identity {
        Identity {
            principal_id: "oid-1".into(),
            sub: Some("sub-1".into()),
            oid: Some("oid-1".into()),
            tid: Some("tid-1".into()),
            client_id: Some("app-1".into()),
            roles: vec!["Invoke".into(), "Admin".into()],
            scp: None,
            idtyp: Some("app".into()),
            iss: "https://issuer/".into(),
            username: None,
            exp: 1_700_000_000,
        }
    }

    #[test]
    fn context_has_strings_and_omits_absent_claims() {
        let id = identity();
        let context: Vec<(&str, String)> = id.context().into_iter().map(|(k, v)| (k, v.into_owned())).collect();
        assert_eq!(
            context,
            vec![
                ("sub", "sub-1".to_owned()),
                ("oid", "oid-1".to_owned()),
                ("tid", "tid-1".to_owned()),
                ("client_id", "app-1".to_owned()),
                ("idtyp", "app".to_owned()),
                ("roles", "Invoke Admin".to_owned()),
                ("iss", "https://issuer/".to_owned()),
                ("exp", "1700000000".to_owned()),
            ]
        );
    }

    #[test]
    fn scopes_split_on_spaces() {
        let mut id = identity();
        id.scp = Some(" read  write ".into());
        assert_eq!(id.scopes().collect::<Vec<_>>(), ["read", "write"]);
    }
}
