//! The token side of DPoP: the key a verified access token is bound to (`cnf.jkt`, RFC 9449 §6.1
//! for JWTs, §6.2 for introspection answers, whose members are the verified payload here too).

use serde::Deserialize;
use serde_json::Value;

use crate::auth::claims::Verified;
use crate::auth::error::TokenError;

/// Only the confirmation claim is read; the rest of the payload is skipped.
#[derive(Deserialize)]
struct Confirmation {
    #[serde(default)]
    cnf: Option<Value>,
}

/// The thumbprint `verified` is bound to: its `cnf.jkt`, `None` for an unbound token (no `cnf`, or a
/// `cnf` binding it some other way, such as mTLS `x5t#S256`).
///
/// # Errors
/// [`TokenError::MalformedClaims`] when `cnf` is not an object or `jkt` not a string: a binding the
/// service cannot read is not taken for no binding.
pub(crate) fn bound_key(verified: &Verified) -> Result<Option<String>, TokenError> {
    let confirmation: Confirmation = verified
        .deserialize()
        .map_err(|_| TokenError::MalformedClaims)?;
    match confirmation.cnf {
        None => Ok(None),
        Some(Value::Object(cnf)) => match cnf.get("jkt") {
            None => Ok(None),
            Some(Value::String(jkt)) => Ok(Some(jkt.clone())),
            Some(_) => Err(TokenError::MalformedClaims),
        },
        Some(_) => Err(TokenError::MalformedClaims),
    }
}
