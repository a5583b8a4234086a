//! Interop with a real OpenID provider (npm `oidc-provider`) on loopback.
