//! moto server: SageMaker Runtime and STS, with its request recorder on so a test can
//! see which credentials signed each call.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;

use crate::{Error, Peer, Result, http};

pub struct Moto {
    /// Held for its drop, which stops the process.
    _peer: Peer,
    port: u16,
    recording: PathBuf,
}

impl Moto {
    /// Starts `python3 -m moto.server` on a free port and waits until it answers.
    pub async fn start() -> Result<Self> {
        let port = free_port()?;
        let recording = std::env::temp_dir().join(format!("e2e-moto-{}-{port}.jsonl", std::process::id()));
        let mut command = Command::new("python3");
        command
            .args(["-m", "moto.server", "-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_ENABLE_RECORDING", "true")
            .env("MOTO_RECORDER_FILEPATH", &recording);
        let mut peer = Peer::spawn("moto", command, "pip install -r tests/requirements.txt")?;
        peer.ready(Duration::from_secs(60), || async move {
            http::get(port, "/moto-api/").await.filter(|r| r.status == 200)
        })
        .await?;
        Ok(Self {
            _peer: peer,
            port,
            recording,
        })
    }

    /// What `AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME` / `AWS_ENDPOINT_URL_STS` point at.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Queues InvokeEndpoint results for calls made in `region` (moto's
    /// `endpoint-results` API; moto keeps one queue per account and region).
    pub async fn queue_results(&self, region: &str, results: &[Value]) -> Result<()> {
        let body = serde_json::json!({ "region": region, "results": results }).to_string();
        let response = self
            .call("POST", "/moto-api/static/sagemaker/endpoint-results", &body)
            .await?;
        if response.status != 201 {
            return Err(self.answer(format!("endpoint-results: {} {}", response.status, response.body)));
        }
        Ok(())
    }

    /// Every AWS request moto received, oldest first: `method`, `url`, `headers`, `body`.
    pub async fn requests(&self) -> Result<Vec<Value>> {
        let response = self.call("GET", "/moto-api/recorder/download-recording", "").await?;
        Ok(response
            .body
            .lines()
            .filter_map(|line| serde_json::from_str::<Value>(line).ok())
            .filter(|r| !r["url"].as_str().unwrap_or("").contains("/moto-api/"))
            .map(|mut r| {
                if r["body_encoded"] == true {
                    let decoded = r["body"]
                        .as_str()
                        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                        .unwrap_or_default();
                    r["body"] = String::from_utf8_lossy(&decoded).into_owned().into();
                }
                r
            })
            .collect())
    }

    /// The sessions STS issued: `access_key_id`, `session_token`, `session_name`, `arn`, ….
    pub async fn assumed_roles(&self) -> Result<Vec<Value>> {
        let response = self.call("GET", "/moto-api/data.json", "").await?;
        let data: Value =
            serde_json::from_str(&response.body).map_err(|e| self.answer(format!("data.json is not JSON: {e}")))?;
        Ok(data["sts"]["AssumedRole"].as_array().cloned().unwrap_or_default())
    }

    async fn call(&self, method: &str, path: &str, body: &str) -> Result<http::Response> {
        http::request(self.port, method, path, "application/json", body)
            .await
            .ok_or_else(|| self.answer(format!("no answer to {method} {path}")))
    }

    fn answer(&self, what: String) -> Error {
        Error::Answer {
            peer: "moto".to_owned(),
            what,
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.recording);
    }
}

/// A port nothing listens on now (the OS picks it; the peer binds it right after).
pub(crate) fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|source| Error::Spawn {
            peer: "a free port".to_owned(),
            hint: "loopback must be usable",
            source,
        })
}
