//! The Entra-shaped OpenID provider (`tests/oidc/provider.mjs`, npm `oidc-provider`).

use std::process::Command;
use std::time::Duration;

use serde_json::{Value, json};

use crate::{Error, Peer, Result, http};

/// An application registered with the provider.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    pub id: &'static str,
    pub secret: &'static str,
    /// The service principal's object id: `oid`, `sub` and the authorizer's principal.
    pub oid: &'static str,
    pub roles: &'static [&'static str],
    /// Its tokens were already expired when issued (signed by the provider all the same).
    pub expired: bool,
}

/// Which Entra issuer mints the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenVersion {
    /// `https://sts.windows.net/{tid}/`, `appid`, `ver` 1.0.
    V1,
    /// `https://login.microsoftonline.com/{tid}/v2.0`, `azp`, `ver` 2.0.
    V2,
}

/// The provider process: one issuer per token version, one shared signing key.
pub struct Oidc {
    /// Held for its drop, which stops the process.
    _peer: Peer,
    v1: u16,
    v2: u16,
}

impl Oidc {
    /// Starts `node tests/oidc/provider.mjs` and waits until both issuers serve discovery.
    pub async fn start(tenant: &str, resources: &[&str], clients: &[Client]) -> Result<Self> {
        let clients: Vec<Value> = clients
            .iter()
            .map(|c| json!({"client_id": c.id, "client_secret": c.secret, "oid": c.oid, "roles": c.roles, "expired": c.expired}))
            .collect();
        let mut command = Command::new("node");
        command
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/oidc/provider.mjs"))
            .env("E2E_TENANT_ID", tenant)
            .env("E2E_RESOURCES", resources.join(","))
            .env("E2E_CLIENTS", Value::from(clients).to_string());
        let mut peer = Peer::spawn(
            "oidc-provider",
            command,
            "install Node.js 20+, then: npm ci --prefix tests",
        )?;
        let ports = peer
            .line(Duration::from_secs(30), |line| line.starts_with("{\"v2\":"))
            .await?;
        let ports: Value = serde_json::from_str(&ports).map_err(|e| answer(format!("bad ports line {ports}: {e}")))?;
        let port = |key: &str| ports[key].as_u64().and_then(|p| u16::try_from(p).ok());
        let (Some(v2), Some(v1)) = (port("v2"), port("v1")) else {
            return Err(answer(format!("bad ports line {ports}")));
        };
        for port in [v2, v1] {
            peer.ready(Duration::from_secs(30), || async move {
                http::get(port, "/.well-known/openid-configuration")
                    .await
                    .filter(|r| r.status == 200)
            })
            .await?;
        }
        Ok(Self { _peer: peer, v1, v2 })
    }

    /// The key set both issuers sign with (what `AUTH_JWKS_URL` points at).
    pub fn jwks_url(&self) -> String {
        format!("http://127.0.0.1:{}/jwks", self.v2)
    }

    /// A `client_credentials` token for `resource`, or the provider's refusal.
    pub async fn token(&self, client: &Client, version: TokenVersion, resource: &str) -> Result<String> {
        let port = match version {
            TokenVersion::V1 => self.v1,
            TokenVersion::V2 => self.v2,
        };
        let form = format!(
            "grant_type=client_credentials&client_id={}&client_secret={}&resource={}",
            client.id,
            client.secret,
            resource.replace(':', "%3A").replace('/', "%2F")
        );
        let response = http::request(port, "POST", "/token", "application/x-www-form-urlencoded", &form)
            .await
            .ok_or_else(|| answer("no answer from /token".to_owned()))?;
        let body: Value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
        match body["access_token"].as_str() {
            Some(token) if response.status == 200 => Ok(token.to_owned()),
            _ => Err(answer(format!("token refused: {} {}", response.status, response.body))),
        }
    }
}

fn answer(what: String) -> Error {
    Error::Answer {
        peer: "oidc-provider".to_owned(),
        what,
    }
}
