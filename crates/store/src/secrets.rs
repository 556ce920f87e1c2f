//! Passwords (argon2id) and bearer secrets (session ids, API tokens).
//!
//! Bearer secrets are 256 random bits; the database keeps only their
//! SHA-256, so a leaked database grants no session. A fast hash suffices
//! there because the secrets are random, unlike passwords.

use std::sync::OnceLock;

use argon2::password_hash::rand_core::{OsRng, RngCore};
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::{StoreError, StoreResult};

/// Hashes a password with argon2id (the crate's default parameters, the
/// OWASP minimum: 19 MiB, 2 passes) into a PHC string. CPU-bound: call it
/// from a blocking thread.
pub(crate) fn hash_password(password: &str) -> StoreResult<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| StoreError::Hashing(error.to_string()))
}

/// Checks a password against a PHC string; the comparison is constant-time.
/// With `None` (no such user) it checks against a hash of a random password,
/// so an unknown username costs the same time as a wrong password.
pub(crate) fn verify_password(password: &str, phc: Option<&str>) -> bool {
    let phc = phc.unwrap_or_else(|| decoy_hash());
    let Ok(parsed) = PasswordHash::new(phc) else {
        tracing::error!("a password hash does not parse");
        return false;
    };
    Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok()
}

fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    // Hashing fails only with invalid parameters, never with the defaults;
    // an empty decoy would make every unknown-user check fail fast.
    DECOY.get_or_init(|| hash_password(&random_secret()).unwrap_or_default())
}

/// 256 random bits, base64url without padding (43 characters).
pub(crate) fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// What the database stores for a bearer secret: its SHA-256, in hex.
pub(crate) fn secret_hash(secret: &str) -> String {
    format!("{:x}", Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_stored_as_salted_argon2id() {
        let first = hash_password("correct horse").unwrap();
        let second = hash_password("correct horse").unwrap();
        assert!(first.starts_with("$argon2id$"), "{first}");
        assert!(!first.contains("correct horse"));
        assert_ne!(first, second, "every hash has its own salt");
        assert!(verify_password("correct horse", Some(&first)));
        assert!(!verify_password("correct horsf", Some(&first)));
        assert!(!verify_password("correct horse", None));
        assert!(!verify_password("correct horse", Some("not a hash")));
    }

    #[test]
    fn bearer_secrets_are_random_and_hashed() {
        let secret = random_secret();
        assert_eq!(secret.len(), 43);
        assert_ne!(secret, random_secret());
        assert_eq!(secret_hash(&secret).len(), 64);
        assert_eq!(secret_hash(&secret), secret_hash(&secret));
        assert_ne!(secret_hash(&secret), secret_hash(&random_secret()));
    }
}
