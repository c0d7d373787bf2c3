//! The two routes, matched on the resource path whatever the stage.

use crate::Error;

/// Which SageMaker call a request maps to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Invoke { endpoint: String },
    Stream { endpoint: String },
}

impl Route {
    pub fn endpoint(&self) -> &str {
        match self {
            Self::Invoke { endpoint } | Self::Stream { endpoint } => endpoint,
        }
    }

    /// Routes `method path`. The path may carry one leading stage segment: REST API
    /// events put it in `requestContext.path` (`/prod/endpoints/...`) and lambda_http
    /// adds it to the URI, HTTP API `$default` stages have none; both route the same.
    pub fn parse(method: &str, path: &str) -> Result<Self, Error> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let tail = match segments.as_slice() {
            [_stage, rest @ ..] if rest.len() == 3 => rest,
            rest if rest.len() == 3 => rest,
            _ => return Err(Error::NotFound(path.to_owned())),
        };
        let route = match tail {
            ["endpoints", name, "invocations"] if !name.is_empty() => Self::Invoke {
                endpoint: (*name).to_owned(),
            },
            ["endpoints", name, "invocations-response-stream"] if !name.is_empty() => Self::Stream {
                endpoint: (*name).to_owned(),
            },
            _ => return Err(Error::NotFound(path.to_owned())),
        };
        if method != "POST" {
            return Err(Error::MethodNotAllowed(method.to_owned()));
        }
        Ok(route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invoke(name: &str) -> Result<Route, Error> {
        Ok(Route::Invoke { endpoint: name.into() })
    }

    #[test]
    fn routes_with_or_without_a_stage() {
        assert_eq!(Route::parse("POST", "/endpoints/m/invocations"), invoke("m"));
        assert_eq!(Route::parse("POST", "/prod/endpoints/m/invocations"), invoke("m"));
        assert_eq!(Route::parse("POST", "/endpoints/m/invocations/"), invoke("m"));
        assert_eq!(
            Route::parse("POST", "/v1/endpoints/m/invocations-response-stream"),
            Ok(Route::Stream { endpoint: "m".into() })
        );
        // An endpoint may be called "endpoints": the segment count decides.
        assert_eq!(
            Route::parse("POST", "/endpoints/endpoints/invocations"),
            invoke("endpoints")
        );
    }

    #[test]
    fn unknown_routes_and_methods() {
        for path in [
            "/",
            "/endpoints",
            "/endpoints/m",
            "/endpoints/m/other",
            "/a/b/endpoints/m/invocations",
            "/endpoints//invocations",
            "/prod/models/m/invocations",
        ] {
            assert_eq!(Route::parse("POST", path), Err(Error::NotFound(path.into())), "{path}");
        }
        assert_eq!(
            Route::parse("GET", "/prod/endpoints/m/invocations"),
            Err(Error::MethodNotAllowed("GET".into()))
        );
        assert_eq!(Route::parse("GET", "/nope"), Err(Error::NotFound("/nope".into())));
    }
}
