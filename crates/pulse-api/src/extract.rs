//! Body, query and path extractors that answer malformed input in the standard error shape
//! instead of the framework's plain text.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use pulse_core::Error;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// A JSON body. Request types use `#[serde(deny_unknown_fields)]`, so unknown fields are refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> Error {
    match rejection {
        JsonRejection::JsonDataError(e) => {
            Error::bad_request("invalid_body", inner_message(&e.body_text()))
        }
        JsonRejection::JsonSyntaxError(e) => {
            Error::bad_request("malformed_json", inner_message(&e.body_text()))
        }
        JsonRejection::MissingJsonContentType(_) => Error::UnsupportedMediaType(
            "expected a JSON body with Content-Type: application/json".into(),
        ),
        JsonRejection::BytesRejection(e)
            if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE =>
        {
            Error::PayloadTooLarge
        }
        other => Error::bad_request("invalid_body", other.body_text()),
    }
}

/// Parses a JSON body read as bytes, with the same error codes as [`Json`].
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => Error::bad_request("invalid_body", e.to_string()),
        _ => Error::bad_request("malformed_json", e.to_string()),
    })
}

fn inner_message(text: &str) -> String {
    // axum prefixes its own wording; keep serde's precise part (field, line and column).
    text.split_once(": ")
        .map(|(_, rest)| rest.to_string())
        .unwrap_or_else(|| text.to_string())
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// A query string. Query types use `#[serde(deny_unknown_fields)]`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Query<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e: QueryRejection| {
                Error::bad_request("invalid_query", inner_message(&e.body_text()))
            })
    }
}

/// Path parameters. An id that does not parse answers 404, like an id that does not exist.
#[derive(Debug, Clone, Copy, Default)]
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|_: PathRejection| Error::NotFound)
    }
}
