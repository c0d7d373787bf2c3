//! Which issuers are trusted, and which key source serves each.

use crate::decision::{Denial, Refusal};
use crate::url::KeyUrl;

/// The trusted-issuer rule, from `AUTH_TENANT_ID` (+ versions, authority) or `AUTH_ISSUERS`.
#[derive(Debug, Clone)]
pub(crate) enum Issuers {
    Entra {
        tenant: Tenant,
        authority: String,
        versions: Versions,
    },
    Exact(Vec<String>),
}

#[derive(Debug, Clone)]
pub(crate) enum Tenant {
    /// One tenant GUID, lower-case.
    Single(String),
    /// `organizations` or `common`, admitting the listed tenant GUIDs.
    Multi { segment: String, allowed: Vec<String> },
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Versions {
    pub(crate) v1: bool,
    pub(crate) v2: bool,
}

/// A trusted issuer: the key source to use and whether its tenant is admitted.
#[derive(Debug)]
pub(crate) struct IssuerMatch {
    pub(crate) source: usize,
    pub(crate) denial: Option<Denial>,
}

/// Where keys come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum KeySource {
    Jwks(KeyUrl),
    /// OIDC discovery: `issuer` must equal the document's `issuer`.
    Discovery {
        issuer: String,
        url: KeyUrl,
    },
}

impl Issuers {
    /// The key sources, indexed by [`IssuerMatch::source`].
    pub(crate) fn key_sources(&self, jwks_url: Option<&KeyUrl>) -> Result<Vec<KeySource>, String> {
        if let Some(url) = jwks_url {
            return Ok(vec![KeySource::Jwks(url.clone())]);
        }
        match self {
            Self::Entra { tenant, authority, .. } => {
                let segment = match tenant {
                    Tenant::Single(tid) => tid,
                    Tenant::Multi { segment, .. } => segment,
                };
                let url = KeyUrl::parse(&format!("https://{authority}/{segment}/discovery/v2.0/keys"))?;
                Ok(vec![KeySource::Jwks(url)])
            }
            Self::Exact(issuers) => issuers
                .iter()
                .map(|issuer| {
                    let url = KeyUrl::parse(issuer)?.discovery()?;
                    Ok(KeySource::Discovery {
                        issuer: issuer.clone(),
                        url,
                    })
                })
                .collect(),
        }
    }

    /// Matches a token's `iss` (and `tid`) against the rule.
    pub(crate) fn check(&self, iss: &str, tid: Option<&str>, jwks_shared: bool) -> Result<IssuerMatch, Refusal> {
        match self {
            Self::Exact(issuers) => match issuers.iter().position(|i| i == iss) {
                Some(index) => Ok(IssuerMatch {
                    source: if jwks_shared { 0 } else { index },
                    denial: None,
                }),
                None => Err(Refusal::UntrustedIssuer {
                    got: iss.to_owned(),
                    expected: issuers.join(", "),
                }),
            },
            Self::Entra {
                tenant,
                authority,
                versions,
            } => {
                let entra = EntraIssuer::parse(iss, authority);
                let (issuer_tenant, version) = match (&entra, tenant) {
                    (Some(e), Tenant::Single(tid)) if e.tenant == *tid => (e.tenant, e.version),
                    (Some(e), Tenant::Multi { .. }) if is_guid(e.tenant) => (e.tenant, e.version),
                    _ => {
                        return Err(Refusal::UntrustedIssuer {
                            got: iss.to_owned(),
                            expected: self.expected(authority, tenant, *versions),
                        });
                    }
                };
                let accepted = match (versions.v1, versions.v2) {
                    (true, false) => Some(1),
                    (false, true) => Some(2),
                    _ => None,
                };
                if let Some(accepted) = accepted
                    && accepted != version
                {
                    return Err(Refusal::VersionNotAccepted {
                        iss: iss.to_owned(),
                        version,
                        accepted,
                    });
                }
                let tid = match (tid, tenant) {
                    (Some(tid), _) => tid,
                    (None, Tenant::Single(_)) => issuer_tenant,
                    (None, Tenant::Multi { .. }) => return Err(Refusal::MissingTenant),
                };
                if !is_guid(tid) {
                    return Err(Refusal::InvalidTenant(tid.to_owned()));
                }
                if !tid.eq_ignore_ascii_case(issuer_tenant) {
                    return Err(Refusal::TenantMismatch {
                        issuer_tenant: issuer_tenant.to_owned(),
                        tid: tid.to_owned(),
                    });
                }
                let denial = match tenant {
                    Tenant::Multi { allowed, .. } if !allowed.iter().any(|a| a.eq_ignore_ascii_case(tid)) => {
                        Some(Denial::TenantNotAllowed {
                            tid: tid.to_owned(),
                            allowed: allowed.join(", "),
                        })
                    }
                    _ => None,
                };
                Ok(IssuerMatch { source: 0, denial })
            }
        }
    }

