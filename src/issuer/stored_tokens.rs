//! [`StoredTokens`]: the API's introspector for the local issuer's opaque tokens, a lookup in the
//! accounts database instead of an HTTP call to this same process's `/oauth/introspect`.

use serde_json::{Map, Value};

use crate::auth::{Introspect, IntrospectError, IntrospectFuture};
use crate::store::AccountStore;

/// Answers the verifier's introspection of a local opaque token from the accounts database, exactly
/// as `POST /oauth/introspect` would (RFC 7662 §2.2): the stored claims with `active: true`, else
/// `{"active": false}`. The verifier applies its rules (`iss`, `aud`, `exp`) and cache on top.
#[derive(Debug, Clone)]
pub struct StoredTokens(pub AccountStore);

impl Introspect for StoredTokens {
    fn introspect<'a>(&'a self, token: &'a str) -> IntrospectFuture<'a> {
        Box::pin(async move {
            match self.0.introspect_opaque(token).await {
                Ok(Some(claims)) => Ok(claims),
                Ok(None) => Ok(Map::from_iter([("active".to_owned(), Value::Bool(false))])),
                Err(error) => Err(IntrospectError::Failed(Box::new(error))),
            }
        })
    }

    fn is_remote(&self) -> bool {
        false
    }
}
