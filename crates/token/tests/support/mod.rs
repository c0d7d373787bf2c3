//! Test fixtures shared by the token and authorizer tests: keys generated in the
//! test, Entra-shaped claims, and a real HTTP key server on 127.0.0.1.
#![allow(dead_code, unreachable_pub)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, RsaPublicKeyComponents};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const TENANT: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub const OTHER_TENANT: &str = "0b2f3c4d-1111-4222-8333-944455556666";
pub const AUDIENCE: &str = "api://sagemaker-bridge";
pub const CLIENT: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";

pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub fn v2_issuer(tid: &str) -> String {
    format!("https://login.microsoftonline.com/{tid}/v2.0")
}

pub fn v1_issuer(tid: &str) -> String {
    format!("https://sts.windows.net/{tid}/")
}

/// An RSA-2048 signing key made for the test.
pub struct RsaKey {
    pair: KeyPair,
    pub kid: String,
}

impl RsaKey {
    pub fn generate(kid: &str) -> Self {
        Self {
            pair: KeyPair::generate(KeySize::Rsa2048).unwrap(),
            kid: kid.to_owned(),
        }
    }

    /// The same key material under another kid (for "wrong key, right kid" cases).
    pub fn components(&self) -> (Vec<u8>, Vec<u8>) {
        let c = RsaPublicKeyComponents::<Vec<u8>>::from(self.pair.public_key());
        (c.n, c.e)
    }

    /// The public JWK, shaped as Entra publishes it (no `alg`).
    pub fn jwk(&self) -> Value {
        let (n, e) = self.components();
        json!({"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid, "n": b64(n), "e": b64(e)})
    }

    pub fn header(&self) -> Value {
        json!({"typ": "JWT", "alg": "RS256", "kid": self.kid, "x5t": self.kid})
    }

    /// Signs `header.claims` as given (any JSON, even hostile) with RS256.
    pub fn sign_segments(&self, header: &str, claims: &str) -> String {
        let signed = format!("{header}.{claims}");
        let mut sig = vec![0; self.pair.public_modulus_len()];
        self.pair
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                signed.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{signed}.{}", b64(sig))
    }

    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        self.sign_segments(&b64(header.to_string()), &b64(claims.to_string()))
    }

    /// A token with this key's standard header.
    pub fn token(&self, claims: &Value) -> String {
        self.sign(&self.header(), claims)
    }
}

/// An ES256 key made for the test.
pub struct EcKey {
    pair: EcdsaKeyPair,
    pub kid: String,
}

impl EcKey {
    pub fn generate(kid: &str) -> Self {
        Self {
            pair: EcdsaKeyPair::generate(&signature::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap(),
            kid: kid.to_owned(),
        }
    }

    pub fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({"kty": "EC", "use": "sig", "crv": "P-256", "kid": self.kid, "x": b64(&point[1..33]), "y": b64(&point[33..])})
    }

    pub fn token(&self, claims: &Value) -> String {
        let header = b64(json!({"typ": "JWT", "alg": "ES256", "kid": self.kid}).to_string());
        let signed = format!("{header}.{}", b64(claims.to_string()));
        let sig = self.pair.sign(&SystemRandom::new(), signed.as_bytes()).unwrap();
        format!("{signed}.{}", b64(sig.as_ref()))
    }
}

/// Keys shared by the tests of one binary (RSA generation is slow).
pub fn keys() -> &'static [RsaKey; 3] {
    static KEYS: OnceLock<[RsaKey; 3]> = OnceLock::new();
    KEYS.get_or_init(|| {
        [
            RsaKey::generate("key-a"),
            RsaKey::generate("key-b"),
            RsaKey::generate("key-c"),
        ]
    })
}

/// An app-only (client credentials) v2 access token's claims, as Entra issues them.
pub fn claims() -> Value {
    let now = now();
    json!({
        "aud": AUDIENCE,
        "iss": v2_issuer(TENANT),
        "iat": now - 10,
        "nbf": now - 10,
        "exp": now + 3600,
        "aio": "k2BgYDj3f1Y=",
        "azp": CLIENT,
        "azpacr": "1",
        "idtyp": "app",
        "oid": "5f1a7c0e-3b57-4e1c-9a0d-2c6b9e4f8a11",
        "rh": "0.AAAA",
        "roles": ["SageMaker.Invoke"],
        "sub": "5f1a7c0e-3b57-4e1c-9a0d-2c6b9e4f8a11",
        "tid": TENANT,
        "uti": "abc",
        "ver": "2.0"
    })
}

/// `claims()` with some fields replaced (a `null` removes the field).
pub fn claims_with(changes: Value) -> Value {
    let mut claims = claims();
    for (key, value) in changes.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(key);
        } else {
            claims[key] = value.clone();
        }
    }
    claims
}

pub fn jwks(keys: &[Value]) -> String {
    json!({ "keys": keys }).to_string()
}

/// What the key server answers on the keys path.
#[derive(Clone)]
pub enum Reply {
    Json(String),
    Status(u16),
    /// Accepts the request and never answers.
    Hang,
    Garbage,
    /// A valid-looking body of this many bytes.
    Oversized(usize),
}

struct ServerState {
    keys: Reply,
    discovery_issuer: Option<String>,
    hits: HashMap<String, u64>,
}

