//! Which check a refusal comes from, and what fixes it: for `authorizer explain`
//! and for operators reading the decision log.

use serde_json::Value;

use crate::decision::{Denial, Refusal};
use crate::issuer::is_guid;
use crate::verify::{decode_segment, parse_object};

/// The checks, in the order the verifier makes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    Decoding,
    Header,
    Issuer,
    KeyLookup,
    Signature,
    Lifetime,
    Audience,
    Tenant,
    RolesOrScopes,
    Client,
}

impl Step {
    pub const ALL: [Step; 10] = [
        Step::Decoding,
        Step::Header,
        Step::Issuer,
        Step::KeyLookup,
        Step::Signature,
        Step::Lifetime,
        Step::Audience,
        Step::Tenant,
        Step::RolesOrScopes,
        Step::Client,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Step::Decoding => "decoding",
            Step::Header => "header",
            Step::Issuer => "issuer",
            Step::KeyLookup => "key lookup",
            Step::Signature => "signature",
            Step::Lifetime => "lifetime",
            Step::Audience => "audience",
            Step::Tenant => "tenant",
            Step::RolesOrScopes => "roles/scopes",
            Step::Client => "client",
        }
    }
}

/// Microsoft Graph's audiences: a token for them was requested for the wrong resource.
const GRAPH_AUDIENCES: [&str; 3] = [
    "00000003-0000-0000-c000-000000000000",
    "https://graph.microsoft.com",
    "https://graph.microsoft.com/",
];

impl Refusal {
    pub fn step(&self) -> Step {
        match self {
            Self::MissingAuthorization
            | Self::NotBearer
            | Self::Empty
            | Self::TooLarge { .. }
            | Self::Segments(_)
            | Self::Encrypted
            | Self::Claims(_) => Step::Decoding,
            Self::Encoding("signature") => Step::Signature,
            Self::Encoding(_) => Step::Decoding,
            Self::Header(_)
            | Self::Unsigned
            | Self::AlgorithmNotAllowed { .. }
            | Self::GraphToken
            | Self::KeyReference(_)
            | Self::Critical
            | Self::MissingKid => Step::Header,
            Self::MissingIssuer
            | Self::UntrustedIssuer { .. }
            | Self::VersionNotAccepted { .. }
            | Self::MissingTenant
            | Self::InvalidTenant(_)
            | Self::TenantMismatch { .. } => Step::Issuer,
            Self::UnknownKey { .. }
            | Self::SkippedKey { .. }
            | Self::NoKeys(_)
            | Self::KeyAlgorithm { .. }
            | Self::KeyIssuer { .. } => Step::KeyLookup,
            Self::BadSignature { .. } => Step::Signature,
            Self::MissingExpiry | Self::Expired { .. } | Self::NotYetValid { .. } => Step::Lifetime,
            Self::MissingAudience | Self::AudienceMismatch { .. } => Step::Audience,
        }
    }

    /// What to change, when there is something to change.
    pub fn fix(&self) -> Option<String> {
        let fix = match self {
            Self::MissingAuthorization | Self::NotBearer | Self::Empty => {
                "send the header Authorization: Bearer <access token>; check that APIM forwards Authorization unchanged".to_owned()
            }
            Self::Encrypted => "the token is encrypted (JWE): request a signed access token for your API".to_owned(),
            Self::GraphToken => "this is a Microsoft Graph token; request a token for your API's scope (api://<app-id>/.default)".to_owned(),
            Self::AlgorithmNotAllowed { alg, .. } => {
                format!("if your issuer signs with {alg}, add it to AUTH_ALLOWED_ALGORITHMS (HS* is never accepted)")
            }
            Self::UntrustedIssuer { .. } => {
                "the token is from another tenant, cloud or provider: check AUTH_TENANT_ID, AUTH_AUTHORITY_HOST or AUTH_ISSUERS".to_owned()
            }
            Self::VersionNotAccepted { version: 1, .. } => {
                "token is v1; set AUTH_TOKEN_VERSIONS to include 1 or set accessTokenAcceptedVersion: 2 in the API's app manifest".to_owned()
            }
            Self::VersionNotAccepted { version, .. } => {
                format!("token is v{version}; set AUTH_TOKEN_VERSIONS to include {version}")
            }
            Self::UnknownKey { .. } => {
                "the issuer may have rotated its keys (they are refetched at most once per AUTH_JWKS_MIN_REFRESH_SECONDS), or the token is from another issuer".to_owned()
            }
            Self::NoKeys(_) => {
                "the function cannot fetch the signing keys: give it egress to the key URL (a NAT gateway in a VPC) or check AUTH_JWKS_URL".to_owned()
            }
            Self::BadSignature { .. } => "the token was altered, or signed by a key other than the one published".to_owned(),
            Self::Expired { .. } => "request a new token; tokens from Entra live 60-90 minutes".to_owned(),
            Self::NotYetValid { .. } => "the issuer's clock is ahead: raise AUTH_CLOCK_SKEW_SECONDS".to_owned(),
            Self::AudienceMismatch { got, .. } if GRAPH_AUDIENCES.contains(&got.as_str()) => {
                "this is a Microsoft Graph token; request a token for your API's scope (api://<app-id>/.default)".to_owned()
            }
            Self::AudienceMismatch { got, .. } if is_guid(got) => {
                "audience is the GUID form; add it to AUTH_AUDIENCES".to_owned()
            }
            Self::AudienceMismatch { got, .. } => {
                format!("add {got} to AUTH_AUDIENCES, or request the token for the API's scope")
            }
            Self::MissingAudience => "request the token for your API's scope so that it carries aud".to_owned(),
            _ => return None,
        };
        Some(fix)
    }
}

