#![allow(dead_code, unreachable_pub)]

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, retry::RetryConfig};
use aws_sdk_sagemakerruntime::config::Credentials;
use aws_smithy_types::event_stream::{Header, HeaderValue, Message};
use invoker::{Config, Invoker};
use lambda_http::Request;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

pub const STATIC_KEY: &str = "AKIDSTATICEXAMPLE";

/// A request the model server received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// How the model server answers one request.
#[derive(Debug, Clone)]
pub enum ModelReply {
    Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Reads the request and never answers.
    Hang,
}

impl ModelReply {
    pub fn ok(content_type: &str, body: &[u8], headers: &[(&str, &str)]) -> Self {
        let mut all = vec![("Content-Type".to_owned(), content_type.to_owned())];
        all.extend(headers.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        Self::Answer {
            status: 200,
            headers: all,
            body: body.to_vec(),
        }
    }

    /// SageMaker's REST-JSON error form.
    pub fn error(status: u16, error_type: &str, body: Value) -> Self {
        Self::Answer {
            status,
            headers: vec![
                ("x-amzn-ErrorType".to_owned(), error_type.to_owned()),
                ("Content-Type".to_owned(), "application/x-amz-json-1.1".to_owned()),
            ],
            body: body.to_string().into_bytes(),
        }
    }

    /// An event-stream response made of `messages`.
    pub fn stream(content_type: &str, messages: &[Message]) -> Self {
        let mut body = Vec::new();
        for message in messages {
            aws_smithy_eventstream::frame::write_message_to(message, &mut body).unwrap();
        }
        Self::Answer {
            status: 200,
            headers: vec![
                (
                    "Content-Type".to_owned(),
                    "application/vnd.amazon.eventstream".to_owned(),
                ),
                ("X-Amzn-SageMaker-Content-Type".to_owned(), content_type.to_owned()),
                ("X-Amzn-Invoked-Production-Variant".to_owned(), "AllTraffic".to_owned()),
            ],
            body,
        }
    }
}

fn text_header(name: &'static str, value: &str) -> Header {
    Header::new(name, HeaderValue::String(value.to_owned().into()))
}

pub fn payload_part(bytes: &[u8]) -> Message {
    Message::new(bytes.to_vec())
        .add_header(text_header(":message-type", "event"))
        .add_header(text_header(":event-type", "PayloadPart"))
        .add_header(text_header(":content-type", "application/octet-stream"))
}

pub fn stream_exception(kind: &str, body: Value) -> Message {
    Message::new(body.to_string().into_bytes())
        .add_header(text_header(":message-type", "exception"))
        .add_header(Header::new(
            ":exception-type",
            HeaderValue::String(kind.to_owned().into()),
        ))
        .add_header(text_header(":content-type", "application/json"))
}

/// A SageMaker Runtime-shaped HTTP server on 127.0.0.1.
pub struct ModelServer {
    pub url: String,
    replies: Arc<Mutex<VecDeque<ModelReply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl ModelServer {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let replies = Arc::new(Mutex::new(VecDeque::new()));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (r, s) = (replies.clone(), seen.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_model(stream, r.clone(), s.clone()));
            }
        });
        Self { url, replies, seen }
    }

    pub fn reply(&self, reply: ModelReply) {
        self.replies.lock().unwrap().push_back(reply);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

async fn serve_model(
    stream: tokio::net::TcpStream,
    replies: Arc<Mutex<VecDeque<ModelReply>>>,
    seen: Arc<Mutex<Vec<Seen>>>,
) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let mut headers = HashMap::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header).await.unwrap_or(0) == 0 {
                return;
            }
            if header == "\r\n" {
                break;
            }
            if let Some((k, v)) = header.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_owned());
            }
        }
        let length = headers.get("content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).await.is_err() {
            return;
        }
        seen.lock().unwrap().push(Seen {
            method,
            path,
            headers,
            body,
        });
        let reply = replies
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or_else(|| ModelReply::ok("text/plain", b"no reply queued", &[]));
        match reply {
            ModelReply::Hang => {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            }
            ModelReply::Answer { status, headers, body } => {
                let mut head = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
                for (k, v) in headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                // One write: a head and a body in two segments meet Nagle and delayed ACKs.
                let mut bytes = head.into_bytes();
                bytes.extend_from_slice(&body);
                if reader.get_mut().write_all(&bytes).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// An SDK configuration against `endpoint` with static keys and no retries, so
/// each error row is one request.
pub async fn sdk(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("eu-west-1"))
        .credentials_provider(Credentials::new(STATIC_KEY, "static-secret", None, None, "test"))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::standard().with_max_attempts(1))
        .load()
        .await
}

pub fn config(pairs: &[(&str, &str)]) -> Config {
    Config::from_lookup(|name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned())).unwrap()
}

/// An invoker whose SageMaker and STS clients talk to the given endpoints.
pub async fn invoker(pairs: &[(&str, &str)], sagemaker: &str, sts: Option<&str>) -> Invoker {
    let sagemaker = aws_sdk_sagemakerruntime::Client::new(&sdk(sagemaker).await);
    let sts = aws_sdk_sts::Client::new(&sdk(sts.unwrap_or("http://127.0.0.1:9")).await);
    Invoker::with_clients(config(pairs), sagemaker, sts)
}

pub fn fixture(name: &str) -> Value {
    let path = format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

/// A request from an event fixture after `edit`.
pub fn request(name: &str, edit: impl FnOnce(&mut Value)) -> Request {
    let mut event = fixture(name);
    edit(&mut event);
    lambda_http::request::from_str(&event.to_string()).unwrap()
}

pub fn rest(edit: impl FnOnce(&mut Value)) -> Request {
    request("invoker-rest-proxy.json", edit)
}

/// Log lines written while the guard lives (JSON, as in Lambda).
#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn capture() -> (Self, tracing::subscriber::DefaultGuard) {
        let logs = Self::default();
        let subscriber = tracing_subscriber::fmt()
            .json()
            .with_target(false)
            .without_time()
            .with_max_level(tracing::Level::INFO)
            .with_writer(logs.clone())
            .finish();
        let guard = tracing::subscriber::set_default(subscriber);
        (logs, guard)
    }

    pub fn lines(&self) -> Vec<Value> {
        String::from_utf8_lossy(&self.0.lock().unwrap())
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    pub fn audits(&self) -> Vec<Value> {
        self.lines()
            .into_iter()
            .filter(|l| l["fields"]["event"] == "invocation")
            .map(|l| l["fields"].clone())
            .collect()
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
