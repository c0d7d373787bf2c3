//! URLs we are willing to fetch keys from: `https`, or `http` on a loopback host.

use std::fmt;

use http::Uri;

/// A parsed key or discovery URL that passed the scheme rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KeyUrl(Uri);

impl KeyUrl {
    pub(crate) fn parse(raw: &str) -> Result<Self, String> {
        let uri: Uri = raw.parse().map_err(|e| format!("{raw:?} is not a URL: {e}"))?;
        let Some(host) = uri.host() else {
            return Err(format!("{raw:?} has no host"));
        };
        match uri.scheme_str() {
            Some("https") => Ok(Self(uri)),
            Some("http") if is_loopback(host) => Ok(Self(uri)),
            Some("http") => Err(format!(
                "{raw:?} must use https (plain http is allowed only for 127.0.0.1, ::1 and localhost)"
            )),
            _ => Err(format!("{raw:?} must be an https URL")),
        }
    }

    pub(crate) fn uri(&self) -> &Uri {
        &self.0
    }

    /// `{self}/.well-known/openid-configuration`, for an issuer URL.
    pub(crate) fn discovery(&self) -> Result<Self, String> {
        let base = self.0.to_string();
        Self::parse(&format!(
            "{}/.well-known/openid-configuration",
            base.trim_end_matches('/')
        ))
    }
}

impl fmt::Display for KeyUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

fn is_loopback(host: &str) -> bool {
    matches!(host, "127.0.0.1" | "[::1]" | "::1" | "localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_accepted() {
        assert!(KeyUrl::parse("https://login.microsoftonline.com/x/discovery/v2.0/keys").is_ok());
    }

    #[test]
    fn http_only_on_loopback() {
        assert!(KeyUrl::parse("http://127.0.0.1:8080/keys").is_ok());
        assert!(KeyUrl::parse("http://localhost/keys").is_ok());
        assert!(KeyUrl::parse("http://[::1]:9/keys").is_ok());
        let err = KeyUrl::parse("http://example.com/keys").unwrap_err();
        assert!(err.contains("must use https"), "{err}");
        let err = KeyUrl::parse("http://127.0.0.2/keys").unwrap_err();
        assert!(err.contains("must use https"), "{err}");
    }

    #[test]
    fn other_schemes_and_garbage_are_refused() {
        assert!(KeyUrl::parse("ftp://example.com/keys").unwrap_err().contains("https"));
        assert!(KeyUrl::parse("not a url").is_err());
        assert!(KeyUrl::parse("/relative").is_err());
    }

    #[test]
    fn discovery_url_is_appended_once() {
        let url = KeyUrl::parse("https://idp.example.com/realms/x/").unwrap();
        assert_eq!(
            url.discovery().unwrap().to_string(),
            "https://idp.example.com/realms/x/.well-known/openid-configuration"
        );
    }
}
