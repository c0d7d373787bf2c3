//! One small HTTPS client for key and discovery documents, with hard bounds.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

use crate::error::{Error, FetchProblem};
use crate::url::KeyUrl;

/// Bounds on one fetch. The defaults suit Lambda: a slow key endpoint costs a request
/// at most about three seconds, never a hang.
#[derive(Debug, Clone, Copy)]
pub struct FetchLimits {
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Time allowed, after connecting, for the whole response.
    pub read_timeout: Duration,
    /// Largest document accepted, in bytes.
    pub max_bytes: usize,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_millis(1500),
            read_timeout: Duration::from_millis(1500),
            max_bytes: 256 * 1024,
        }
    }
}

/// A reusable client: one connection pool for the process.
#[derive(Clone)]
pub(crate) struct Fetcher {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    limits: FetchLimits,
}

impl Fetcher {
    pub(crate) fn new(limits: FetchLimits) -> Result<Self, Error> {
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_connect_timeout(Some(limits.connect_timeout));
        http.set_nodelay(true);
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| Error::Client(format!("TLS roots: {e} (set SSL_CERT_FILE to a CA bundle)")))?
            // Plain http is reachable only for loopback URLs: `KeyUrl` refuses the rest.
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(https);
        Ok(Self { client, limits })
    }

    /// GETs `url`, bounded in time and size; only a 200 counts.
    pub(crate) async fn get(&self, url: &KeyUrl) -> Result<Bytes, Error> {
        let budget = self.limits.connect_timeout + self.limits.read_timeout;
        match tokio::time::timeout(budget, self.get_unbounded(url)).await {
            Ok(result) => result.map_err(|problem| Error::fetch(&url.to_string(), problem)),
            Err(_) => Err(Error::fetch(&url.to_string(), FetchProblem::Timeout(budget))),
        }
    }

    async fn get_unbounded(&self, url: &KeyUrl) -> Result<Bytes, FetchProblem> {
        let request = http::Request::get(url.uri().clone())
            .header(http::header::ACCEPT, "application/json")
            .header(
                http::header::USER_AGENT,
                concat!("apim-sagemaker-bridge/", env!("CARGO_PKG_VERSION")),
            )
            .body(Empty::new())
            .map_err(|e| FetchProblem::Url(e.to_string()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| FetchProblem::Connect(error_chain(&e)))?;
        if response.status() != http::StatusCode::OK {
            return Err(FetchProblem::Status(response.status().as_u16()));
        }
        let limit = self.limits.max_bytes;
        if let Some(length) = response
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            && length > limit as u64
        {
            return Err(FetchProblem::TooLarge(limit));
        }
        let body = Limited::new(response.into_body(), limit).collect().await.map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                FetchProblem::TooLarge(limit)
            } else {
                FetchProblem::Connect(e.to_string())
            }
        })?;
        Ok(body.to_bytes())
    }

    /// Resolves an issuer's `jwks_uri` through OIDC discovery.
    pub(crate) async fn discover(&self, issuer: &str, url: &KeyUrl) -> Result<KeyUrl, Error> {
        #[derive(Deserialize)]
        struct Discovery {
            issuer: String,
            jwks_uri: String,
        }
        let body = self.get(url).await?;
        let invalid = |problem: String| Error::fetch(&url.to_string(), FetchProblem::Invalid(problem));
        let document: Discovery = serde_json::from_slice(&body).map_err(|e| invalid(e.to_string()))?;
        if document.issuer != issuer {
            return Err(invalid(format!(
                "discovery issuer {:?} differs from the configured {issuer:?}",
                document.issuer
            )));
        }
        KeyUrl::parse(&document.jwks_uri).map_err(|e| invalid(format!("jwks_uri: {e}")))
    }
}

/// The error and its causes on one line: hyper's top-level message alone says little.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
