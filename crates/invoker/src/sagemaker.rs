//! The SageMaker Runtime calls: headers in, the model's answer (or a mapped error) out.

use std::time::Duration;

use aws_sdk_sagemakerruntime::Client;
use aws_sdk_sagemakerruntime::config::Credentials;
use aws_sdk_sagemakerruntime::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use aws_sdk_sagemakerruntime::operation::invoke_endpoint_with_response_stream::InvokeEndpointWithResponseStreamError;
use aws_sdk_sagemakerruntime::primitives::Blob;
use aws_sdk_sagemakerruntime::types::ResponseStream;
use aws_sdk_sagemakerruntime::types::error::ResponseStreamError;
use lambda_http::http::HeaderMap;

use crate::Error;

/// The request headers SageMaker takes, by their SPEC names.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelHeaders {
    pub content_type: Option<String>,
    pub accept: Option<String>,
    pub custom_attributes: Option<String>,
    pub target_model: Option<String>,
    pub target_variant: Option<String>,
    pub target_container_hostname: Option<String>,
    pub inference_id: Option<String>,
    pub enable_explanations: Option<String>,
    pub inference_component: Option<String>,
    pub session_id: Option<String>,
}

impl ModelHeaders {
    /// Reads the headers; on the stream route SageMaker's own `X-Amzn-SageMaker-Accept`
    /// is honoured too (it wins over `Accept`).
    pub fn from_request(headers: &HeaderMap, stream: bool) -> Self {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        let accept = if stream {
            get("x-amzn-sagemaker-accept").or_else(|| get("accept"))
        } else {
            get("accept")
        };
        Self {
            content_type: get("content-type"),
            accept,
            custom_attributes: get("x-amzn-sagemaker-custom-attributes"),
            target_model: get("x-amzn-sagemaker-target-model"),
            target_variant: get("x-amzn-sagemaker-target-variant"),
            target_container_hostname: get("x-amzn-sagemaker-target-container-hostname"),
            inference_id: get("x-amzn-sagemaker-inference-id"),
            enable_explanations: get("x-amzn-sagemaker-enable-explanations"),
            inference_component: get("x-amzn-sagemaker-inference-component"),
            session_id: get("x-amzn-sagemaker-session-id"),
        }
    }
}

/// The model's answer and the SageMaker response headers worth returning.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelResponse {
    pub body: Vec<u8>,
    pub content_type: Option<String>,
    pub variant: Option<String>,
    pub custom_attributes: Option<String>,
    pub new_session_id: Option<String>,
    pub closed_session_id: Option<String>,
}

/// One SageMaker Runtime client, shared; federated calls override its credentials.
#[derive(Clone)]
pub struct SageMaker {
    client: Client,
    timeout: Duration,
}

impl SageMaker {
    /// `timeout` bounds the whole call, retries and stream included.
    pub fn new(client: Client, timeout: Duration) -> Self {
        Self { client, timeout }
    }

    pub async fn invoke(
        &self,
        endpoint: &str,
        body: Vec<u8>,
        headers: ModelHeaders,
        credentials: Option<Credentials>,
    ) -> Result<ModelResponse, Error> {
        let request = self
            .client
            .invoke_endpoint()
            .endpoint_name(endpoint)
            .body(Blob::new(body))
            .set_content_type(headers.content_type)
            .set_accept(headers.accept)
            .set_custom_attributes(headers.custom_attributes)
            .set_target_model(headers.target_model)
            .set_target_variant(headers.target_variant)
            .set_target_container_hostname(headers.target_container_hostname)
            .set_inference_id(headers.inference_id)
            .set_enable_explanations(headers.enable_explanations)
            .set_inference_component_name(headers.inference_component)
            .set_session_id(headers.session_id);
        let call = async {
            let result = match credentials {
                Some(credentials) => {
                    request
                        .customize()
                        .config_override(override_with(credentials))
                        .send()
                        .await
                }
                None => request.send().await,
            };
            result.map_err(|e| invoke_error(e, self.timeout))
        };
        let output = self.bounded(call).await?;
        Ok(ModelResponse {
            content_type: output.content_type().map(str::to_owned),
            variant: output.invoked_production_variant().map(str::to_owned),
            custom_attributes: output.custom_attributes().map(str::to_owned),
            new_session_id: output.new_session_id().map(str::to_owned),
            closed_session_id: output.closed_session_id().map(str::to_owned),
            body: output.body.map(Blob::into_inner).unwrap_or_default(),
        })
    }

