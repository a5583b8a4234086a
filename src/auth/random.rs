//! Random bytes and tokens from the system generator: a failure is an error, never a buffer of zeros.
//!
//! Every secret the service makes (login `state`, PKCE verifier, nonce, CSRF token, `jti`, client
//! secret, account id, salt) comes from here, so no caller can forget to check the generator.

use aws_lc_rs::error::Unspecified;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Bytes in a [`random_token`]: 256 bits. RFC 6749 §10.10 wants guessing odds of at most 2^-128,
/// better 2^-160.
const TOKEN_BYTES: usize = 32;

/// The system random generator failed. Whatever asked for randomness must fail too: a predictable
/// value in its place would be a secret anyone can guess.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the system random generator failed")]
pub struct RandomError;

/// `N` bytes from the system generator.
///
/// # Errors
/// [`RandomError`] when the generator fails.
pub fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    bytes_from(aws_lc_rs::rand::fill)
}

/// A fresh 256-bit secret as base64url text without padding (43 characters), safe in URLs, cookies
/// and form fields as it is.
///
/// # Errors
/// [`RandomError`] when the generator fails.
pub fn random_token() -> Result<String, RandomError> {
    Ok(URL_SAFE_NO_PAD.encode(random_bytes::<TOKEN_BYTES>()?))
}

/// `N` bytes from `fill`, which is the system generator except in tests.
fn bytes_from<const N: usize>(
    fill: impl FnOnce(&mut [u8]) -> Result<(), Unspecified>,
) -> Result<[u8; N], RandomError> {
    let mut bytes = [0u8; N];
    fill(&mut bytes).map_err(|Unspecified| RandomError)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_generator_is_an_error_not_zeros() {
        assert_eq!(bytes_from::<32>(|_| Err(Unspecified)), Err(RandomError));
        // Even when the generator wrote part of the buffer before failing.
        let partial = bytes_from::<4>(|bytes| {
            bytes[0] = 7;
            Err(Unspecified)
        });
        assert_eq!(partial, Err(RandomError));
    }

    #[test]
    fn the_filled_bytes_are_returned() {
        let bytes = bytes_from::<3>(|bytes| {
            bytes.copy_from_slice(&[1, 2, 3]);
            Ok(())
        });
        assert_eq!(bytes, Ok([1, 2, 3]));
    }

    #[test]
    fn tokens_are_256_bit_base64url_and_differ() {
        let (a, b) = (random_token().unwrap(), random_token().unwrap());
        assert_eq!(a.len(), 43);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "{a}"
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), TOKEN_BYTES);
        assert_ne!(a, b);
    }

    #[test]
    fn random_bytes_are_not_all_zeros() {
        // 2^-256 odds of a false failure.
        assert_ne!(random_bytes::<32>().unwrap(), [0u8; 32]);
    }
}
