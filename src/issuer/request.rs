//! The authorization request that `/authorize` and `/authorize/signup` carry through their forms.

use serde::Deserialize;

/// The authorization request (RFC 6749 §4.1.1 / §4.2.1), carried through the forms as hidden fields.
#[derive(Debug, Clone, Default, Deserialize)]
pub(super) struct AuthorizeRequest {
    pub(super) response_type: Option<String>,
    pub(super) client_id: Option<String>,
    pub(super) redirect_uri: Option<String>,
    pub(super) scope: Option<String>,
    pub(super) state: Option<String>,
    pub(super) code_challenge: Option<String>,
    pub(super) code_challenge_method: Option<String>,
    pub(super) nonce: Option<String>,
}

impl AuthorizeRequest {
    /// The parameters that were given, by name.
    pub(super) fn pairs(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [
            ("response_type", &self.response_type),
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("scope", &self.scope),
            ("state", &self.state),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
            ("nonce", &self.nonce),
        ]
        .into_iter()
        .filter_map(|(name, value)| Some((name, value.as_deref()?)))
    }

    /// The same request as a query string, to link from one form to the other.
    pub(super) fn query(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.pairs())
            .finish()
    }
}
