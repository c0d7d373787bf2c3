//! Settings from the `INVOKER_*` environment variables, parsed and validated once.

use std::time::Duration;

use crate::error::Error;

/// The most `INVOKER_TIMEOUT_MS` may be: API Gateway's longest integration timeout.
const MAX_TIMEOUT_MS: u64 = 300_000;

/// Everything the invoker needs, validated.
#[derive(Debug, Clone)]
pub struct Config {
    endpoints: Vec<EndpointRule>,
    role_arn: Option<String>,
    session_seconds: i32,
    timeout: Duration,
}

/// One `INVOKER_ENDPOINTS` entry: an endpoint and the roles or scopes admitted to it
/// (empty: any authorized caller).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRule {
    pub name: String,
    pub roles: Vec<String>,
}

impl Config {
    pub fn from_env() -> Result<Self, Error> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads settings through `lookup`; empty values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, Error> {
        let get = |name: &str| lookup(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
        let endpoints = parse_endpoints(get("INVOKER_ENDPOINTS").as_deref())?;
        let role_arn = get("INVOKER_ROLE_ARN")
            .map(|arn| {
                if is_role_arn(&arn) {
                    Ok(arn)
                } else {
                    Err(Error::config(
                        "INVOKER_ROLE_ARN",
                        format!("{arn:?} is not an IAM role ARN (arn:aws:iam::<account>:role/<name>)"),
                    ))
                }
            })
            .transpose()?;
        let session_seconds = number(&get, "INVOKER_SESSION_SECONDS", 900, 900..=43_200)?;
        let timeout_ms = number(&get, "INVOKER_TIMEOUT_MS", 28_000, 1..=MAX_TIMEOUT_MS)?;
        Ok(Self {
            endpoints,
            role_arn,
            session_seconds: i32::try_from(session_seconds).unwrap_or(900),
            timeout: Duration::from_millis(timeout_ms),
        })
    }

    /// The rule for an endpoint name, if it is listed.
    pub fn endpoint(&self, name: &str) -> Option<&EndpointRule> {
        self.endpoints.iter().find(|rule| rule.name == name)
    }

    pub fn endpoints(&self) -> &[EndpointRule] {
        &self.endpoints
    }

    /// Set: federation mode, each caller's token exchanged for credentials of this role.
    pub fn role_arn(&self) -> Option<&str> {
        self.role_arn.as_deref()
    }

    pub fn session_seconds(&self) -> i32 {
        self.session_seconds
    }

    /// Bound on one SageMaker call, retries included.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

impl EndpointRule {
    /// Whether a caller holding `roles` and `scopes` may use this endpoint.
    pub fn admits<'a>(
        &self,
        roles: impl IntoIterator<Item = &'a str>,
        scopes: impl IntoIterator<Item = &'a str>,
    ) -> bool {
        if self.roles.is_empty() {
            return true;
        }
        roles
            .into_iter()
            .chain(scopes)
            .any(|held| self.roles.iter().any(|r| r == held))
    }
}

fn parse_endpoints(raw: Option<&str>) -> Result<Vec<EndpointRule>, Error> {
    const VAR: &str = "INVOKER_ENDPOINTS";
    let Some(raw) = raw else {
        return Err(Error::config(
            VAR,
            "required: a comma list of endpoint names, each optionally name:RoleA|RoleB",
        ));
    };
    let mut rules: Vec<EndpointRule> = Vec::new();
    for entry in raw.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, roles) = match entry.split_once(':') {
            Some((name, roles)) => (name.trim(), roles),
            None => (entry, ""),
        };
        if !is_endpoint_name(name) {
            return Err(Error::config(
                VAR,
                format!(
                    "{name:?} is not a SageMaker endpoint name (1-63 letters, digits and hyphens, not starting or ending with a hyphen)"
                ),
            ));
        }
        let roles: Vec<String> = roles
            .split('|')
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .map(str::to_owned)
            .collect();
        if entry.contains(':') && roles.is_empty() {
            return Err(Error::config(VAR, format!("{entry:?} has a ':' but no roles after it")));
        }
        if rules.iter().any(|r| r.name.eq_ignore_ascii_case(name)) {
            return Err(Error::config(VAR, format!("{name:?} is listed twice")));
        }
        rules.push(EndpointRule {
            name: name.to_owned(),
            roles,
        });
    }
    if rules.is_empty() {
        return Err(Error::config(VAR, "empty: list at least one endpoint"));
    }
    Ok(rules)
}

/// SageMaker's rule: `^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`, at most 63 characters.
pub fn is_endpoint_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        && bytes[0] != b'-'
        && bytes[bytes.len() - 1] != b'-'
}

fn is_role_arn(arn: &str) -> bool {
    let mut fields = arn.splitn(6, ':');
    matches!(
        (fields.next(), fields.next(), fields.next(), fields.next(), fields.next(), fields.next()),
        (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource))
            if partition.starts_with("aws")
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource.strip_prefix("role/").is_some_and(|name| !name.is_empty())
    )
}

