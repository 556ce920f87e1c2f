//! The API's documentation, served at `GET /api/v1/docs` (the IDE's
//! settings page links to it): `docs/api.md` as built into the server, so
//! what a running server describes is the API it has.

use axum::http::header;
use axum::response::IntoResponse;

const API_DOCUMENT: &str = include_str!("../../../docs/api.md");

/// `docs/api.md` as plain text, which every browser shows as it is.
pub async fn document() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], API_DOCUMENT)
}
