//! A real function binary run as Lambda runs it: a Lambda Runtime API served here on a
//! loopback port, the binary started with `AWS_LAMBDA_RUNTIME_API` pointing at it.
//!
//! The four calls the runtime makes are served exactly: `GET …/invocation/next` blocks
//! until an event is queued and carries `Lambda-Runtime-Aws-Request-Id` and
//! `Lambda-Runtime-Deadline-Ms`; `POST …/{id}/response` and `…/{id}/error` complete
//! that invocation; `POST …/init/error` records a failed init.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot, watch};

use crate::{Error, Peer, Result};

/// How long one invocation may take before the harness gives up on it.
const INVOCATION_TIMEOUT: Duration = Duration::from_secs(30);

/// What the function answered for one invocation.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// `POST …/response`: the handler's result.
    Response(Value),
    /// `POST …/error`: the handler failed (`errorType`, `errorMessage`).
    Error { error_type: String, message: String },
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Outcome>>>>;
type Queue = Arc<tokio::sync::Mutex<mpsc::UnboundedReceiver<(String, String)>>>;

/// One function: its process and the Runtime API it polls.
pub struct Function {
    peer: Peer,
    name: String,
    events: mpsc::UnboundedSender<(String, String)>,
    pending: Pending,
    invocations: AtomicU64,
    port: u16,
}

impl Function {
    /// Starts binary `name` from `bin_dir` with `env` (and nothing else from this
    /// process's environment) and waits until it polls for its first event.
    pub async fn start(bin_dir: &Path, name: &str, env: &[(&str, String)]) -> Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|source| spawn_error(name, source))?;
        let port = listener
            .local_addr()
            .map_err(|source| spawn_error(name, source))?
            .port();
        let (events, queue) = mpsc::unbounded_channel();
        let queue: Queue = Arc::new(tokio::sync::Mutex::new(queue));
        let pending = Pending::default();
        let (polled, mut first_poll) = watch::channel(false);
        let polled = Arc::new(polled);
        let arn = format!("arn:aws:lambda:eu-west-1:123456789012:function:{name}");
        {
            let (pending, arn) = (pending.clone(), Arc::new(arn));
            tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    tokio::spawn(serve(
                        stream,
                        queue.clone(),
                        pending.clone(),
                        polled.clone(),
                        arn.clone(),
                    ));
                }
            });
        }

        let binary = bin_dir.join(name);
        let mut command = Command::new(&binary);
        command
            .env_clear()
            .env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"))
            .env("AWS_LAMBDA_FUNCTION_NAME", name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .env("AWS_LAMBDA_LOG_LEVEL", "INFO")
            .envs(env.iter().map(|(k, v)| (k, v)));
        let hint = "build the functions first: cargo test --workspace --no-run (scripts/local-run does)";
        let mut peer = Peer::spawn(&format!("{name} ({})", binary.display()), command, hint)?;
        peer.ready(Duration::from_secs(30), || {
            let polled = *first_poll.borrow_and_update();
            async move { polled.then_some(()) }
        })
        .await?;
        Ok(Self {
            peer,
            name: name.to_owned(),
            events,
            pending,
            invocations: AtomicU64::new(0),
            port,
        })
    }

    /// Sends one event and waits for the function's answer.
    pub async fn invoke(&self, event: &Value) -> Result<Outcome> {
        self.invoke_raw(event.to_string()).await
    }

    /// Sends any payload, JSON or not, as Lambda would pass it on.
    pub async fn invoke_raw(&self, payload: String) -> Result<Outcome> {
        let n = self.invocations.fetch_add(1, Ordering::Relaxed);
        // UUID-shaped, as Lambda's are: the Runtime API's port, then a counter.
        let request_id = format!("{:08x}-0000-4000-8000-{n:012x}", self.port);
        let (tx, rx) = oneshot::channel();
        self.pending.lock().expect("pending").insert(request_id.clone(), tx);
        let _ = self.events.send((request_id, payload));
        match tokio::time::timeout(INVOCATION_TIMEOUT, rx).await {
            Ok(Ok(outcome)) => Ok(outcome),
            _ => Err(Error::Answer {
                peer: self.name.clone(),
                what: format!(
                    "no answer within {} s; its output:\n{}",
                    INVOCATION_TIMEOUT.as_secs(),
                    self.peer.tail()
                ),
            }),
        }
    }

    pub fn peer(&self) -> &Peer {
        &self.peer
    }

    /// Waits for a JSON log line for which `wanted` holds (lines are read on another
    /// thread, so one written just before an answer can arrive just after it).
    pub async fn log(&mut self, wanted: impl Fn(&Value) -> bool) -> Result<Value> {
        let line = self
            .peer
            .line(Duration::from_secs(5), |line| {
                serde_json::from_str::<Value>(line).is_ok_and(|v| wanted(&v))
            })
            .await?;
        serde_json::from_str(&line).map_err(|e| Error::Answer {
            peer: self.name.clone(),
            what: e.to_string(),
        })
    }
}

