// A real, certified OpenID provider (npm `oidc-provider`) on loopback for protected-api's interop
// test (tests/api/interop.rs). It issues RFC 9068 JWT access tokens for two resources: this API and
// another one, so the test can show a token for the other resource being refused. A token request
// that carries a DPoP proof (RFC 9449) gets a DPoP-bound token: `token_type` DPoP, `cnf.jkt` the
// thumbprint of the proof's key.
//
//   node server.mjs --port 4010 --kid key-a
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
  },
});
if (!args.port) {
  console.error('usage: node server.mjs --port PORT [--kid KID] [--resource URI] [--other-resource URI]');
  process.exit(2);
}

const issuer = `http://127.0.0.1:${args.port}`;
const scopesOf = {
  [args.resource]: 'read:messages',
  [args['other-resource']]: 'read:other',
};

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), kid: args.kid, alg: 'RS256', use: 'sig' };

const provider = new Provider(issuer, {
  clients: [
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
  scopes: ['openid', ...Object.values(scopesOf)],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    // RFC 9449 §5: a `DPoP` header at the token endpoint binds the token; without one it stays a
    // Bearer token. No server nonces (§8): a proof's `iat` is judged against the clock alone.
    dPoP: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // A client_credentials request without `resource` gets a token for this API.
      defaultResource: () => args.resource,
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
