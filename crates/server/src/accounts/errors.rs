//! Store errors as API answers. The store's messages are already safe to
//! show: none says whether another user's name or object exists.

use axum::http::StatusCode;
use bytesbox_store::StoreError;

use crate::api_error::ApiError;

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> ApiError {
        let message = error.to_string();
        let (status, code) = match &error {
            StoreError::InvalidCredentials => (StatusCode::UNAUTHORIZED, "invalid_credentials"),
            StoreError::AccountDisabled => (StatusCode::FORBIDDEN, "account_disabled"),
            StoreError::UsernameTaken => (StatusCode::CONFLICT, "username_taken"),
            StoreError::InvalidUsername(_) | StoreError::InvalidPassword(_) | StoreError::InvalidInput(_) => {
                (StatusCode::BAD_REQUEST, "invalid_input")
            }
            StoreError::ProjectNameTaken => (StatusCode::CONFLICT, "name_taken"),
            StoreError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            StoreError::StorageFull(why) => {
                return ApiError::new(StatusCode::INSUFFICIENT_STORAGE, "storage_full", message)
                    .with_detail("reason", why.as_str())
            }
            StoreError::Conflict { current, .. } => {
                return ApiError::new(StatusCode::CONFLICT, "conflict", message)
                    .with_detail("current_version", *current)
            }
            StoreError::UnsupportedUrl
            | StoreError::Database(_)
            | StoreError::Migration(_)
            | StoreError::Hashing(_) => {
                // Details go to the log and the Dashboard's error list
                // (`crate::monitoring`), not to the client.
                return ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "accounts_unavailable",
                    "the account database is unavailable; try again",
                )
                .server_fault(format!("store failure: {error}"));
            }
        };
        ApiError::new(status, code, message)
    }
}