impl Denial {
    pub fn step(&self) -> Step {
        match self {
            Self::TenantNotAllowed { .. } => Step::Tenant,
            Self::MissingRoleOrScope { .. } => Step::RolesOrScopes,
            Self::ClientNotAllowed { .. } | Self::MissingClient { .. } => Step::Client,
        }
    }

    pub fn fix(&self) -> String {
        match self {
            Self::TenantNotAllowed { tid, .. } => format!("add {tid} to AUTH_ALLOWED_TENANTS"),
            Self::MissingRoleOrScope { .. } => {
                "assign the app role to the caller (app registration > App roles, then the enterprise application) or grant the scope; a new token carries it; cached authorizer results keep the old answer until their TTL ends".to_owned()
            }
            Self::ClientNotAllowed { client, .. } => format!("add {client} to AUTH_ALLOWED_CLIENT_IDS"),
            Self::MissingClient { .. } => "the token names no calling application (azp/appid)".to_owned(),
        }
    }
}

/// The token's header and claims as JSON, unverified: for showing, never for deciding.
pub fn inspect(token: &str) -> (Option<Value>, Option<Value>) {
    let mut parts = token.split('.');
    let mut part = |what| {
        parts
            .next()
            .and_then(|p| decode_segment(p, what).ok())
            .and_then(|bytes| parse_object::<Value>(&bytes, what).ok())
    };
    let header = part("header");
    let claims = part("claims");
    (header, claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_ordered() {
        let mut sorted = Step::ALL;
        sorted.sort();
        assert_eq!(sorted, Step::ALL);
    }

    #[test]
    fn audience_fixes_name_the_form() {
        let guid = Refusal::AudienceMismatch {
            got: "6e74172b-be56-4843-9ff4-e66a39bb12e3".into(),
            expected: "api://x".into(),
        };
        assert_eq!(
            guid.fix().unwrap(),
            "audience is the GUID form; add it to AUTH_AUDIENCES"
        );
        let graph = Refusal::AudienceMismatch {
            got: "https://graph.microsoft.com".into(),
            expected: "api://x".into(),
        };
        assert!(graph.fix().unwrap().starts_with("this is a Microsoft Graph token"));
        let v1 = Refusal::VersionNotAccepted {
            iss: "https://sts.windows.net/t/".into(),
            version: 1,
            accepted: 2,
        };
        assert_eq!(
            v1.fix().unwrap(),
            "token is v1; set AUTH_TOKEN_VERSIONS to include 1 or set accessTokenAcceptedVersion: 2 in the API's app manifest"
        );
        assert_eq!(v1.step(), Step::Issuer);
    }

    #[test]
    fn inspect_is_lenient() {
        assert_eq!(inspect("garbage"), (None, None));
        let (header, claims) = inspect("eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJ4In0.sig");
        assert_eq!(header.unwrap()["alg"], "RS256");
        assert_eq!(claims.unwrap()["aud"], "x");
    }
}
