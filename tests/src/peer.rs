//! A child process with its output captured line by line, killed on drop.

use std::future::Future;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{Error, Result};

/// How often readiness is probed: short, so waiting costs little beyond readiness itself.
const PROBE_INTERVAL: Duration = Duration::from_millis(25);

/// A running peer. Dropping it kills the process, even while a test unwinds.
pub struct Peer {
    name: String,
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Peer {
    /// Starts `command` with stdout and stderr captured; `hint` says how to install it.
    pub fn spawn(name: &str, mut command: Command, hint: &'static str) -> Result<Self> {
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|source| Error::Spawn {
            peer: name.to_owned(),
            hint,
            source,
        })?;
        let lines = Arc::new(Mutex::new(Vec::new()));
        if let Some(out) = child.stdout.take() {
            capture(out, lines.clone());
        }
        if let Some(err) = child.stderr.take() {
            capture(err, lines.clone());
        }
        Ok(Self {
            name: name.to_owned(),
            child,
            lines,
        })
    }

    /// Every line the process has written so far (stdout and stderr).
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("log buffer").clone()
    }

    /// The lines that are JSON objects: the functions' structured log.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        self.lines()
            .iter()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(serde_json::Value::is_object)
            .collect()
    }

    /// The last lines of output, for error messages.
    pub fn tail(&self) -> String {
        let lines = self.lines();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Waits until `probe` yields a value, failing early if the process exits and
    /// after `timeout` if it never does.
    pub async fn ready<T, F, Fut>(&mut self, timeout: Duration, mut probe: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = probe().await {
                return Ok(value);
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the capture threads drain what the process wrote before it died.
                tokio::time::sleep(PROBE_INTERVAL).await;
                return Err(Error::Exited {
                    peer: self.name.clone(),
                    status: status.to_string(),
                    output: self.tail(),
                });
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    peer: self.name.clone(),
                    seconds: timeout.as_secs(),
                    output: self.tail(),
                });
            }
            tokio::time::sleep(PROBE_INTERVAL).await;
        }
    }

    /// Waits for a log line matching `wanted` (output is read on other threads, so a
    /// line written just before an answer may arrive just after it).
    pub async fn line(&mut self, timeout: Duration, wanted: impl Fn(&str) -> bool) -> Result<String> {
        let lines = self.lines.clone();
        self.ready(timeout, || {
            let found = lines.lock().expect("log buffer").iter().find(|l| wanted(l)).cloned();
            async move { found }
        })
        .await
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn capture(stream: impl Read + Send + 'static, lines: Arc<Mutex<Vec<String>>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(std::result::Result::ok) {
            lines.lock().expect("log buffer").push(line);
        }
    });
}
