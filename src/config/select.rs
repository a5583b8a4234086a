//! `[AUTH] PROVIDER`: which providers are trusted, one or a comma-separated list, and the check that no
//! issuer is trusted twice.

use super::ServerSettings;
use super::error::ConfigError;
use super::local::{LocalSettings, default_provider, local_provider};
use super::raw::RawSettings;
use crate::auth::providers::{self, ProviderSpec};

impl RawSettings {
    /// Every trusted issuer's spec, in the order `[AUTH] PROVIDER` lists the providers (and each
    /// section its `ISSUER`s). Never empty.
    ///
    /// # Errors
    /// An unknown or twice-listed provider, an issuer trusted twice (named by its key), or the first
    /// problem of a provider's section. `local` is `[LOCAL]`, already parsed: the embedded issuer's
    /// spec is made from it.
    pub(super) fn providers(
        &self,
        server: &ServerSettings,
        local: &LocalSettings,
    ) -> Result<Vec<ProviderSpec>, ConfigError> {
        let Some(list) = self.provider_name() else {
            return Ok(vec![default_provider(local, server)?]);
        };
        let mut names: Vec<&str> = Vec::new();
        let mut specs: Vec<ProviderSpec> = Vec::new();
        for name in list.split(',').map(str::trim) {
            if name.is_empty() {
                return Err(ConfigError::key(
                    "AUTH",
                    "PROVIDER",
                    format!("empty name in {list:?}"),
                ));
            }
            if names.contains(&name) {
                // One section holds one provider's settings; several issuers go in its `ISSUER` list.
                return Err(ConfigError::key(
                    "AUTH",
                    "PROVIDER",
                    format!("{name} is listed twice"),
                ));
            }
            names.push(name);
            let found = match name {
                "local" => vec![local_provider(local, server)?],
                _ => providers::specs(name, self)?,
            };
            for spec in found {
                if let Some(earlier) = specs.iter().find(|earlier| earlier.issuer == spec.issuer) {
                    // Tokens are routed by their exact `iss`: two owners would make the route ambiguous.
                    return Err(ConfigError::key(
                        "AUTH",
                        "PROVIDER",
                        format!(
                            "{} and {} both trust the issuer {:?}",
                            earlier.name(),
                            spec.name(),
                            spec.issuer
                        ),
                    ));
                }
                specs.push(spec);
            }
        }
        Ok(specs)
    }
}

#[cfg(test)]
mod tests {
    use crate::auth::providers::KeySource;
    use crate::config::Settings;

    fn issuers(settings: &Settings) -> Vec<(&str, &str)> {
        settings
            .providers()
            .map(|spec| (spec.name(), spec.issuer.as_str()))
            .collect()
    }

    #[test]
    fn one_provider_stays_one_issuer_with_no_extras() {
        let settings = Settings::from_pairs([
            ("AUTH_PROVIDER", "oidc"),
            ("OIDC_ISSUER", "https://idp.example.com"),
            ("OIDC_AUDIENCE", "api"),
        ])
        .unwrap();
        assert_eq!(settings.provider.issuer, "https://idp.example.com");
        assert!(settings.extra_providers.is_empty());
    }

    #[test]
    fn an_oidc_issuer_list_gives_one_spec_per_realm_sharing_the_section() {
        let settings = Settings::from_pairs([
            ("AUTH_PROVIDER", "oidc"),
            (
                "OIDC_ISSUER",
                "https://kc.example.com/realms/staff , https://kc.example.com/realms/machines",
            ),
            ("OIDC_AUDIENCE", "api"),
        ])
        .unwrap();
        assert_eq!(
            issuers(&settings),
            [
                ("oidc", "https://kc.example.com/realms/staff"),
                ("oidc", "https://kc.example.com/realms/machines"),
            ]
        );
        assert!(settings.providers().all(|spec| spec.audiences == ["api"]));
    }

