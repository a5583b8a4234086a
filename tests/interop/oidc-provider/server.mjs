// A real, certified OpenID provider (npm `oidc-provider`) on loopback for protected-api's interop
// test (tests/api/interop.rs). It issues RFC 9068 JWT access tokens for two resources: this API and
// another one, so the test can show a token for the other resource being refused. A token request
// that carries a DPoP proof (RFC 9449) gets a DPoP-bound token: `token_type` DPoP, `cnf.jkt` the
// thumbprint of the proof's key.
//
//   node server.mjs --port 4010 --kid key-a
//   node server.mjs --port 4011 --opaque
//
// With --opaque, a client_credentials grant WITHOUT a resource indicator gets an opaque access token
// (oidc-provider's default format, introspected by the API, RFC 7662) instead of a JWT for this API,
// and the provider serves its introspection and revocation (RFC 7009) endpoints, with one more
// client for the API itself to introspect with. A grant with `resource` still gets a JWT.
//
// The signing key is generated at start and never written anywhere: restarting on the same port
// with another --kid is a key rotation as the API sees it. When the provider listens it prints one
// JSON line, {"issuer": "...", "kid": "..."}, which the test waits for.

import { generateKeyPairSync } from 'node:crypto';
import { parseArgs } from 'node:util';

import Provider, { errors } from 'oidc-provider';

const { values: args } = parseArgs({
  options: {
    port: { type: 'string' },
    kid: { type: 'string', default: 'interop-key' },
    resource: { type: 'string', default: 'https://protected-api.test' },
    'other-resource': { type: 'string', default: 'https://other-api.test' },
    opaque: { type: 'boolean', default: false },
  },
});
if (!args.port) {
  console.error('usage: node server.mjs --port PORT [--kid KID] [--resource URI] [--other-resource URI] [--opaque]');
  process.exit(2);
}

const issuer = `http://127.0.0.1:${args.port}`;
const scopesOf = {
  [args.resource]: 'read:messages',
  [args['other-resource']]: 'read:other',
};

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: args.kid, alg: 'RS256', use: 'sig' };

// --opaque: what the provider adds so the API can introspect its opaque tokens, and the test can
// revoke one. The API authenticates to the introspection endpoint with HTTP Basic
// (client_secret_basic), as `[OIDC] INTROSPECTION_CLIENT_ID` / `INTROSPECTION_CLIENT_SECRET` say.
const introspectionClient = {
  client_id: 'interop-introspector',
  client_secret: 'interop-introspector-secret-not-for-production',
  grant_types: [],
  redirect_uris: [],
  response_types: [],
  token_endpoint_auth_method: 'client_secret_basic',
};
const opaqueTokenFeatures = {
  introspection: {
    enabled: true,
    // Only the API's own client (or the token's client) may introspect; the default policy would
    // answer any confidential client.
    allowedPolicy: (ctx, client, token) =>
      client.clientId === introspectionClient.client_id || client.clientId === token.clientId,
  },
  // A client revokes its own tokens only (the default policy, without its start-up warning).
  revocation: { enabled: true, allowedPolicy: (ctx, client, token) => client.clientId === token.clientId },
};

const provider = new Provider(issuer, {
  clients: [
    ...(args.opaque ? [introspectionClient] : []),
    {
      client_id: 'interop-m2m',
      client_secret: 'interop-m2m-secret-not-for-production',
      grant_types: ['client_credentials'],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
    },
  ],
  jwks: { keys: [signingKey] },
  // The lifetime of opaque client_credentials tokens (JWTs take the resource server's, below).
  ...(args.opaque ? { ttl: { ClientCredentials: 300 } } : {}),
  scopes: ['openid', ...Object.values(scopesOf)],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // RFC 9449 §5: a `DPoP` header at the token endpoint binds the token; without one it stays a
    // Bearer token. No server nonces (§8): a proof's `iat` is judged against the clock alone.
    dPoP: { enabled: true },
    ...(args.opaque ? opaqueTokenFeatures : {}),
    resourceIndicators: {
      enabled: true,
      // A client_credentials request without `resource` gets a JWT for this API; with --opaque, no
      // resource at all, so oidc-provider issues its default opaque token (no `aud`).
      defaultResource: () => (args.opaque ? undefined : args.resource),
      getResourceServerInfo(_ctx, resourceIndicator) {
        const scope = scopesOf[resourceIndicator];
        if (!scope) throw new errors.InvalidTarget();
        return {
          scope,
          audience: resourceIndicator,
          accessTokenTTL: 300,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
});

// oidc-provider accepts a plain-http issuer only outside production; this one is loopback-only.
const server = provider.listen(Number(args.port), '127.0.0.1', () => {
  console.log(JSON.stringify({ issuer, kid: args.kid }));
});

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