fn number(
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
        .map_err(|_| Error::config(variable, format!("{raw:?} is not a whole number")))?;
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

    fn config(pairs: &[(&str, &str)]) -> Result<Config, String> {
        Config::from_lookup(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
            .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_and_rules() {
        let c = config(&[("INVOKER_ENDPOINTS", "open-model, private-model:SageMaker.Admin|invoke ")]).unwrap();
        assert_eq!(c.endpoints().len(), 2);
        assert_eq!(c.endpoint("open-model").unwrap().roles, Vec::<String>::new());
        assert_eq!(
            c.endpoint("private-model").unwrap().roles,
            ["SageMaker.Admin", "invoke"]
        );
        assert!(c.endpoint("other").is_none());
        assert_eq!(c.role_arn(), None);
        assert_eq!(c.session_seconds(), 900);
        assert_eq!(c.timeout(), Duration::from_millis(28_000));
    }

    #[test]
    fn endpoint_access() {
        let c = config(&[("INVOKER_ENDPOINTS", "open,closed:Admin|scope.invoke")]).unwrap();
        assert!(c.endpoint("open").unwrap().admits([], []));
        let closed = c.endpoint("closed").unwrap();
        assert!(closed.admits(["Reader", "Admin"], []));
        assert!(closed.admits([], ["scope.invoke"]));
        assert!(!closed.admits(["Reader"], ["read"]));
        assert!(!closed.admits(["admin"], []), "roles are case-sensitive");
    }

    #[test]
    fn endpoint_names_follow_sagemaker_rules() {
        for good in ["a", "my-model-1", "A1--b", &"x".repeat(63)] {
            assert!(is_endpoint_name(good), "{good}");
        }
        for bad in ["", "-a", "a-", "a_b", "a.b", "a b", &"x".repeat(64), "ünï"] {
            assert!(!is_endpoint_name(bad), "{bad}");
        }
        assert_eq!(
            config(&[("INVOKER_ENDPOINTS", "good,bad_name")]).unwrap_err(),
            "INVOKER_ENDPOINTS: \"bad_name\" is not a SageMaker endpoint name (1-63 letters, digits and hyphens, not starting or ending with a hyphen)"
        );
    }

    #[test]
    fn endpoint_list_errors() {
        assert_eq!(
            config(&[]).unwrap_err(),
            "INVOKER_ENDPOINTS: required: a comma list of endpoint names, each optionally name:RoleA|RoleB"
        );
        assert_eq!(
            config(&[("INVOKER_ENDPOINTS", " , ")]).unwrap_err(),
            "INVOKER_ENDPOINTS: empty: list at least one endpoint"
        );
        assert_eq!(
            config(&[("INVOKER_ENDPOINTS", "a:")]).unwrap_err(),
            "INVOKER_ENDPOINTS: \"a:\" has a ':' but no roles after it"
        );
        assert_eq!(
            config(&[("INVOKER_ENDPOINTS", "a,A")]).unwrap_err(),
            "INVOKER_ENDPOINTS: \"A\" is listed twice"
        );
    }

    #[test]
    fn federation_settings() {
        let c = config(&[
            ("INVOKER_ENDPOINTS", "m"),
            ("INVOKER_ROLE_ARN", "arn:aws:iam::123456789012:role/model-invoke"),
            ("INVOKER_SESSION_SECONDS", "3600"),
        ])
        .unwrap();
        assert_eq!(c.role_arn(), Some("arn:aws:iam::123456789012:role/model-invoke"));
        assert_eq!(c.session_seconds(), 3600);
        for bad in [
            "arn:aws:iam::12345:role/x",
            "arn:aws:sts::123456789012:role/x",
            "role/x",
            "arn:aws:iam::123456789012:user/x",
        ] {
            let err = config(&[("INVOKER_ENDPOINTS", "m"), ("INVOKER_ROLE_ARN", bad)]).unwrap_err();
            assert!(err.starts_with("INVOKER_ROLE_ARN: "), "{bad}: {err}");
        }
        assert_eq!(
            config(&[("INVOKER_ENDPOINTS", "m"), ("INVOKER_SESSION_SECONDS", "60")]).unwrap_err(),
            "INVOKER_SESSION_SECONDS: 60 is outside 900..=43200"
        );
    }

    #[test]
    fn timeout_bounds() {
        assert_eq!(
            config(&[("INVOKER_ENDPOINTS", "m"), ("INVOKER_TIMEOUT_MS", "fast")]).unwrap_err(),
            "INVOKER_TIMEOUT_MS: \"fast\" is not a whole number"
        );
        assert_eq!(
            config(&[("INVOKER_ENDPOINTS", "m"), ("INVOKER_TIMEOUT_MS", "0")]).unwrap_err(),
            "INVOKER_TIMEOUT_MS: 0 is outside 1..=300000"
        );
        let c = config(&[("INVOKER_ENDPOINTS", "m"), ("INVOKER_TIMEOUT_MS", "500")]).unwrap();
        assert_eq!(c.timeout(), Duration::from_millis(500));
    }
}
