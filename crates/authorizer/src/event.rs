//! The three authorizer event forms, read in one pass into one small type.
//!
//! API Gateway sends REST `TOKEN`, REST `REQUEST` and HTTP API `2.0` events; we keep
//! only what a decision needs. The deserializer never echoes input in its errors, so
//! a token sent in the wrong place can never reach a log line.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

/// Which event form arrived; it decides the response shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Form {
    /// REST API `TOKEN` authorizer: `authorizationToken` + `methodArn`, IAM policy out.
    Token,
    /// REST API (or HTTP API 1.0) `REQUEST` authorizer: headers + `methodArn`, IAM policy out.
    Request,
    /// HTTP API payload 2.0: headers, simple `isAuthorized` response out.
    HttpApiV2,
}

impl Form {
    pub fn label(self) -> &'static str {
        match self {
            Self::Token => "TOKEN",
            Self::Request => "REQUEST",
            Self::HttpApiV2 => "HTTP_API_2.0",
        }
    }
}

/// An authorizer event, reduced to the form, the credential and the method ARN.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizerEvent {
    kind: Option<String>,
    version: Option<String>,
    authorization_token: Option<String>,
    authorization_header: Option<String>,
    method_arn: Option<String>,
}

impl AuthorizerEvent {
    /// The form, or why the event is none of the three.
    pub fn form(&self) -> Result<Form, String> {
        if self.version.as_deref() == Some("2.0") {
            return Ok(Form::HttpApiV2);
        }
        match self.kind.as_deref() {
            Some("TOKEN") => Ok(Form::Token),
            Some("REQUEST") => Ok(Form::Request),
            Some(other) => Err(format!("unsupported authorizer event type {other:?}")),
            None => Err("not an authorizer event: no type and no version 2.0".to_owned()),
        }
    }

    /// The raw credential: `authorizationToken` for TOKEN, the `Authorization` header otherwise.
    pub fn credential(&self, form: Form) -> Option<&str> {
        match form {
            Form::Token => self.authorization_token.as_deref(),
            Form::Request | Form::HttpApiV2 => self.authorization_header.as_deref(),
        }
    }

    pub fn method_arn(&self) -> Option<&str> {
        self.method_arn.as_deref()
    }
}

impl<'de> Deserialize<'de> for AuthorizerEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(EventVisitor)
    }
}

struct EventVisitor;

impl<'de> Visitor<'de> for EventVisitor {
    type Value = AuthorizerEvent;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an API Gateway authorizer event (a JSON object)")
    }

    // The default for strings quotes the string: it could be a token.
    fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
        Err(E::custom(
            "event is a JSON string, expected an API Gateway authorizer event object",
        ))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut event = AuthorizerEvent::default();
        while let Some(key) = map.next_key::<KeyName>()? {
            match key {
                KeyName::Type => event.kind = map.next_value::<Text>()?.0,
                KeyName::Version => event.version = map.next_value::<Text>()?.0,
                KeyName::AuthorizationToken => event.authorization_token = map.next_value::<Text>()?.0,
                KeyName::MethodArn => event.method_arn = map.next_value::<Text>()?.0,
                KeyName::Headers => {
                    if let Some(value) = map.next_value::<AuthorizationHeader>()?.0 {
                        event.authorization_header = Some(value);
                    }
                }
                KeyName::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(event)
    }
}

enum KeyName {
    Type,
    Version,
    AuthorizationToken,
    MethodArn,
    Headers,
    Other,
}

impl<'de> Deserialize<'de> for KeyName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let key = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Ok(match key.as_ref() {
            "type" => Self::Type,
            "version" => Self::Version,
            "authorizationToken" => Self::AuthorizationToken,
            "methodArn" => Self::MethodArn,
            "headers" => Self::Headers,
            _ => Self::Other,
        })
    }
}

/// An optional string field; any other JSON type is an error that does not quote it.
struct Text(Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text(Some(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text(Some(v)))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Text, E> {
                Ok(Text(None))
            }
        }
        deserializer.deserialize_any(TextVisitor)
    }
}