    /// The v2 issuer of a tenant under this authority (what Entra keys' `issuer` names).
    pub(crate) fn v2_issuer(&self, tid: &str) -> Option<String> {
        match self {
            Self::Entra { authority, .. } => Some(format!("https://{authority}/{tid}/v2.0")),
            Self::Exact(_) => None,
        }
    }

    fn expected(&self, authority: &str, tenant: &Tenant, versions: Versions) -> String {
        let tid = match tenant {
            Tenant::Single(tid) => tid.as_str(),
            Tenant::Multi { .. } => "{tid}",
        };
        let mut expected = Vec::new();
        if versions.v2 {
            expected.push(format!("https://{authority}/{tid}/v2.0"));
        }
        if versions.v1 {
            expected.push(format!("https://{}/{tid}/", v1_host(authority)));
        }
        expected.join(", ")
    }
}

/// An issuer in one of Entra's two forms, split into tenant segment and version.
struct EntraIssuer<'a> {
    tenant: &'a str,
    version: u8,
}

impl<'a> EntraIssuer<'a> {
    fn parse(iss: &'a str, authority: &str) -> Option<Self> {
        let v2 = iss
            .strip_prefix("https://")
            .and_then(|rest| rest.strip_prefix(authority))
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.strip_suffix("/v2.0"));
        if let Some(tenant) = v2.filter(|t| !t.contains('/')) {
            return Some(Self { tenant, version: 2 });
        }
        let v1 = iss
            .strip_prefix("https://")
            .and_then(|rest| rest.strip_prefix(v1_host(authority)))
            .and_then(|rest| rest.strip_prefix('/'))
            .and_then(|rest| rest.strip_suffix('/'));
        v1.filter(|t| !t.contains('/'))
            .map(|tenant| Self { tenant, version: 1 })
    }
}

/// The host of v1 (`sts`) issuers for an authority: China's cloud has its own.
fn v1_host(authority: &str) -> &'static str {
    match authority {
        "login.chinacloudapi.cn" | "login.partner.microsoftonline.cn" => "sts.chinacloudapi.cn",
        _ => "sts.windows.net",
    }
}