/// A real HTTP server on 127.0.0.1 serving `/keys` and, optionally, discovery.
pub struct KeyServer {
    pub addr: SocketAddr,
    state: Arc<Mutex<ServerState>>,
    requests: Arc<AtomicU64>,
}

impl KeyServer {
    pub async fn start(keys: Reply) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(ServerState {
            keys,
            discovery_issuer: None,
            hits: HashMap::new(),
        }));
        let requests = Arc::new(AtomicU64::new(0));
        let (s, r) = (state.clone(), requests.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (s, r) = (s.clone(), r.clone());
                tokio::spawn(serve(stream, addr, s, r));
            }
        });
        Self { addr, state, requests }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn keys_url(&self) -> String {
        format!("http://{}/keys", self.addr)
    }

    pub fn set(&self, reply: Reply) {
        self.state.lock().unwrap().keys = reply;
    }

    /// Serves `/.well-known/openid-configuration` naming `issuer` and our `/keys`.
    pub fn serve_discovery(&self, issuer: &str) {
        self.state.lock().unwrap().discovery_issuer = Some(issuer.to_owned());
    }

    /// Requests received on `path`.
    pub fn hits(&self, path: &str) -> u64 {
        self.state.lock().unwrap().hits.get(path).copied().unwrap_or(0)
    }

    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
}

async fn serve(
    mut stream: tokio::net::TcpStream,
    addr: SocketAddr,
    state: Arc<Mutex<ServerState>>,
    requests: Arc<AtomicU64>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let text = String::from_utf8_lossy(&buf);
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let reply = {
        let mut state = state.lock().unwrap();
        *state.hits.entry(path.clone()).or_default() += 1;
        match (path.as_str(), &state.discovery_issuer) {
            ("/keys", _) => state.keys.clone(),
            (p, Some(issuer)) if p.ends_with("/.well-known/openid-configuration") => Reply::Json(
                json!({"issuer": issuer, "jwks_uri": format!("http://{addr}/keys"), "token_endpoint": format!("http://{addr}/token")})
                    .to_string(),
            ),
            _ => Reply::Status(404),
        }
    };
    let (status, body) = match reply {
        Reply::Json(body) => (200, body.into_bytes()),
        Reply::Status(code) => (code, b"{\"error\":\"nope\"}".to_vec()),
        Reply::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            return;
        }
        Reply::Garbage => (200, b"\x00\xff<html>not json".to_vec()),
        Reply::Oversized(size) => {
            let mut body = b"{\"keys\":[".to_vec();
            body.resize(size, b' ');
            (200, body)
        }
    };
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(&body).await;
    let _ = stream.shutdown().await;
}

/// A configuration from `AUTH_*` pairs.
pub fn config(pairs: &[(&str, String)]) -> token::Config {
    token::Config::from_lookup(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.clone())).unwrap()
}

/// Short fetch bounds so failure tests run quickly.
pub fn settings() -> token::Settings {
    token::Settings {
        fetch: token::FetchLimits {
            connect_timeout: Duration::from_millis(300),
            read_timeout: Duration::from_millis(300),
            ..token::FetchLimits::default()
        },
        ..token::Settings::default()
    }
}

/// The standard single-tenant configuration, keys from `server`.
pub fn entra_pairs(server: &KeyServer) -> Vec<(&'static str, String)> {
    vec![
        ("AUTH_TENANT_ID", TENANT.to_owned()),
        ("AUTH_AUDIENCES", format!("{AUDIENCE},{CLIENT}-api")),
        ("AUTH_JWKS_URL", server.keys_url()),
        ("AUTH_JWKS_MIN_REFRESH_SECONDS", "0".to_owned()),
    ]
}

pub fn with(mut pairs: Vec<(&'static str, String)>, name: &'static str, value: &str) -> Vec<(&'static str, String)> {
    pairs.retain(|(k, _)| *k != name);
    pairs.push((name, value.to_owned()));
    pairs
}

/// What the benchmarks measure against: a key served locally and two warmed verifiers
/// requiring `SageMaker.Invoke`, one with the verified-token cache off (every call is
/// a first sighting: the full path) and one with it on. Keep the server alive.
pub struct BenchSetup {
    pub key: RsaKey,
    pub server: KeyServer,
    pub uncached: token::Verifier,
    pub cached: token::Verifier,
}

pub fn bench_setup(rt: &tokio::runtime::Runtime) -> BenchSetup {
    let key = RsaKey::generate("bench-key");
    let server = rt.block_on(KeyServer::start(Reply::Json(jwks(&[key.jwk()]))));
    let pairs = with(entra_pairs(&server), "AUTH_REQUIRED_ROLES", "SageMaker.Invoke");
    let build = |entries| {
        let settings = token::Settings {
            token_cache_entries: entries,
            ..settings()
        };
        let verifier = token::Verifier::with_settings(config(&pairs), settings).unwrap();
        rt.block_on(verifier.prewarm()).unwrap();
        verifier
    };
    let (uncached, cached) = (build(0), build(1024));
    BenchSetup {
        key,
        server,
        uncached,
        cached,
    }
}

pub async fn verifier(pairs: &[(&str, String)]) -> token::Verifier {
    let verifier = token::Verifier::with_settings(config(pairs), settings()).unwrap();
    let _ = verifier.prewarm().await;
    verifier
}
