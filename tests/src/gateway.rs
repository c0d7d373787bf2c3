//! API Gateway's part of the chain, as a REST API with a TOKEN authorizer does it:
//! route match, a `TOKEN` event with the real `methodArn`, the returned policy
//! evaluated against that ARN, then a REST proxy event whose
//! `requestContext.authorizer` holds the `principalId` and context, with the stage in
//! `requestContext.path` and the body base64-encoded (binary media types `*/*`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value, json};

use crate::{Error, Function, Outcome, Result};

/// What the authorizer decided for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Authorization {
    /// The policy allows `methodArn`: the function's whole answer (principal, policy, context).
    Allowed(Value),
    /// The policy denies `methodArn` (or does not cover it): API Gateway answers 403.
    Denied(Value),
    /// The function failed with `Unauthorized`: API Gateway answers 401.
    Unauthorized,
    /// Never reached the authorizer (no such route, or no `Authorization` header).
    NotCalled,
}

/// What the caller (APIM) gets back.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Map<String, Value>,
    pub body: Vec<u8>,
    pub authorization: Authorization,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON (`Null` when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// One deployed stage of the REST API.
pub struct Gateway<'a> {
    pub authorizer: &'a Function,
    pub invoker: &'a Function,
    pub region: &'a str,
    pub account: &'a str,
    pub api_id: &'a str,
    pub stage: &'a str,
}

impl Gateway<'_> {
    /// `POST {path}` with `headers` and `body`, through authorizer and invoker.
    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Result<Reply> {
        let Some((resource, name)) = route(path) else {
            return Ok(gateway_reply(
                403,
                json!({"message": "Missing Authentication Token"}),
                Authorization::NotCalled,
            ));
        };
        let Some(token) = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| *v)
        else {
            return Ok(gateway_reply(
                401,
                json!({"message": "Unauthorized"}),
                Authorization::NotCalled,
            ));
        };
        let method_arn = format!(
            "arn:aws:execute-api:{}:{}:{}/{}/POST{path}",
            self.region, self.account, self.api_id, self.stage
        );
        let event = json!({"type": "TOKEN", "authorizationToken": token, "methodArn": method_arn});
        let decision = match self.authorizer.invoke(&event).await? {
            Outcome::Error { message, .. } if message == "Unauthorized" => Authorization::Unauthorized,
            Outcome::Error { error_type, message } => {
                return Err(failure("authorizer", format!("failed: {error_type}: {message}")));
            }
            Outcome::Response(answer) => match evaluate(&answer, &method_arn) {
                Some(Effect::Allow) => Authorization::Allowed(answer),
                effect => {
                    let message = match effect {
                        Some(_) => "User is not authorized to access this resource with an explicit deny",
                        None => "User is not authorized to access this resource",
                    };
                    return Ok(gateway_reply(
                        403,
                        json!({"Message": message}),
                        Authorization::Denied(answer),
                    ));
                }
            },
        };
        let Authorization::Allowed(answer) = &decision else {
            return Ok(gateway_reply(401, json!({"message": "Unauthorized"}), decision));
        };

        let event = self.proxy_event(path, resource, name, headers, body, answer);
        let response = match self.invoker.invoke(&event).await? {
            Outcome::Response(response) => response,
            Outcome::Error { error_type, message } => {
                // A failed integration: API Gateway answers 502.
                return Err(failure("invoker", format!("failed: {error_type}: {message}")));
            }
        };
        let status = response["statusCode"]
            .as_u64()
            .and_then(|s| u16::try_from(s).ok())
            .ok_or_else(|| failure("invoker", format!("no statusCode in {response}")))?;
        let text = response["body"].as_str().unwrap_or_default();
        let body = if response["isBase64Encoded"] == true {
            BASE64
                .decode(text)
                .map_err(|e| failure("invoker", format!("bad base64 body: {e}")))?
        } else {
            text.as_bytes().to_vec()
        };
        // API Gateway merges both header maps; the multi-value one wins.
        let mut headers = response["headers"].as_object().cloned().unwrap_or_default();
        for (name, values) in response["multiValueHeaders"].as_object().into_iter().flatten() {
            let values: Vec<&str> = values
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            headers.insert(name.clone(), json!(values.join(",")));
        }
        Ok(Reply {
            status,
            headers,
            body,
            authorization: decision,
        })
    }

    /// The REST proxy event, from the `events/` fixture with this request's fields.
    fn proxy_event(
        &self,
        path: &str,
        resource: &str,
        name: &str,
        headers: &[(&str, &str)],
        body: &[u8],
        answer: &Value,
    ) -> Value {
        let fixture = include_str!("../../events/invoker-rest-proxy.json");
        let mut event: Value = serde_json::from_str(fixture).expect("events/invoker-rest-proxy.json is JSON");
        let mut authorizer = answer["context"].as_object().cloned().unwrap_or_default();
        authorizer.insert("principalId".to_owned(), answer["principalId"].clone());
        authorizer.insert("integrationLatency".to_owned(), json!(1));
        let single: Map<String, Value> = headers.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
        let multi: Map<String, Value> = headers.iter().map(|(k, v)| ((*k).to_owned(), json!([v]))).collect();
        let request_id = format!("{:08x}-0000-4000-8000-{:012x}", std::process::id(), unique());
        event["resource"] = json!(resource);
        event["path"] = json!(path);
        event["headers"] = Value::Object(single);
        event["multiValueHeaders"] = Value::Object(multi);
        event["pathParameters"] = json!({"name": name});
        event["body"] = json!(BASE64.encode(body));
        event["isBase64Encoded"] = json!(true);
        let context = &mut event["requestContext"];
        context["authorizer"] = Value::Object(authorizer);
        context["resourcePath"] = json!(resource);
        context["path"] = json!(format!("/{}{path}", self.stage));
        context["stage"] = json!(self.stage);
        context["apiId"] = json!(self.api_id);
        context["accountId"] = json!(self.account);
        context["requestId"] = json!(request_id);
        event
    }
}

