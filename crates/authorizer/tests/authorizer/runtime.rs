use std::collections::VecDeque;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

use crate::handler::fixture;
use crate::support::*;

/// What the function posted back for one invocation.
#[derive(Debug)]
struct Outcome {
    request_id: String,
    kind: String,
    body: Value,
}

/// The Lambda Runtime API's four calls, served on 127.0.0.1, queueing the given events.
struct RuntimeApi {
    port: u16,
    outcomes: mpsc::UnboundedReceiver<Outcome>,
}

impl RuntimeApi {
    async fn start(events: Vec<String>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let queue = Arc::new(Mutex::new(events.into_iter().enumerate().collect::<VecDeque<_>>()));
        let (tx, outcomes) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(connection(stream, queue.clone(), tx.clone()));
            }
        });
        Self { port, outcomes }
    }

    async fn next_outcome(&mut self) -> Outcome {
        tokio::time::timeout(Duration::from_secs(30), self.outcomes.recv())
            .await
            .expect("the function answered within 30 s")
            .expect("runtime API alive")
    }
}

async fn connection(
    stream: TcpStream,
    queue: Arc<Mutex<VecDeque<(usize, String)>>>,
    tx: mpsc::UnboundedSender<Outcome>,
) {
    let mut reader = BufReader::new(stream);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).await.unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await.unwrap();
        let path = request_line.split_whitespace().nth(1).unwrap_or("").to_owned();
        if path.ends_with("/invocation/next") {
            let next = queue.lock().unwrap().pop_front();
            let Some((index, event)) = next else {
                // No more events: hold the function here, as Lambda does between requests.
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return;
            };
            let deadline = (now() + 30) * 1000;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nlambda-runtime-aws-request-id: req-{index}\r\nlambda-runtime-deadline-ms: {deadline}\r\nlambda-runtime-invoked-function-arn: arn:aws:lambda:eu-west-1:123456789012:function:authorizer\r\ncontent-length: {}\r\n\r\n",
                event.len()
            );
            let stream = reader.get_mut();
            stream.write_all(head.as_bytes()).await.unwrap();
            stream.write_all(event.as_bytes()).await.unwrap();
        } else {
            let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
            let (request_id, kind) = match parts.as_slice() {
                [_, "runtime", "invocation", id, kind] => ((*id).to_owned(), (*kind).to_owned()),
                [_, "runtime", "init", "error"] => (String::new(), "init-error".to_owned()),
                _ => (String::new(), format!("unexpected {path}")),
            };
            let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let _ = tx.send(Outcome { request_id, kind, body });
            let stream = reader.get_mut();
            stream
                .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 2\r\n\r\n{}")
                .await
                .unwrap();
        }
    }
}

/// The `authorizer` binary as a child process; killed on drop, even when a test fails.
struct Function(Child);

