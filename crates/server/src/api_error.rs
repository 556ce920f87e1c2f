//! One error type for every HTTP API: a status, a stable code and a
//! message, answered as `{"error": {"code", "message", …}}`; and the JSON
//! extractors whose rejections are such errors, so a handler never maps a
//! rejection by hand.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytesbox_engine::EngineError;
use serde::de::DeserializeOwned;

use crate::memory_budget::ReadRefused;

/// An API failure: a status, a stable code and a message.
#[derive(Debug)]
pub struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: String,
    /// The human message.
    pub message: String,
    pub(crate) retry_after_secs: Option<u64>,
    /// More fields of the error object (`current_version` of a conflict).
    pub(crate) details: serde_json::Map<String, serde_json::Value>,
}

impl ApiError {
    /// An error with a status, a stable code and a message.
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: code.into(),
            message: message.into(),
            retry_after_secs: None,
            details: serde_json::Map::new(),
        }
    }

    /// The same error with one more field in its object.
    pub fn with_detail(mut self, name: &str, value: impl Into<serde_json::Value>) -> ApiError {
        self.details.insert(name.to_string(), value.into());
        self
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// 429 for a client over its rate limit.
    pub fn rate_limited(retry_after_secs: u64) -> ApiError {
        let mut error = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            ApiError::rate_limited_message(retry_after_secs),
        );
        error.retry_after_secs = Some(retry_after_secs);
        error
    }

    /// The human message of `rate_limited`.
    pub fn rate_limited_message(retry_after_secs: u64) -> String {
        format!("too many runs from this client; try again in {retry_after_secs} s")
    }

    /// The status a protocol error code maps to.
    pub(crate) fn from_code(code: &str, message: String) -> ApiError {
        let status = match code {
            "queue_full" | "shutting_down" | "backend_unavailable" => StatusCode::SERVICE_UNAVAILABLE,
            "rate_limited" => StatusCode::TOO_MANY_REQUESTS,
            "internal" | "spawn_failed" | "workspace_error" => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, code, message)
    }
}

impl From<EngineError> for ApiError {
    fn from(error: EngineError) -> ApiError {
        let mut api = ApiError::from_code(error.code(), error.to_string());
        if let EngineError::QueueFull { retry_after_secs, .. } = error {
            api.retry_after_secs = Some(retry_after_secs);
        }
        api
    }
}

/// The server stopped reading a body: 503 `server_busy` (no room in the
/// memory budget) or 408 `request_timeout` (the client stopped sending).
impl From<ReadRefused> for ApiError {
    fn from(refused: ReadRefused) -> ApiError {
        match refused {
            ReadRefused::Busy => {
                let mut error = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "server_busy", refused.to_string());
                error.retry_after_secs = Some(1);
                error
            }
            ReadRefused::Stalled(_) => {
                ApiError::new(StatusCode::REQUEST_TIMEOUT, "request_timeout", refused.to_string())
            }
        }
    }
}

/// Reads a JSON body. One that cannot be read is 400 with `code`, unless
/// the server stopped reading it (see `From<ReadRefused>`).
async fn read_json<T: DeserializeOwned, S: Send + Sync>(
    request: Request,
    state: &S,
    code: &str,
) -> Result<T, ApiError> {
    Json::<T>::from_request(request, state).await.map(|Json(value)| value).map_err(|rejection: JsonRejection| {
        match ReadRefused::find(&rejection) {
            Some(refused) => refused.clone().into(),
            None => ApiError::new(StatusCode::BAD_REQUEST, code, rejection.body_text()),
        }
    })
}

/// A JSON body; one that cannot be read or parsed is 400
/// `invalid_message` (the run and account APIs' code). A handler that must
/// refuse for other reasons first (a rate limit, say) takes
/// `Result<ApiJson<T>, ApiError>` and looks at it when its turn comes.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        read_json(request, state, "invalid_message").await.map(ApiJson)
    }
}

/// A JSON body of the project API, whose bad input of any kind is 400
/// `invalid_input`; otherwise as [`ApiJson`].
#[derive(Debug)]
pub struct InputJson<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for InputJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        read_json(request, state, "invalid_input").await.map(InputJson)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = self.details;
        error.insert("code".to_string(), self.code.into());
        error.insert("message".to_string(), self.message.into());
        let body = Json(serde_json::json!({ "error": error }));
        let mut response = (self.status, body).into_response();
        if let Some(secs) = self.retry_after_secs {
            if let Ok(value) = HeaderValue::from_str(&secs.to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::body::Body;

    use super::*;
    use crate::memory_budget::{BudgetedBody, MemoryBudget};

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Named {
        #[allow(dead_code)]
        name: String,
    }

    fn request(body: Body) -> Request {
        Request::builder().header(header::CONTENT_TYPE, "application/json").body(body).expect("a request")
    }

    #[tokio::test]
    async fn bad_json_is_refused_with_each_extractor_s_code() {
        for bad in ["{not json", r#"{"nam": "x"}"#] {
            let message = ApiJson::<Named>::from_request(request(Body::from(bad)), &()).await.expect_err(bad);
            assert_eq!((message.status(), message.code()), (StatusCode::BAD_REQUEST, "invalid_message"), "{bad}");
            let input = InputJson::<Named>::from_request(request(Body::from(bad)), &()).await.expect_err(bad);
            assert_eq!((input.status(), input.code()), (StatusCode::BAD_REQUEST, "invalid_input"), "{bad}");
            assert_eq!(input.message, message.message, "the same reason, whatever the code");
        }
        let untyped = Request::builder().body(Body::from(r#"{"name": "x"}"#)).expect("a request");
        let error = ApiJson::<Named>::from_request(untyped, &()).await.expect_err("no content type");
        assert_eq!((error.status(), error.code()), (StatusCode::BAD_REQUEST, "invalid_message"));
        assert!(ApiJson::<Named>::from_request(request(Body::from(r#"{"name": "x"}"#)), &()).await.is_ok());
    }

    #[tokio::test]
    async fn a_body_the_memory_budget_refused_is_server_busy_not_bad_input() {
        const MIB: usize = 1024 * 1024;
        let budget = MemoryBudget::new(MIB, Duration::from_millis(20));
        let _all = budget.reserve(MIB).await.expect("room");
        let body = BudgetedBody::wrap(Body::from(vec![b' '; MIB / 2]), &budget, Duration::from_secs(5));
        let error = InputJson::<Named>::from_request(request(body), &()).await.expect_err("refused");
        assert_eq!((error.status(), error.code()), (StatusCode::SERVICE_UNAVAILABLE, "server_busy"));
        assert_eq!(error.into_response().headers()[header::RETRY_AFTER], "1");
        let stalled = ApiError::from(ReadRefused::Stalled(3));
        assert_eq!((stalled.status(), stalled.code()), (StatusCode::REQUEST_TIMEOUT, "request_timeout"));
    }
}