/// Runs a function binary once outside Lambda, with only `env` and JSON logs, and
/// returns how it exited and its output lines: what a failed init leaves behind.
pub fn init_outcome<K, V>(binary: &Path, env: impl IntoIterator<Item = (K, V)>) -> (Option<i32>, Vec<String>)
where
    K: AsRef<std::ffi::OsStr>,
    V: AsRef<std::ffi::OsStr>,
{
    let output = Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .envs(env)
        .output();
    match output {
        Ok(output) => {
            let text = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
            (output.status.code(), text.lines().map(str::to_owned).collect())
        }
        Err(error) => (None, vec![format!("{} could not run: {error}", binary.display())]),
    }
}

/// Where the functions' binaries are: `E2E_BIN_DIR`, else the profile directory this
/// program was built into (`target/debug` for `cargo test` and `cargo run`).
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("E2E_BIN_DIR") {
        return dir.into();
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.parent().map(Path::to_path_buf).unwrap_or(dir)
    } else {
        dir
    }
}

fn spawn_error(name: &str, source: std::io::Error) -> Error {
    Error::Spawn {
        peer: format!("{name}'s Runtime API"),
        hint: "loopback must be usable",
        source,
    }
}

/// One keep-alive connection from the function's runtime client.
async fn serve(stream: TcpStream, queue: Queue, pending: Pending, polled: Arc<watch::Sender<bool>>, arn: Arc<String>) {
    let mut reader = BufReader::new(stream);
    while let Some((path, body)) = read_request(&mut reader).await {
        let stream = reader.get_mut();
        if path.ends_with("/runtime/invocation/next") {
            polled.send_replace(true);
            // Lambda holds `/next` open until there is an event: so do we.
            let Some((request_id, event)) = queue.lock().await.recv().await else {
                return;
            };
            let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default() + INVOCATION_TIMEOUT;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: {request_id}\r\nlambda-runtime-deadline-ms: {}\r\nlambda-runtime-invoked-function-arn: {arn}\r\nlambda-runtime-trace-id: Root=1-00000000-000000000000000000000000\r\ncontent-length: {}\r\n\r\n",
                deadline.as_millis(),
                event.len()
            );
            if stream.write_all(head.as_bytes()).await.is_err() || stream.write_all(event.as_bytes()).await.is_err() {
                return;
            }
        } else {
            let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            if let [_, "runtime", "invocation", id, kind] = parts.as_slice() {
                let outcome = if *kind == "response" {
                    Outcome::Response(body)
                } else {
                    Outcome::Error {
                        error_type: body["errorType"].as_str().unwrap_or_default().to_owned(),
                        message: body["errorMessage"].as_str().unwrap_or_default().to_owned(),
                    }
                };
                if let Some(tx) = pending.lock().expect("pending").remove(*id) {
                    let _ = tx.send(outcome);
                }
            }
            // `/runtime/init/error` needs no bookkeeping: the process exits right after,
            // and `Peer::ready` reports that with its output.
            if stream
                .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-type: application/json\r\ncontent-length: 16\r\n\r\n{\"status\":\"OK\"}\n")
                .await
                .is_err()
            {
                return;
            }
        }
    }
}

/// Reads one request: its path and body. `None` when the connection ends.
async fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).await.ok()? == 0 {
        return None;
    }
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.ok()? == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).await.ok()?;
    Some((request_line.split_whitespace().nth(1)?.to_owned(), body))
}