    /// The stream call, its payload parts joined. An error mid-stream fails the whole
    /// call: the caller never gets a 200 with a silently truncated body.
    pub async fn invoke_stream(
        &self,
        endpoint: &str,
        body: Vec<u8>,
        headers: ModelHeaders,
        credentials: Option<Credentials>,
    ) -> Result<ModelResponse, Error> {
        let request = self
            .client
            .invoke_endpoint_with_response_stream()
            .endpoint_name(endpoint)
            .body(Blob::new(body))
            .set_content_type(headers.content_type)
            .set_accept(headers.accept)
            .set_custom_attributes(headers.custom_attributes)
            .set_target_variant(headers.target_variant)
            .set_target_container_hostname(headers.target_container_hostname)
            .set_inference_id(headers.inference_id)
            .set_inference_component_name(headers.inference_component)
            .set_session_id(headers.session_id);
        let call = async {
            let result = match credentials {
                Some(credentials) => {
                    request
                        .customize()
                        .config_override(override_with(credentials))
                        .send()
                        .await
                }
                None => request.send().await,
            };
            let mut output = result.map_err(|e| stream_error(e, self.timeout))?;
            let mut joined = Vec::new();
            loop {
                match output.body.recv().await {
                    Ok(Some(ResponseStream::PayloadPart(part))) => {
                        if let Some(bytes) = part.bytes {
                            joined.extend_from_slice(bytes.as_ref());
                        }
                    }
                    Ok(Some(other)) => tracing::warn!(event = ?other, "ignoring an unknown stream event"),
                    Ok(None) => break,
                    Err(e) => return Err(mid_stream_error(e)),
                }
            }
            Ok(ModelResponse {
                body: joined,
                content_type: output.content_type.take(),
                variant: output.invoked_production_variant.take(),
                custom_attributes: output.custom_attributes.take(),
                new_session_id: None,
                closed_session_id: None,
            })
        };
        self.bounded(call).await
    }

    /// The SDK's operation timeout covers the call up to the response head; this
    /// bounds reading a stream too.
    async fn bounded<T>(&self, call: impl Future<Output = Result<T, Error>>) -> Result<T, Error> {
        tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(Error::Timeout(self.timeout.as_millis())))
    }
}

fn override_with(credentials: Credentials) -> aws_sdk_sagemakerruntime::config::Builder {
    aws_sdk_sagemakerruntime::config::Builder::default().credentials_provider(credentials)
}

/// Failures that are not SageMaker's answer: timeouts, connection and parse errors.
fn transport_error<E, R>(error: &SdkError<E, R>, timeout: Duration) -> Option<Error>
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match error {
        SdkError::ServiceError(_) => None,
        SdkError::TimeoutError(_) => Some(Error::Timeout(timeout.as_millis())),
        other => Some(Error::Upstream(DisplayErrorContext(other).to_string())),
    }
}

fn invoke_error(error: SdkError<InvokeEndpointError>, timeout: Duration) -> Error {
    if let Some(error) = transport_error(&error, timeout) {
        return error;
    }
    let error = error.into_service_error();
    let message = error.message().unwrap_or_default().to_owned();
    match error {
        InvokeEndpointError::ValidationError(_) => Error::Validation(message),
        InvokeEndpointError::ModelError(e) => Error::Model {
            original_status: e.original_status_code(),
            message: e.original_message().map_or(message, str::to_owned),
        },
        InvokeEndpointError::ModelNotReadyException(_) => Error::ModelNotReady(message),
        InvokeEndpointError::ServiceUnavailable(_) => Error::ServiceUnavailable(message),
        InvokeEndpointError::InternalFailure(_) | InvokeEndpointError::InternalDependencyException(_) => {
            Error::Upstream(format!("{}: {message}", error_code(&error)))
        }
        other => by_code(error_code(&other), message),
    }
}

fn stream_error(error: SdkError<InvokeEndpointWithResponseStreamError>, timeout: Duration) -> Error {
    use InvokeEndpointWithResponseStreamError as E;
    if let Some(error) = transport_error(&error, timeout) {
        return error;
    }
    let error = error.into_service_error();
    let message = error.message().unwrap_or_default().to_owned();
    match error {
        E::ValidationError(_) => Error::Validation(message),
        E::ModelError(e) => Error::Model {
            original_status: e.original_status_code(),
            message: e.original_message().map_or(message, str::to_owned),
        },
        E::ModelStreamError(e) => Error::Model {
            original_status: None,
            message: format!("{}: {message}", e.error_code().unwrap_or("ModelStreamError")),
        },
        E::ServiceUnavailable(_) => Error::ServiceUnavailable(message),
        E::InternalFailure(_) | E::InternalStreamFailure(_) => {
            Error::Upstream(format!("{}: {message}", error_code(&error)))
        }
        other => by_code(error_code(&other), message),
    }
}

/// An error event inside the stream, after SageMaker had answered 200.
fn mid_stream_error<R: std::fmt::Debug>(error: SdkError<ResponseStreamError, R>) -> Error {
    let error = match error {
        SdkError::ServiceError(e) => e.into_err(),
        other => return Error::Upstream(format!("response stream broke: {}", DisplayErrorContext(&other))),
    };
    let message = error.message().unwrap_or_default().to_owned();
    match error {
        ResponseStreamError::ModelStreamError(e) => Error::Model {
            original_status: None,
            message: format!("{}: {message}", e.error_code().unwrap_or("ModelStreamError")),
        },
        other => Error::Upstream(format!("{} mid-stream: {message}", error_code(&other))),
    }
}

fn error_code(error: &impl ProvideErrorMetadata) -> String {
    error.code().unwrap_or("Unknown").to_owned()
}

/// Codes SageMaker does not model: throttling (`ThrottlingException`, …) is a 429;
/// anything else (access denied, a bad region) is the operator's to fix.
fn by_code(code: String, message: String) -> Error {
    if code.starts_with("Throttl") {
        return Error::Throttled(format!("{code}: {message}"));
    }
    Error::Upstream(format!("{code}: {message}"))
}