impl Function {
    fn start(runtime_port: Option<u16>, auth: &[(&str, String)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_authorizer"));
        command
            .env_clear()
            .env("AWS_LAMBDA_FUNCTION_NAME", "authorizer")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(port) = runtime_port {
            command.env("AWS_LAMBDA_RUNTIME_API", format!("127.0.0.1:{port}"));
        }
        for (k, v) in auth {
            command.env(k, v);
        }
        Self(command.spawn().unwrap())
    }

    /// Stops the process and returns its log lines.
    fn logs(mut self) -> Vec<String> {
        let _ = self.0.kill();
        let mut out = String::new();
        use std::io::Read;
        self.0.stdout.take().unwrap().read_to_string(&mut out).unwrap();
        self.0.stderr.take().unwrap().read_to_string(&mut out).unwrap();
        out.lines().map(str::to_owned).collect()
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn bad_configuration_fails_init_with_one_clear_line() {
    let cases = [
        (
            vec![],
            "AUTH_TENANT_ID: required (a tenant GUID, organizations or common) unless AUTH_ISSUERS is set",
        ),
        (
            vec![
                ("AUTH_TENANT_ID", "contoso".to_owned()),
                ("AUTH_AUDIENCES", "a".to_owned()),
            ],
            "AUTH_TENANT_ID: \"contoso\" is neither a tenant GUID nor organizations/common",
        ),
        (
            vec![("AUTH_TENANT_ID", TENANT.to_owned())],
            "AUTH_AUDIENCES: required: a comma list of accepted audiences (e.g. api://<app-id>,<app-id>)",
        ),
    ];
    for (env, message) in cases {
        let mut child = Function::start(None, &env);
        let status = child.0.wait().unwrap();
        assert_eq!(status.code(), Some(1), "{message}");
        let lines = child.logs();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let line: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(line["level"], "ERROR");
        assert_eq!(line["fields"]["message"], "invalid configuration");
        assert_eq!(line["fields"]["error"], message);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_answers_each_form_and_survives_garbage() {
    let [a, ..] = keys();
    let keys = KeyServer::start(Reply::Json(jwks(&[a.jwk()]))).await;
    let good = a.token(&claims());
    let placeholder = serde_json::from_str::<Value>(&fixture("authorizer-token.json")).unwrap()["authorizationToken"]
        .as_str()
        .unwrap()
        .trim_start_matches("Bearer ")
        .to_owned();
    let events = vec![
        fixture("authorizer-token.json").replace(&placeholder, &good),
        fixture("authorizer-token.json"),
        "\"just a string\"".to_owned(),
        "{not json".to_owned(),
        json!({"type": "TOKEN", "authorizationToken": format!("Bearer {good}"), "methodArn": "nope"}).to_string(),
        fixture("authorizer-http-api-v2.json").replace(&placeholder, &good),
    ];
    let mut runtime = RuntimeApi::start(events).await;
    let auth = with(entra_pairs(&keys), "AUTH_REQUIRED_ROLES", "SageMaker.Invoke");
    let auth = with(auth, "AUTH_JWKS_MIN_REFRESH_SECONDS", "30");
    let function = Function::start(Some(runtime.port), &auth);

    let allow = runtime.next_outcome().await;
    assert_eq!((allow.request_id.as_str(), allow.kind.as_str()), ("req-0", "response"));
    assert_eq!(allow.body["policyDocument"]["Statement"][0]["Effect"], "Allow");
    assert_eq!(allow.body["principalId"], claims()["oid"]);

    let refused = runtime.next_outcome().await;
    assert_eq!((refused.request_id.as_str(), refused.kind.as_str()), ("req-1", "error"));
    assert_eq!(refused.body["errorMessage"], "Unauthorized");

    for id in ["req-2", "req-3", "req-4"] {
        let bad = runtime.next_outcome().await;
        assert_eq!((bad.request_id.as_str(), bad.kind.as_str()), (id, "error"), "{bad:?}");
        assert_ne!(bad.body["errorMessage"], "Unauthorized");
    }

    let simple = runtime.next_outcome().await;
    assert_eq!(simple.request_id, "req-5");
    assert_eq!(simple.body["isAuthorized"], true);

    // Keys were fetched once, at init.
    assert_eq!(keys.hits("/keys"), 1);

    let logs = function.logs();
    let decisions: Vec<Value> = logs
        .iter()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["event"] == "authorization")
        .collect();
    assert_eq!(decisions.len(), 3, "{logs:#?}");
    assert_eq!(decisions[0]["fields"]["decision"], "allow");
    assert_eq!(decisions[0]["fields"]["principal"], claims()["oid"]);
    assert_eq!(decisions[0]["fields"]["client"], CLIENT);
    assert_eq!(decisions[0]["fields"]["tenant"], TENANT);
    assert_eq!(decisions[1]["fields"]["decision"], "unauthorized");
    let reason = decisions[1]["fields"]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("no signing key with kid example-kid (not refetched: last fetch 0s ago"),
        "{reason}"
    );
    assert_eq!(decisions[2]["fields"]["decision"], "allow");
    assert_eq!(decisions[2]["fields"]["form"], "HTTP_API_2.0");
    for line in &logs {
        assert!(!line.contains(&good), "a log line holds the token: {line}");
        assert!(
            !line.contains(good.rsplit('.').next().unwrap()),
            "a log line holds the signature"
        );
    }
}
