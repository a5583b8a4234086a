//! The token side of DPoP: the key a verified access token is bound to (`cnf.jkt`, RFC 9449 §6.1
//! for JWTs, §6.2 for introspection answers, whose members are the verified payload here too). Read
//! once, when the token is verified, and kept with it in the verified-token cache.

use serde_json::{Map, Value};

use crate::auth::claims::Verified;
use crate::auth::error::TokenError;

/// What a token's `cnf` claim says about DPoP.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum KeyBinding {
    /// No `cnf`.
    #[default]
    Unbound,
    /// Bound to the key with this RFC 7638 thumbprint.
    Jkt(Box<str>),
    /// A `cnf` with a confirmation method other than `jkt` (RFC 7800 §3; RFC 8705 §3.1 `x5t#S256`
    /// for a client certificate): one this service cannot check, so the token is refused.
    Unsupported,
    /// A `cnf` that is not an object, or a `jkt` that is not a string: a binding the service cannot
    /// read is not taken for no binding.
    Unreadable,
}

impl KeyBinding {
    /// The binding stated by a verified payload's claims.
    pub(crate) fn of(claims: &Map<String, Value>) -> Self {
        match claims.get("cnf") {
            None => Self::Unbound,
            // Any member but `jkt` is a proof of possession asked for and not checkable here,
            // even beside a `jkt`: every method `cnf` names must hold.
            Some(Value::Object(cnf)) if cnf.keys().any(|method| method != "jkt") => {
                Self::Unsupported
            }
            Some(Value::Object(cnf)) => match cnf.get("jkt") {
                // RFC 7800 §3.1: a `cnf` names one key; an empty one is not a readable binding.
                None => Self::Unreadable,
                Some(Value::String(jkt)) => Self::Jkt(jkt.as_str().into()),
                Some(_) => Self::Unreadable,
            },
            Some(_) => Self::Unreadable,
        }
    }
}

/// The thumbprint `verified` is bound to, `None` for an unbound token.
///
/// # Errors
/// [`TokenError::MalformedClaims`] for an unreadable `cnf`; [`TokenError::UnsupportedConfirmation`]
/// for a token bound some way other than `jkt`.
pub(crate) fn bound_key(verified: &Verified) -> Result<Option<&str>, TokenError> {
    match verified.key_binding() {
        KeyBinding::Unbound => Ok(None),
        KeyBinding::Jkt(jkt) => Ok(Some(jkt)),
        KeyBinding::Unreadable => Err(TokenError::MalformedClaims),
        KeyBinding::Unsupported => Err(TokenError::UnsupportedConfirmation),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn binding(claims: Value) -> KeyBinding {
        KeyBinding::of(claims.as_object().unwrap())
    }

    #[test]
    fn cnf_jkt_binds_other_confirmations_are_unsupported_and_odd_shapes_are_unreadable() {
        assert_eq!(binding(json!({"sub": "a"})), KeyBinding::Unbound);
        assert_eq!(
            binding(json!({"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}})),
            KeyBinding::Jkt("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I".into())
        );
        assert_eq!(
            binding(json!({"cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}})),
            KeyBinding::Unsupported
        );
        assert_eq!(
            binding(
                json!({"cnf": {"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I", "x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}})
            ),
            KeyBinding::Unsupported
        );
        assert_eq!(binding(json!({"cnf": {}})), KeyBinding::Unreadable);
        assert_eq!(binding(json!({"cnf": "jkt"})), KeyBinding::Unreadable);
        assert_eq!(binding(json!({"cnf": {"jkt": 1}})), KeyBinding::Unreadable);
    }
}