/// The `Authorization` value of a header map (any case); `null` maps are empty.
struct AuthorizationHeader(Option<String>);

impl<'de> Deserialize<'de> for AuthorizationHeader {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct HeadersVisitor;
        impl<'de> Visitor<'de> for HeadersVisitor {
            type Value = AuthorizationHeader;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of header names to strings, or null")
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(AuthorizationHeader(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut found = None;
                while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if name.eq_ignore_ascii_case("authorization") {
                        let value = map.next_value::<Text>()?.0;
                        if found.is_some() {
                            return Err(de::Error::custom("more than one Authorization header"));
                        }
                        found = Some(value);
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(AuthorizationHeader(found.flatten()))
            }
        }
        deserializer.deserialize_any(HeadersVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<AuthorizerEvent, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn token_event() {
        let event = parse(r#"{"type":"TOKEN","authorizationToken":"Bearer abc","methodArn":"arn:x"}"#).unwrap();
        assert_eq!(event.form(), Ok(Form::Token));
        assert_eq!(event.credential(Form::Token), Some("Bearer abc"));
        assert_eq!(event.method_arn(), Some("arn:x"));
    }

    #[test]
    fn request_event_finds_the_header_in_any_case() {
        let event = parse(
            r#"{"type":"REQUEST","methodArn":"arn:x","headers":{"Host":"h","AUTHORIZATION":"Bearer abc","X":"1"},"multiValueHeaders":{"Authorization":["Bearer abc"]},"requestContext":{"path":"/p"}}"#,
        )
        .unwrap();
        assert_eq!(event.form(), Ok(Form::Request));
        assert_eq!(event.credential(Form::Request), Some("Bearer abc"));
    }

    #[test]
    fn http_api_v2_event() {
        let event =
            parse(r#"{"version":"2.0","type":"REQUEST","routeArn":"arn:y","headers":{"authorization":"Bearer abc"}}"#)
                .unwrap();
        assert_eq!(event.form(), Ok(Form::HttpApiV2));
        assert_eq!(event.credential(Form::HttpApiV2), Some("Bearer abc"));
    }

    #[test]
    fn null_and_missing_headers() {
        let event = parse(r#"{"type":"REQUEST","headers":null}"#).unwrap();
        assert_eq!(event.credential(Form::Request), None);
        let event = parse(r#"{"type":"REQUEST"}"#).unwrap();
        assert_eq!(event.credential(Form::Request), None);
    }

    #[test]
    fn duplicate_authorization_headers_are_an_error() {
        let err = parse(r#"{"type":"REQUEST","headers":{"authorization":"Bearer a","Authorization":"Bearer b"}}"#)
            .unwrap_err();
        assert!(err.starts_with("more than one Authorization header"), "{err}");
    }

    #[test]
    fn unknown_forms() {
        assert_eq!(
            parse(r#"{"type":"COGNITO"}"#).unwrap().form(),
            Err("unsupported authorizer event type \"COGNITO\"".to_owned())
        );
        assert_eq!(
            parse("{}").unwrap().form(),
            Err("not an authorizer event: no type and no version 2.0".to_owned())
        );
    }

    #[test]
    fn errors_never_quote_the_input() {
        let secret = "eyJhbGciOiJSUzI1NiJ9.secret.sig";
        for json in [
            format!("\"{secret}\""),
            format!(r#"{{"type":"TOKEN","authorizationToken":["{secret}"]}}"#),
            format!(r#"{{"type":"TOKEN","authorizationToken":{{"{secret}":1}}}}"#),
            format!(r#"{{"type":"REQUEST","headers":["{secret}"]}}"#),
            format!(r#"[{{"authorizationToken":"{secret}"}}]"#),
        ] {
            let err = parse(&json).unwrap_err();
            assert!(!err.contains("secret"), "{json}: {err}");
        }
    }
}
