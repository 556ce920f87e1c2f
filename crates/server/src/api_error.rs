//! One error type for every HTTP API: a status, a stable code and a
//! message, answered as `{"error": {"code", "message", …}}`; and the
//! extractors of bodies and query strings whose rejections are such
//! errors, so a handler never maps a rejection by hand.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, JsonRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
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
    /// For a failure of the server's own (a 500, 502 or 504, or one marked
    /// with [`ApiError::server_fault`]): what went wrong, for the log and
    /// the Dashboard's error list, not for the client.
    pub(crate) fault: Option<String>,
}

/// The server's own failure behind an answer, left in the response's
/// extensions for `crate::monitoring::track_failures`: its id is in the
/// answer's error object (`error_id`), the log line and the error list.
#[derive(Clone, Debug)]
pub struct ServerFault {
    /// The error id.
    pub id: String,
    /// The answer's code.
    pub code: String,
    /// What went wrong.
    pub detail: String,
}

impl ServerFault {
    /// A failure with a fresh id.
    pub fn new(code: &str, detail: String) -> ServerFault {
        ServerFault { id: crate::monitoring::new_error_id(), code: code.to_owned(), detail }
    }
}

impl ApiError {
    /// An error with a status, a stable code and a message.
    pub fn new(status: StatusCode, code: impl Into<String>, message: impl Into<String>) -> ApiError {
        let message = message.into();
        let server_failure =
            matches!(status, StatusCode::INTERNAL_SERVER_ERROR | StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT);
        ApiError {
            status,
            code: code.into(),
            fault: server_failure.then(|| message.clone()),
            message,
            retry_after_secs: None,
            details: serde_json::Map::new(),
        }
    }

    /// The same error, tracked as the server's own failure with `detail`
    /// (which the client does not see).
    pub fn server_fault(mut self, detail: impl Into<String>) -> ApiError {
        self.fault = Some(detail.into());
        self
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
            "queue_full" | "shutting_down" | "backend_unavailable" | "at_capacity" => StatusCode::SERVICE_UNAVAILABLE,
            "rate_limited" | "too_many_boxes" => StatusCode::TOO_MANY_REQUESTS,
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

/// 404 `not_found` for a path no route serves: a client that guesses an
/// API path gets an API error, not the IDE's page.
pub async fn no_such_route(request: Request) -> ApiError {
    let message = format!("no API route {} {}; see /api/v1/docs", request.method(), request.uri().path());
    ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
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

/// A query string of the project and admin APIs; one that cannot be read
/// is 400 `invalid_input`.
#[derive(Debug)]
pub struct InputQuery<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for InputQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(InputQuery(value)),
            Err(rejection) => Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", rejection.body_text())),
        }
    }
}

/// A raw body of the project API (a file's bytes, a zip): one over the
/// router's body limit is 413 `too_large`; one that could not be read
/// otherwise is `invalid_input`, with the rejection's status.
#[derive(Debug)]
pub struct InputBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for InputBytes {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        Bytes::from_request(request, state).await.map(InputBytes).map_err(|rejection: BytesRejection| {
            let status = rejection.status();
            let code = if status == StatusCode::PAYLOAD_TOO_LARGE { "too_large" } else { "invalid_input" };
            ApiError::new(status, code, rejection.body_text())
        })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = self.details;
        let fault = self.fault.map(|detail| ServerFault::new(&self.code, detail));
        if let Some(fault) = &fault {
            error.insert("error_id".to_string(), fault.id.clone().into());
        }
        error.insert("code".to_string(), self.code.into());
        error.insert("message".to_string(), self.message.into());
        let body = Json(serde_json::json!({ "error": error }));
        let mut response = (self.status, body).into_response();
        if let Some(fault) = fault {
            response.extensions_mut().insert(fault);
        }
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

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Version {
        #[allow(dead_code)]
        version: Option<i64>,
    }

    #[tokio::test]
    async fn bad_query_strings_and_bodies_are_invalid_input_and_a_huge_body_too_large() {
        for query in ["/?version=x", "/?versoin=1"] {
            let (mut parts, ()) = Request::builder().uri(query).body(()).expect("a request").into_parts();
            let error = InputQuery::<Version>::from_request_parts(&mut parts, &()).await.expect_err(query);
            assert_eq!((error.status(), error.code()), (StatusCode::BAD_REQUEST, "invalid_input"), "{query}");
        }
        let (mut parts, ()) = Request::builder().uri("/?version=3").body(()).expect("a request").into_parts();
        assert!(InputQuery::<Version>::from_request_parts(&mut parts, &()).await.is_ok());

        // Past axum's default body limit (2 MiB) without the router's own.
        let huge = Request::builder().body(Body::from(vec![0u8; 3 * 1024 * 1024])).expect("a request");
        let error = InputBytes::from_request(huge, &()).await.expect_err("too large");
        assert_eq!((error.status(), error.code()), (StatusCode::PAYLOAD_TOO_LARGE, "too_large"));
        let small = Request::builder().body(Body::from("bytes")).expect("a request");
        assert_eq!(InputBytes::from_request(small, &()).await.expect("read").0, "bytes");
    }

    #[tokio::test]
    async fn only_the_servers_own_failures_carry_an_error_id_and_a_fault() {
        let body = |response: Response| async move {
            let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.expect("a body");
            serde_json::from_slice::<serde_json::Value>(&bytes).expect("JSON")
        };
        let failed = ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "it broke").into_response();
        let fault = failed.extensions().get::<ServerFault>().cloned().expect("a fault");
        assert_eq!((fault.code.as_str(), fault.detail.as_str()), ("internal", "it broke"));
        assert_eq!(body(failed).await["error"]["error_id"], fault.id.as_str());
        let refused = ApiError::new(StatusCode::BAD_REQUEST, "invalid_input", "no").into_response();
        assert!(refused.extensions().get::<ServerFault>().is_none());
        assert!(body(refused).await["error"].get("error_id").is_none());
        let busy = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "queue_full", "later").into_response();
        assert!(busy.extensions().get::<ServerFault>().is_none(), "overload is not a failure");
        let store = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "accounts_unavailable", "try again")
            .server_fault("store failure: pool closed")
            .into_response();
        let fault = store.extensions().get::<ServerFault>().cloned().expect("a fault");
        assert_eq!(fault.detail, "store failure: pool closed");
        let shown = body(store).await;
        assert_eq!(shown["error"]["message"], "try again", "the detail is not the client's");
        assert_eq!(shown["error"]["error_id"], fault.id.as_str());
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
