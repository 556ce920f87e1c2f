//! Users, sign-in sessions and API tokens.

use std::time::Duration;

use bytesbox_store::{Role, Store, StoreError};

use crate::{fresh_user, unique_suffix};

pub async fn login_checks_the_password_and_never_says_whether_the_user_exists(store: &Store) {
    let user = fresh_user(store).await;
    let signed_in = store.verify_password(&user.username.to_uppercase(), "a long password").await.unwrap();
    assert_eq!(signed_in, user);
    assert_eq!(signed_in.role, Role::User);

    let wrong_password = store.verify_password(&user.username, "a long passworD").await.unwrap_err();
    let unknown_user = store.verify_password(&format!("n{}", unique_suffix()), "a long password").await.unwrap_err();
    let malformed_name = store.verify_password("no such name!", "a long password").await.unwrap_err();
    assert!(matches!(wrong_password, StoreError::InvalidCredentials), "{wrong_password}");
    assert!(matches!(unknown_user, StoreError::InvalidCredentials), "{unknown_user}");
    assert!(matches!(malformed_name, StoreError::InvalidCredentials), "{malformed_name}");
    assert_eq!(wrong_password.to_string(), unknown_user.to_string());
}

pub async fn usernames_are_unique_whatever_their_case(store: &Store) {
    let name = format!("Case{}", unique_suffix());
    let first = store.create_user(&name, "first password", Role::Admin).await.unwrap();
    assert_eq!(first.username, name.to_lowercase());
    assert_eq!(first.role, Role::Admin);
    let again = store.create_user(&name.to_lowercase(), "second password", Role::User).await.unwrap_err();
    assert!(matches!(again, StoreError::UsernameTaken), "{again}");
    // The first account's password still works: the failed sign-up changed nothing.
    store.verify_password(&name, "first password").await.unwrap();
}

pub async fn bad_usernames_and_passwords_are_refused(store: &Store) {
    for bad_name in ["ab", "has space", "-dash-first", "semi;colon", &"x".repeat(33)] {
        let error = store.create_user(bad_name, "a long password", Role::User).await.unwrap_err();
        assert!(matches!(error, StoreError::InvalidUsername(_)), "{bad_name}: {error}");
    }
    let name = format!("p{}", unique_suffix());
    for bad_password in ["short".to_owned(), "x".repeat(1025)] {
        let error = store.create_user(&name, &bad_password, Role::User).await.unwrap_err();
        assert!(matches!(error, StoreError::InvalidPassword(_)), "{error}");
    }
    let error = store.verify_password(&name, "a long password").await.unwrap_err();
    assert!(matches!(error, StoreError::InvalidCredentials), "refused sign-ups create nothing: {error}");
}

pub async fn a_disabled_account_cannot_sign_in_or_use_its_sessions(store: &Store) {
    let user = fresh_user(store).await;
    let session = store.create_session(&user.id, Duration::from_secs(3600)).await.unwrap();
    let token = store.create_api_token(&user.id, "ci").await.unwrap();
    store.set_user_disabled(&user.id, true).await.unwrap();

    let right = store.verify_password(&user.username, "a long password").await.unwrap_err();
    assert!(matches!(right, StoreError::AccountDisabled), "{right}");
    let wrong = store.verify_password(&user.username, "not the password").await.unwrap_err();
    assert!(matches!(wrong, StoreError::InvalidCredentials), "only the password's owner learns of it: {wrong}");
    assert_eq!(store.session_user(&session.token).await.unwrap(), None);
    assert_eq!(store.api_token_user(&token.secret).await.unwrap(), None);

    store.set_user_disabled(&user.id, false).await.unwrap();
    assert_eq!(store.session_user(&session.token).await.unwrap().map(|found| found.id), Some(user.id.clone()));
    assert!(store.user(&user.id).await.is_ok_and(|found| !found.disabled));
}

pub async fn sessions_work_until_revoked_or_expired(store: &Store) {
    let user = fresh_user(store).await;
    let first = store.create_session(&user.id, Duration::from_secs(3600)).await.unwrap();
    let second = store.create_session(&user.id, Duration::from_secs(3600)).await.unwrap();
    assert_ne!(first.token, second.token);
    assert_eq!(store.session_user(&first.token).await.unwrap(), Some(user.clone()));
    assert_eq!(store.session_user("not a session").await.unwrap(), None);

    store.revoke_session(&first.token).await.unwrap();
    store.revoke_session(&first.token).await.unwrap();
    assert_eq!(store.session_user(&first.token).await.unwrap(), None);
    assert_eq!(store.session_user(&second.token).await.unwrap(), Some(user.clone()));

    let expired = store.create_session(&user.id, Duration::ZERO).await.unwrap();
    assert_eq!(store.session_user(&expired.token).await.unwrap(), None);
    assert!(store.purge_expired_sessions().await.unwrap() >= 1);

    let third = store.create_session(&user.id, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(store.revoke_user_sessions(&user.id).await.unwrap(), 2);
    assert_eq!(store.session_user(&second.token).await.unwrap(), None);
    assert_eq!(store.session_user(&third.token).await.unwrap(), None);
}

pub async fn api_tokens_are_listed_without_secrets_and_revoked_only_by_their_owner(store: &Store) {
    let owner = fresh_user(store).await;
    let other = fresh_user(store).await;
    let created = store.create_api_token(&owner.id, " deploy bot ").await.unwrap();
    assert!(created.secret.starts_with(bytesbox_store::API_TOKEN_PREFIX), "{}", created.secret);
    assert_eq!(created.token.name, "deploy bot");
    assert_eq!(created.token.last_used_at_ms, None);

    assert_eq!(store.api_token_user(&created.secret).await.unwrap(), Some(owner.clone()));
    assert_eq!(store.api_token_user("bbx_guessed").await.unwrap(), None);
    assert_eq!(store.api_token_user(&created.secret[4..]).await.unwrap(), None);
    let listed = store.list_api_tokens(&owner.id).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.token.id);
    assert!(listed[0].last_used_at_ms.is_some(), "use is recorded");
    assert!(store.list_api_tokens(&other.id).await.unwrap().is_empty());

    let error = store.revoke_api_token(&other.id, &created.token.id).await.unwrap_err();
    assert!(matches!(error, StoreError::NotFound), "{error}");
    assert_eq!(store.api_token_user(&created.secret).await.unwrap(), Some(owner.clone()));
    store.revoke_api_token(&owner.id, &created.token.id).await.unwrap();
    assert_eq!(store.api_token_user(&created.secret).await.unwrap(), None);
    assert!(store.list_api_tokens(&owner.id).await.unwrap().is_empty());

    let error = store.create_api_token(&owner.id, "  ").await.unwrap_err();
    assert!(matches!(error, StoreError::InvalidInput(_)), "{error}");
}
