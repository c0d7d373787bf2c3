//! Settings from the `AUTH_*` environment variables, parsed and validated once.

use std::time::Duration;

use jsonwebtoken::{Algorithm, AlgorithmFamily};

use crate::Error;
use crate::issuer::{Issuers, Tenant, Versions, is_guid};
use crate::url::KeyUrl;

/// Everything the verifier needs, validated: a value of this type is always usable.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) issuers: Issuers,
    pub(crate) jwks_url: Option<KeyUrl>,
    pub(crate) audiences: Vec<String>,
    pub(crate) required_roles: Vec<String>,
    pub(crate) required_scopes: Vec<String>,
    pub(crate) allowed_client_ids: Vec<String>,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) clock_skew_seconds: u64,
    pub(crate) jwks_cache: Duration,
    pub(crate) jwks_min_refresh: Duration,
}

/// Algorithms this crate can verify; shared-secret (HS*) ones are never accepted,
/// since the verifier only ever holds public keys.
const SUPPORTED_ALGORITHMS: &str = "RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, EdDSA";

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup` (the environment, or a map in tests).
    /// Empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let list = |name: &str| get(name).map(|v| split_list(&v)).unwrap_or_default();

        let authority = match get("AUTH_AUTHORITY_HOST") {
            Some(host) if is_host(&host) => host.to_ascii_lowercase(),
            Some(host) => {
                return Err(Error::config(
                    "AUTH_AUTHORITY_HOST",
                    format!("{host:?} is not a host name (e.g. login.microsoftonline.us)"),
                ));
            }
            None => "login.microsoftonline.com".to_owned(),
        };
        let versions = parse_versions(get("AUTH_TOKEN_VERSIONS").as_deref())?;
        let allowed_tenants = list("AUTH_ALLOWED_TENANTS");
        if let Some(bad) = allowed_tenants.iter().find(|t| !is_guid(t)) {
            return Err(Error::config(
                "AUTH_ALLOWED_TENANTS",
                format!("{bad:?} is not a tenant GUID"),
            ));
        }

        let issuers = match (get("AUTH_ISSUERS"), get("AUTH_TENANT_ID")) {
            (Some(_), Some(_)) => {
                return Err(Error::config(
                    "AUTH_ISSUERS",
                    "set either AUTH_ISSUERS or AUTH_TENANT_ID, not both",
                ));
            }
            (Some(raw), None) => {
                let issuers = split_list(&raw);
                for issuer in &issuers {
                    KeyUrl::parse(issuer).map_err(|e| Error::config("AUTH_ISSUERS", format!("{issuer:?}: {e}")))?;
                }
                Issuers::Exact(issuers)
            }
            (None, Some(tenant)) => {
                let tenant = parse_tenant(&tenant, allowed_tenants)?;
                Issuers::Entra {
                    tenant,
                    authority,
                    versions,
                }
            }
            (None, None) => {
                return Err(Error::config(
                    "AUTH_TENANT_ID",
                    "required (a tenant GUID, organizations or common) unless AUTH_ISSUERS is set",
                ));
            }
        };

        let jwks_url = get("AUTH_JWKS_URL")
            .map(|raw| KeyUrl::parse(&raw).map_err(|e| Error::config("AUTH_JWKS_URL", e)))
            .transpose()?;

        let audiences = list("AUTH_AUDIENCES");
        if audiences.is_empty() {
            return Err(Error::config(
                "AUTH_AUDIENCES",
                "required: a comma list of accepted audiences (e.g. api://<app-id>,<app-id>)",
            ));
        }

        let algorithms = match get("AUTH_ALLOWED_ALGORITHMS") {
            Some(raw) => parse_algorithms(&raw)?,
            None => vec![Algorithm::RS256],
        };

        Ok(Self {
            issuers,
            jwks_url,
            audiences,
            required_roles: list("AUTH_REQUIRED_ROLES"),
            required_scopes: list("AUTH_REQUIRED_SCOPES"),
            allowed_client_ids: list("AUTH_ALLOWED_CLIENT_IDS"),
            algorithms,
            clock_skew_seconds: seconds(&get, "AUTH_CLOCK_SKEW_SECONDS", 60, 0..=600)?,
            jwks_cache: Duration::from_secs(seconds(&get, "AUTH_JWKS_CACHE_SECONDS", 3600, 1..=86_400)?),
            jwks_min_refresh: Duration::from_secs(seconds(&get, "AUTH_JWKS_MIN_REFRESH_SECONDS", 30, 0..=3600)?),
        })
    }
}

fn split_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn is_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host
            .split('.')
            .all(|label| !label.is_empty() && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
}

fn parse_versions(raw: Option<&str>) -> Result<Versions, Error> {
    let Some(raw) = raw else {
        return Ok(Versions { v1: true, v2: true });
    };
    let mut versions = Versions { v1: false, v2: false };
    for item in split_list(raw) {
        match item.as_str() {
            "1" | "1.0" => versions.v1 = true,
            "2" | "2.0" => versions.v2 = true,
            other => {
                return Err(Error::config(
                    "AUTH_TOKEN_VERSIONS",
                    format!("{other:?} is not a token version: use 1, 2 or 1,2"),
                ));
            }
        }
    }
    if !versions.v1 && !versions.v2 {
        return Err(Error::config("AUTH_TOKEN_VERSIONS", "empty: use 1, 2 or 1,2"));
    }
    Ok(versions)
}

fn parse_tenant(raw: &str, allowed: Vec<String>) -> Result<Tenant, Error> {
    let lower = raw.to_ascii_lowercase();
    match lower.as_str() {
        "organizations" | "common" => {
            if allowed.is_empty() {
                return Err(Error::config(
                    "AUTH_ALLOWED_TENANTS",
                    format!("required when AUTH_TENANT_ID is {lower}: list the tenant GUIDs to admit"),
                ));
            }
            Ok(Tenant::Multi {
                segment: lower,
                allowed: allowed.into_iter().map(|t| t.to_ascii_lowercase()).collect(),
            })
        }
        _ if is_guid(&lower) => {
            if !allowed.is_empty() {
                return Err(Error::config(
                    "AUTH_ALLOWED_TENANTS",
                    "only used when AUTH_TENANT_ID is organizations or common",
                ));
            }
            Ok(Tenant::Single(lower))
        }
        _ => Err(Error::config(
            "AUTH_TENANT_ID",
            format!("{raw:?} is neither a tenant GUID nor organizations/common"),
        )),
    }
}

fn parse_algorithms(raw: &str) -> Result<Vec<Algorithm>, Error> {
    let mut algorithms = Vec::new();
    for name in split_list(raw) {
        let algorithm: Algorithm = name.parse().map_err(|_| {
            Error::config(
                "AUTH_ALLOWED_ALGORITHMS",
                format!("{name:?} is not a known algorithm (supported: {SUPPORTED_ALGORITHMS})"),
            )
        })?;
        if algorithm.family() == AlgorithmFamily::Hmac {
            return Err(Error::config(
                "AUTH_ALLOWED_ALGORITHMS",
                format!("{name} is a shared-secret algorithm; supported: {SUPPORTED_ALGORITHMS}"),
            ));
        }
        if !algorithms.contains(&algorithm) {
            algorithms.push(algorithm);
        }
    }
    if algorithms.is_empty() {
        return Err(Error::config("AUTH_ALLOWED_ALGORITHMS", "empty list"));
    }
    Ok(algorithms)
}

fn seconds(
    get: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
    default: u64,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, Error> {
    let Some(raw) = get(variable) else {
        return Ok(default);
    };
    let value: u64 = raw
        .parse()
        .map_err(|_| Error::config(variable, format!("{raw:?} is not a whole number of seconds")))?;
    if !range.contains(&value) {
        return Err(Error::config(
            variable,
            format!("{value} is outside {}..={}", range.start(), range.end()),
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TID: &str = "11111111-2222-3333-4444-555555555555";

    fn config(pairs: &[(&str, &str)]) -> Result<Config, Error> {
        Config::from_lookup(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    }

    fn problem(pairs: &[(&str, &str)]) -> String {
        config(pairs).unwrap_err().to_string()
    }

    #[test]
    fn defaults() {
        let c = config(&[("AUTH_TENANT_ID", TID), ("AUTH_AUDIENCES", "api://x, x ,")]).unwrap();
        assert_eq!(c.audiences, ["api://x", "x"]);
        assert_eq!(c.algorithms, [Algorithm::RS256]);
        assert_eq!(c.clock_skew_seconds, 60);
        assert_eq!(c.jwks_cache, Duration::from_secs(3600));
        assert_eq!(c.jwks_min_refresh, Duration::from_secs(30));
        assert!(c.jwks_url.is_none());
        assert!(c.required_roles.is_empty() && c.required_scopes.is_empty() && c.allowed_client_ids.is_empty());
        match &c.issuers {
            Issuers::Entra {
                tenant: Tenant::Single(tid),
                authority,
                versions,
            } => {
                assert_eq!(tid, TID);
                assert_eq!(authority, "login.microsoftonline.com");
                assert!(versions.v1 && versions.v2);
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn tenant_must_be_guid_or_multi() {
        assert_eq!(
            problem(&[("AUTH_TENANT_ID", "contoso.onmicrosoft.com"), ("AUTH_AUDIENCES", "a")]),
            "AUTH_TENANT_ID: \"contoso.onmicrosoft.com\" is neither a tenant GUID nor organizations/common"
        );
        assert_eq!(
            problem(&[("AUTH_AUDIENCES", "a")]),
            "AUTH_TENANT_ID: required (a tenant GUID, organizations or common) unless AUTH_ISSUERS is set"
        );
    }

    #[test]
    fn multi_tenant_needs_allowed_tenants() {
        assert_eq!(
            problem(&[("AUTH_TENANT_ID", "organizations"), ("AUTH_AUDIENCES", "a")]),
            "AUTH_ALLOWED_TENANTS: required when AUTH_TENANT_ID is organizations: list the tenant GUIDs to admit"
        );
        assert_eq!(
            problem(&[
                ("AUTH_TENANT_ID", "common"),
                ("AUTH_ALLOWED_TENANTS", "x"),
                ("AUTH_AUDIENCES", "a")
            ]),
            "AUTH_ALLOWED_TENANTS: \"x\" is not a tenant GUID"
        );
        let c = config(&[
            ("AUTH_TENANT_ID", "Common"),
            ("AUTH_ALLOWED_TENANTS", TID),
            ("AUTH_AUDIENCES", "a"),
        ])
        .unwrap();
        assert!(
            matches!(&c.issuers, Issuers::Entra { tenant: Tenant::Multi { segment, allowed }, .. } if segment == "common" && allowed == &[TID])
        );
        assert_eq!(
            problem(&[
                ("AUTH_TENANT_ID", TID),
                ("AUTH_ALLOWED_TENANTS", TID),
                ("AUTH_AUDIENCES", "a")
            ]),
            "AUTH_ALLOWED_TENANTS: only used when AUTH_TENANT_ID is organizations or common"
        );
    }

    #[test]
    fn audiences_required() {
        assert_eq!(
            problem(&[("AUTH_TENANT_ID", TID), ("AUTH_AUDIENCES", " , ")]),
            "AUTH_AUDIENCES: required: a comma list of accepted audiences (e.g. api://<app-id>,<app-id>)"
        );
    }

    #[test]
    fn algorithms_are_checked() {
        let base = [("AUTH_TENANT_ID", TID), ("AUTH_AUDIENCES", "a")];
        let with = |alg: &'static str| {
            let mut pairs = base.to_vec();
            pairs.push(("AUTH_ALLOWED_ALGORITHMS", alg));
            pairs
        };
        assert!(problem(&with("RS257")).starts_with("AUTH_ALLOWED_ALGORITHMS: \"RS257\" is not a known algorithm"));
        assert!(
            problem(&with("RS256,HS256")).starts_with("AUTH_ALLOWED_ALGORITHMS: HS256 is a shared-secret algorithm")
        );
        assert!(problem(&with("none")).contains("not a known algorithm"));
        let c = config(&with("RS256, PS256, ES256, RS256")).unwrap();
        assert_eq!(c.algorithms, [Algorithm::RS256, Algorithm::PS256, Algorithm::ES256]);
    }

    #[test]
    fn numbers_are_checked() {
        let base = [("AUTH_TENANT_ID", TID), ("AUTH_AUDIENCES", "a")];
        let with = |name: &'static str, value: &'static str| {
            let mut pairs = base.to_vec();
            pairs.push((name, value));
            problem(&pairs)
        };
        assert_eq!(
            with("AUTH_CLOCK_SKEW_SECONDS", "1m"),
            "AUTH_CLOCK_SKEW_SECONDS: \"1m\" is not a whole number of seconds"
        );
        assert_eq!(
            with("AUTH_CLOCK_SKEW_SECONDS", "-5"),
            "AUTH_CLOCK_SKEW_SECONDS: \"-5\" is not a whole number of seconds"
        );
        assert_eq!(
            with("AUTH_CLOCK_SKEW_SECONDS", "601"),
            "AUTH_CLOCK_SKEW_SECONDS: 601 is outside 0..=600"
        );
        assert_eq!(
            with("AUTH_JWKS_CACHE_SECONDS", "0"),
            "AUTH_JWKS_CACHE_SECONDS: 0 is outside 1..=86400"
        );
        assert_eq!(
            with("AUTH_JWKS_MIN_REFRESH_SECONDS", "x"),
            "AUTH_JWKS_MIN_REFRESH_SECONDS: \"x\" is not a whole number of seconds"
        );
    }

    #[test]
    fn versions_authority_and_urls() {
        let base = [("AUTH_TENANT_ID", TID), ("AUTH_AUDIENCES", "a")];
        let with = |name: &'static str, value: &'static str| {
            let mut pairs = base.to_vec();
            pairs.push((name, value));
            config(&pairs)
        };
        assert_eq!(
            with("AUTH_TOKEN_VERSIONS", "3").unwrap_err().to_string(),
            "AUTH_TOKEN_VERSIONS: \"3\" is not a token version: use 1, 2 or 1,2"
        );
        assert!(matches!(
            with("AUTH_TOKEN_VERSIONS", "2").unwrap().issuers,
            Issuers::Entra {
                versions: Versions { v1: false, v2: true },
                ..
            }
        ));
        assert!(
            with("AUTH_AUTHORITY_HOST", "https://login.microsoftonline.us")
                .unwrap_err()
                .to_string()
                .starts_with("AUTH_AUTHORITY_HOST: ")
        );
        assert_eq!(
            with("AUTH_JWKS_URL", "http://keys.example.com/jwks")
                .unwrap_err()
                .to_string(),
            "AUTH_JWKS_URL: \"http://keys.example.com/jwks\" must use https (plain http is allowed only for 127.0.0.1, ::1 and localhost)"
        );
        assert!(with("AUTH_JWKS_URL", "http://127.0.0.1:9/jwks").is_ok());
    }

    #[test]
    fn issuers_mode() {
        let c = config(&[
            ("AUTH_ISSUERS", "https://idp.example.com/realms/a"),
            ("AUTH_AUDIENCES", "a"),
        ])
        .unwrap();
        assert!(matches!(&c.issuers, Issuers::Exact(list) if list == &["https://idp.example.com/realms/a"]));
        assert_eq!(
            problem(&[
                ("AUTH_ISSUERS", "https://a"),
                ("AUTH_TENANT_ID", TID),
                ("AUTH_AUDIENCES", "a")
            ]),
            "AUTH_ISSUERS: set either AUTH_ISSUERS or AUTH_TENANT_ID, not both"
        );
        assert!(
            problem(&[("AUTH_ISSUERS", "http://idp.example.com"), ("AUTH_AUDIENCES", "a")])
                .starts_with("AUTH_ISSUERS: ")
        );
    }
}