    #[test]
    fn an_auth0_custom_domain_beside_the_tenant_domain_has_its_own_keys() {
        let settings = Settings::from_pairs([
            ("AUTH_PROVIDER", "auth0"),
            ("AUTH0_DOMAIN", "tenant.eu.auth0.com"),
            (
                "AUTH0_ISSUER",
                "https://login.example.com/, https://tenant.eu.auth0.com/",
            ),
            ("AUTH0_API_AUDIENCE", "api"),
        ])
        .unwrap();
        let keys: Vec<String> = settings
            .providers()
            .map(|spec| match &spec.keys {
                KeySource::JwksUri(uri) => uri.to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            keys,
            [
                "https://login.example.com/.well-known/jwks.json",
                "https://tenant.eu.auth0.com/.well-known/jwks.json",
            ]
        );
    }

    #[test]
    fn two_providers_are_trusted_in_the_order_listed() {
        let settings = Settings::from_pairs([
            ("AUTH_PROVIDER", "auth0, oidc"),
            ("AUTH0_DOMAIN", "tenant.eu.auth0.com"),
            ("AUTH0_API_AUDIENCE", "api"),
            ("OIDC_ISSUER", "https://kc.example.com/realms/machines"),
            ("OIDC_AUDIENCE", "api"),
        ])
        .unwrap();
        assert_eq!(
            issuers(&settings),
            [
                ("auth0", "https://tenant.eu.auth0.com/"),
                ("oidc", "https://kc.example.com/realms/machines"),
            ]
        );
    }

    #[test]
    fn an_issuer_trusted_twice_is_an_error_naming_the_key() {
        let twice_in_a_list = Settings::from_pairs([
            ("AUTH_PROVIDER", "oidc"),
            (
                "OIDC_ISSUER",
                "https://a.example.com, https://a.example.com",
            ),
            ("OIDC_AUDIENCE", "api"),
        ])
        .unwrap_err();
        assert_eq!(
            twice_in_a_list.to_string(),
            r#"[OIDC] ISSUER: "https://a.example.com" is listed twice"#
        );
        for (list, said) in [
            (
                "https://a.example.com, https://a.example.com/",
                r#"[OIDC] ISSUER: "https://a.example.com/" is listed twice"#,
            ),
            (
                "https://a.example.com, ",
                "[OIDC] ISSUER: empty entry in the list (a stray comma?)",
            ),
            (
                "https://a.example.com,,https://b.example.com",
                "[OIDC] ISSUER: empty entry in the list (a stray comma?)",
            ),
        ] {
            let error = Settings::from_pairs([
                ("AUTH_PROVIDER", "oidc"),
                ("OIDC_ISSUER", list),
                ("OIDC_AUDIENCE", "api"),
            ])
            .unwrap_err();
            assert_eq!(error.to_string(), said, "{list}");
        }
        let across_providers = Settings::from_pairs([
            ("AUTH_PROVIDER", "auth0, oidc"),
            ("AUTH0_DOMAIN", "tenant.eu.auth0.com"),
            ("AUTH0_API_AUDIENCE", "api"),
            ("OIDC_ISSUER", "https://tenant.eu.auth0.com/"),
            ("OIDC_AUDIENCE", "api"),
        ])
        .unwrap_err();
        assert_eq!(
            across_providers.to_string(),
            r#"[AUTH] PROVIDER: auth0 and oidc both trust the issuer "https://tenant.eu.auth0.com/""#
        );
        let provider_twice = Settings::from_pairs([
            ("AUTH_PROVIDER", "oidc,oidc"),
            ("OIDC_ISSUER", "https://a.example.com"),
            ("OIDC_AUDIENCE", "api"),
        ])
        .unwrap_err();
        assert_eq!(
            provider_twice.to_string(),
            "[AUTH] PROVIDER: oidc is listed twice"
        );
    }

    #[test]
    fn a_key_naming_one_endpoint_is_refused_with_several_issuers() {
        let error = Settings::from_pairs([
            ("AUTH_PROVIDER", "oidc"),
            (
                "OIDC_ISSUER",
                "https://a.example.com, https://b.example.com",
            ),
            ("OIDC_AUDIENCE", "api"),
            ("OIDC_JWKS_URI", "https://a.example.com/jwks"),
        ])
        .unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("[OIDC] JWKS_URI: cannot be set"),
            "{error}"
        );
    }

    #[test]
    #[cfg(feature = "local-issuer")]
    fn local_and_oidc_trust_the_embedded_issuer_first() {
        let settings = Settings::from_pairs([
            ("AUTH_PROVIDER", "local, oidc"),
            ("OIDC_ISSUER", "https://kc.example.com/realms/dev"),
            ("OIDC_AUDIENCE", "api"),
        ])
        .unwrap();
        let names: Vec<&str> = settings.providers().map(|spec| spec.name()).collect();
        assert_eq!(names, ["local", "oidc"]);
    }
}