/// The routes `template.yaml` declares (both `POST`): path → (resource, name).
fn route(path: &str) -> Option<(&'static str, &str)> {
    let (name, action) = path.strip_prefix("/endpoints/")?.split_once('/')?;
    let resource = match action {
        "invocations" => "/endpoints/{name}/invocations",
        "invocations-response-stream" => "/endpoints/{name}/invocations-response-stream",
        _ => return None,
    };
    (!name.is_empty()).then_some((resource, name))
}

#[derive(Debug, PartialEq)]
enum Effect {
    Allow,
    Deny,
}

/// The effect the policy gives `execute-api:Invoke` on `arn`: an explicit `Deny`
/// wins, then `Allow`; `None` when no statement covers it (API Gateway: 403).
fn evaluate(answer: &Value, arn: &str) -> Option<Effect> {
    let statements = answer["policyDocument"]["Statement"].as_array()?;
    let covers = |statement: &Value| {
        let listed = |field: &str, wanted: &str| match &statement[field] {
            Value::String(s) => glob(s, wanted),
            Value::Array(items) => items.iter().any(|i| i.as_str().is_some_and(|s| glob(s, wanted))),
            _ => false,
        };
        listed("Action", "execute-api:Invoke") && listed("Resource", arn)
    };
    let effect = |wanted: &str| statements.iter().any(|s| s["Effect"] == wanted && covers(s));
    if effect("Deny") {
        Some(Effect::Deny)
    } else if effect("Allow") {
        Some(Effect::Allow)
    } else {
        None
    }
}

/// IAM's wildcard match: `*` any run of characters (`/` included), `?` any one.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

fn gateway_reply(status: u16, body: Value, authorization: Authorization) -> Reply {
    let mut headers = Map::new();
    headers.insert("Content-Type".to_owned(), json!("application/json"));
    Reply {
        status,
        headers,
        body: body.to_string().into_bytes(),
        authorization,
    }
}

fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn failure(peer: &str, what: String) -> Error {
    Error::Answer {
        peer: peer.to_owned(),
        what,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iam_wildcards_match_as_api_gateway_does() {
        let arn = "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/POST/endpoints/m/invocations";
        assert!(glob(
            "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/*/*",
            arn
        ));
        assert!(glob("*", arn));
        assert!(!glob(
            "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/staging/*/*",
            arn
        ));
        assert!(!glob(
            "arn:aws:execute-api:eu-west-1:123456789012:a1b2c3d4e5/prod/GET/*",
            arn
        ));
        assert!(glob("a?c", "abc") && !glob("a?c", "ac"));
    }

    #[test]
    fn deny_wins_and_an_uncovered_arn_is_not_allowed() {
        let arn = "arn:aws:execute-api:r:1:api/prod/POST/x";
        let policy = |statements: Value| json!({"policyDocument": {"Version": "2012-10-17", "Statement": statements}});
        let allow = json!({"Effect": "Allow", "Action": "execute-api:Invoke", "Resource": ["arn:aws:execute-api:r:1:api/prod/*/*"]});
        let deny = json!({"Effect": "Deny", "Action": "execute-api:Invoke", "Resource": "*"});
        assert_eq!(evaluate(&policy(json!([allow])), arn), Some(Effect::Allow));
        assert_eq!(evaluate(&policy(json!([allow, deny])), arn), Some(Effect::Deny));
        assert_eq!(evaluate(&policy(json!([])), arn), None);
        assert_eq!(evaluate(&json!({}), arn), None);
    }

    #[test]
    fn only_the_templates_routes_exist() {
        assert_eq!(
            route("/endpoints/m/invocations"),
            Some(("/endpoints/{name}/invocations", "m"))
        );
        assert_eq!(
            route("/endpoints/m/invocations-response-stream"),
            Some(("/endpoints/{name}/invocations-response-stream", "m"))
        );
        assert_eq!(route("/endpoints//invocations"), None);
        assert_eq!(route("/endpoints/m/other"), None);
        assert_eq!(route("/models/m/invocations"), None);
    }
}
