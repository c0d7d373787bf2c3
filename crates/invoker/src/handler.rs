//! The invoker's request handling: identity, route, access, the SageMaker call,
//! the response and one audit line.

use std::time::Instant;

use aws_config::SdkConfig;
use aws_config::timeout::TimeoutConfig;
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};

use crate::Error;
use crate::caller::Caller;
use crate::config::Config;
use crate::federation::Federation;
use crate::route::Route;
use crate::sagemaker::{ModelHeaders, ModelResponse, SageMaker};

/// SageMaker's request payload limit.
pub const MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

/// Everything a request needs, built once at init.
pub struct Invoker {
    config: Config,
    sagemaker: SageMaker,
    federation: Option<Federation>,
}

impl Invoker {
    /// One SageMaker Runtime client (and, in federation mode, one STS client) from
    /// `sdk`: the standard configuration chain, retries included.
    pub fn new(config: Config, sdk: &SdkConfig) -> Self {
        let sts = aws_sdk_sts::Client::new(sdk);
        Self::with_clients(config, aws_sdk_sagemakerruntime::Client::new(sdk), sts)
    }

    /// From ready clients; the SageMaker client gets operation and attempt timeouts
    /// of `INVOKER_TIMEOUT_MS`. `sts` is used only in federation mode.
    pub fn with_clients(config: Config, sagemaker: aws_sdk_sagemakerruntime::Client, sts: aws_sdk_sts::Client) -> Self {
        let timeouts = TimeoutConfig::builder()
            .operation_timeout(config.timeout())
            .operation_attempt_timeout(config.timeout())
            .build();
        let sagemaker_config = sagemaker.config().to_builder().timeout_config(timeouts).build();
        let sagemaker = SageMaker::new(
            aws_sdk_sagemakerruntime::Client::from_conf(sagemaker_config),
            config.timeout(),
        );
        let federation = config
            .role_arn()
            .map(|arn| Federation::new(sts, arn.to_owned(), config.session_seconds()));
        Self {
            config,
            sagemaker,
            federation,
        }
    }
}

/// Serves one request. Every outcome is a response: errors are JSON bodies.
pub async fn handle(invoker: &Invoker, request: Request) -> Response<Body> {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let context = parts.request_context_ref();
    let request_id = api_request_id(context)
        .or_else(|| parts.lambda_context_ref().map(|c| c.request_id.clone()))
        .unwrap_or_default();
    let correlation_id = parts
        .headers
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty())
        .map_or_else(|| request_id.clone(), str::to_owned);
    let caller = Caller::from_context(context);
    let body = match body {
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        _ => Vec::new(),
    };
    let bytes_in = body.len();

    let route = Route::parse(parts.method.as_str(), parts.uri.path());
    let endpoint = route.as_ref().map(|r| r.endpoint().to_owned()).unwrap_or_default();
    let stream = matches!(route, Ok(Route::Stream { .. }));
    let outcome = match (&caller, route) {
        (None, _) => Err(Error::Unauthenticated),
        (Some(_), Err(e)) => Err(e),
        (Some(caller), Ok(route)) => serve(invoker, caller, &route, &parts.headers, body).await,
    };

    let (mut response, variant, bytes_out, error) = match outcome {
        Ok(model) => {
            let variant = model.variant.clone();
            let bytes_out = model.body.len();
            (model_response(model, stream), variant, bytes_out, None)
        }
        Err(error) => (error_response(&error, &request_id), None, 0, Some(error)),
    };
    if let Ok(value) = HeaderValue::from_str(&correlation_id) {
        response.headers_mut().insert("x-correlation-id", value);
    }
    let status = response.status().as_u16();
    let caller = caller.unwrap_or_default();
    if let Some(error) = &error {
        // The full detail for operators; the caller saw only the public message.
        tracing::warn!(request_id, error = %error, "request failed");
    }
    tracing::info!(
        event = "invocation",
        principal = caller.principal,
        tid = caller.tid.as_deref().unwrap_or(""),
        client_id = caller.client_id.as_deref().unwrap_or(""),
        endpoint,
        variant = variant.as_deref().unwrap_or(""),
        status,
        error_code = error.as_ref().map_or("", Error::code),
        latency_ms = started.elapsed().as_millis() as u64,
        bytes_in,
        bytes_out,
        request_id,
        correlation_id,
        "invocation"
    );
    response
}

async fn serve(
    invoker: &Invoker,
    caller: &Caller,
    route: &Route,
    headers: &lambda_http::http::HeaderMap,
    body: Vec<u8>,
) -> Result<ModelResponse, Error> {
    let endpoint = route.endpoint();
    let rule = invoker
        .config
        .endpoint(endpoint)
        .ok_or_else(|| Error::UnknownEndpoint(endpoint.to_owned()))?;
    let roles = caller.roles.iter().map(String::as_str);
    let scopes = caller.scopes.iter().map(String::as_str);
    if !rule.admits(roles, scopes) {
        return Err(Error::AccessDenied(endpoint.to_owned()));
    }
    if body.len() > MAX_BODY_BYTES {
        return Err(Error::PayloadTooLarge(body.len()));
    }
    let credentials = match &invoker.federation {
        None => None,
        Some(federation) => {
            let token = bearer(headers).ok_or_else(|| {
                Error::FederationDenied("no bearer token in the forwarded Authorization header".into())
            })?;
            Some(federation.credentials(token, caller).await?)
        }
    };
    match route {
        Route::Invoke { .. } => {
            let headers = ModelHeaders::from_request(headers, false);
            invoker.sagemaker.invoke(&rule.name, body, headers, credentials).await
        }
        Route::Stream { .. } => {
            let headers = ModelHeaders::from_request(headers, true);
            invoker
                .sagemaker
                .invoke_stream(&rule.name, body, headers, credentials)
                .await
        }
    }
}

fn bearer(headers: &lambda_http::http::HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

fn api_request_id(context: Option<&RequestContext>) -> Option<String> {
    match context? {
        RequestContext::ApiGatewayV1(ctx) => ctx.request_id.clone(),
        RequestContext::ApiGatewayV2(ctx) => ctx.request_id.clone(),
        _ => None,
    }
}

fn model_response(model: ModelResponse, stream: bool) -> Response<Body> {
    let mut response = Response::new(Body::Binary(model.body));
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: Option<String>| {
        if let Some(value) = value.and_then(|v| HeaderValue::from_str(&v).ok()) {
            headers.insert(name, value);
        }
    };
    if stream {
        set("x-amzn-sagemaker-content-type", model.content_type.clone());
    }
    set("content-type", model.content_type);
    set("x-amzn-invoked-production-variant", model.variant);
    set("x-amzn-sagemaker-custom-attributes", model.custom_attributes);
    set("x-amzn-sagemaker-new-session-id", model.new_session_id);
    set("x-amzn-sagemaker-closed-session-id", model.closed_session_id);
    response
}

/// `{"error": {"code", "message"}, "requestId"}` with the row's status and headers.
pub fn error_response(error: &Error, request_id: &str) -> Response<Body> {
    let body = serde_json::json!({
        "error": {"code": error.code(), "message": error.public_message()},
        "requestId": request_id,
    });
    let mut response = Response::new(Body::Text(body.to_string()));
    *response.status_mut() = error.status();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Some(seconds) = error.retry_after() {
        headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    if let Error::Model {
        original_status: Some(status),
        ..
    } = error
    {
        headers.insert("x-amzn-sagemaker-original-status-code", HeaderValue::from(*status));
    }
    debug_assert_ne!(error.status(), StatusCode::OK);
    response
}