/// A GUID in its 8-4-4-4-12 hex form.
pub(crate) fn is_guid(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.len() == 36
        && bytes.iter().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => *b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TID: &str = "11111111-2222-3333-4444-555555555555";
    const OTHER: &str = "99999999-8888-7777-6666-555555555555";
    const AUTHORITY: &str = "login.microsoftonline.com";

    fn single(v1: bool, v2: bool) -> Issuers {
        Issuers::Entra {
            tenant: Tenant::Single(TID.into()),
            authority: AUTHORITY.into(),
            versions: Versions { v1, v2 },
        }
    }

    fn multi() -> Issuers {
        Issuers::Entra {
            tenant: Tenant::Multi {
                segment: "organizations".into(),
                allowed: vec![TID.into()],
            },
            authority: AUTHORITY.into(),
            versions: Versions { v1: true, v2: true },
        }
    }

    fn v1(tid: &str) -> String {
        format!("https://sts.windows.net/{tid}/")
    }

    fn v2(tid: &str) -> String {
        format!("https://login.microsoftonline.com/{tid}/v2.0")
    }

    #[test]
    fn guids() {
        assert!(is_guid(TID));
        assert!(is_guid("ABCDEF00-2222-3333-4444-555555555555"));
        assert!(!is_guid("11111111-2222-3333-4444-55555555555"));
        assert!(!is_guid("11111111x2222-3333-4444-555555555555"));
        assert!(!is_guid("g1111111-2222-3333-4444-555555555555"));
        assert!(!is_guid("organizations"));
    }

    #[test]
    fn single_tenant_accepts_both_forms() {
        let issuers = single(true, true);
        assert!(issuers.check(&v1(TID), Some(TID), false).is_ok());
        assert!(issuers.check(&v2(TID), Some(TID), false).is_ok());
        assert!(issuers.check(&v2(TID), None, false).is_ok());
    }

    #[test]
    fn single_tenant_refuses_other_tenants_and_hosts() {
        let issuers = single(true, true);
        let err = issuers.check(&v2(OTHER), Some(OTHER), false).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "untrusted issuer: got {}, expected one of [{}, {}]",
                v2(OTHER),
                v2(TID),
                v1(TID)
            )
        );
        for iss in [
            format!("https://login.microsoftonline.us/{TID}/v2.0"),
            format!("http://login.microsoftonline.com/{TID}/v2.0"),
            format!("https://login.microsoftonline.com/{TID}/v2.0/"),
            format!("https://login.microsoftonline.com/{TID}/extra/v2.0"),
            format!("https://sts.windows.net/{TID}"),
            format!("https://evil.example/{TID}/v2.0"),
        ] {
            assert!(
                matches!(
                    issuers.check(&iss, Some(TID), false),
                    Err(Refusal::UntrustedIssuer { .. })
                ),
                "{iss}"
            );
        }
    }

    #[test]
    fn version_filter_names_the_version() {
        let err = single(false, true).check(&v1(TID), Some(TID), false).unwrap_err();
        assert_eq!(
            err,
            Refusal::VersionNotAccepted {
                iss: v1(TID),
                version: 1,
                accepted: 2
            }
        );
        let err = single(true, false).check(&v2(TID), Some(TID), false).unwrap_err();
        assert!(matches!(
            err,
            Refusal::VersionNotAccepted {
                version: 2,
                accepted: 1,
                ..
            }
        ));
    }

    #[test]
    fn single_tenant_tid_must_match_issuer() {
        let err = single(true, true).check(&v2(TID), Some(OTHER), false).unwrap_err();
        assert_eq!(
            err,
            Refusal::TenantMismatch {
                issuer_tenant: TID.into(),
                tid: OTHER.into()
            }
        );
    }

    #[test]
    fn multi_tenant_rules() {
        let issuers = multi();
        let ok = issuers.check(&v2(TID), Some(TID), false).unwrap();
        assert!(ok.denial.is_none());
        let ok = issuers.check(&v1(TID), Some(TID), false).unwrap();
        assert!(ok.denial.is_none());
        // A trusted form, but a tenant not admitted: authenticated, then denied.
        let other = issuers.check(&v2(OTHER), Some(OTHER), false).unwrap();
        assert_eq!(
            other.denial,
            Some(Denial::TenantNotAllowed {
                tid: OTHER.into(),
                allowed: TID.into()
            })
        );
        // The issuer's tenant segment must be the token's own tid.
        assert_eq!(
            issuers.check(&v2(OTHER), Some(TID), false).unwrap_err(),
            Refusal::TenantMismatch {
                issuer_tenant: OTHER.into(),
                tid: TID.into()
            }
        );
        assert_eq!(
            issuers.check(&v2(TID), None, false).unwrap_err(),
            Refusal::MissingTenant
        );
        assert_eq!(
            issuers.check(&v2(TID), Some("not-a-guid"), false).unwrap_err(),
            Refusal::InvalidTenant("not-a-guid".into())
        );
        // A template filled with something other than a GUID is not a trusted issuer.
        assert!(matches!(
            issuers.check("https://login.microsoftonline.com/common/v2.0", Some(TID), false),
            Err(Refusal::UntrustedIssuer { .. })
        ));
        assert!(matches!(
            issuers.check("https://login.microsoftonline.com/{tenantid}/v2.0", Some(TID), false),
            Err(Refusal::UntrustedIssuer { .. })
        ));
    }

    #[test]
    fn sovereign_authority() {
        let issuers = Issuers::Entra {
            tenant: Tenant::Single(TID.into()),
            authority: "login.microsoftonline.us".into(),
            versions: Versions { v1: false, v2: true },
        };
        assert!(
            issuers
                .check(&format!("https://login.microsoftonline.us/{TID}/v2.0"), None, false)
                .is_ok()
        );
        assert!(issuers.check(&v2(TID), None, false).is_err());
        assert_eq!(
            issuers.key_sources(None).unwrap(),
            vec![KeySource::Jwks(
                KeyUrl::parse(&format!("https://login.microsoftonline.us/{TID}/discovery/v2.0/keys")).unwrap()
            )]
        );
        let china = Issuers::Entra {
            tenant: Tenant::Single(TID.into()),
            authority: "login.chinacloudapi.cn".into(),
            versions: Versions { v1: true, v2: false },
        };
        assert!(
            china
                .check(&format!("https://sts.chinacloudapi.cn/{TID}/"), None, false)
                .is_ok()
        );
    }

    #[test]
    fn exact_issuers_and_their_sources() {
        let issuers = Issuers::Exact(vec!["https://a.example/realm".into(), "https://b.example/".into()]);
        assert_eq!(issuers.check("https://b.example/", None, false).unwrap().source, 1);
        assert_eq!(issuers.check("https://b.example/", None, true).unwrap().source, 0);
        assert_eq!(
            issuers.check("https://b.example", None, false).unwrap_err().to_string(),
            "untrusted issuer: got https://b.example, expected one of [https://a.example/realm, https://b.example/]"
        );
        let sources = issuers.key_sources(None).unwrap();
        assert_eq!(
            sources[0],
            KeySource::Discovery {
                issuer: "https://a.example/realm".into(),
                url: KeyUrl::parse("https://a.example/realm/.well-known/openid-configuration").unwrap()
            }
        );
        let shared = KeyUrl::parse("https://keys.example/jwks").unwrap();
        assert_eq!(
            issuers.key_sources(Some(&shared)).unwrap(),
            vec![KeySource::Jwks(shared)]
        );
    }

    #[test]
    fn multi_tenant_keys_come_from_the_segment() {
        assert_eq!(
            multi().key_sources(None).unwrap(),
            vec![KeySource::Jwks(
                KeyUrl::parse("https://login.microsoftonline.com/organizations/discovery/v2.0/keys").unwrap()
            )]
        );
    }
}
