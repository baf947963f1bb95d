// A real third-party authorization server for the resourceserver tests:
// oidc-provider (npm) on 127.0.0.1, issuing RFC 9068 JWT access tokens and
// opaque tokens for RFC 8707 resource indicators, with RFC 7662
// introspection and RFC 7009 revocation enabled.
//
// The Go test starts it with `node server.js`, reads one JSON line from
// stdout ({"issuer": "...", "clients": {...}}) and stops it by closing
// stdin or killing the process.
//
// Resource indicators choose the token format and signing algorithm, so one
// provider serves every case the tests need:
//   .../opaque/...  -> opaque access token (introspection only)
//   .../rs256/...   -> JWT signed with RS256
//   .../eddsa/...   -> JWT signed with EdDSA (Ed25519)
//   anything else   -> JWT signed with ES256
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

function jwk(type, opts, alg, kid) {
  const { privateKey } = crypto.generateKeyPairSync(type, opts);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid };
}

const keys = [
  jwk('ec', { namedCurve: 'P-256' }, 'ES256', 'es256-1'),
  jwk('rsa', { modulusLength: 2048 }, 'RS256', 'rs256-1'),
  jwk('ed25519', {}, 'EdDSA', 'eddsa-1'),
];

const scopes = 'mcp:tools mcp:tools:read mcp:tools:write mcp:admin';

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    jwks: { keys },
    clients: [
      {
        // A machine client that obtains access tokens for the tests.
        client_id: 'mcp-client',
        client_secret: 'mcp-client-secret-0123456789abcdef',
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        scope: scopes,
      },
      {
        // The resource server's own credentials for introspection.
        client_id: 'resource-server',
        client_secret: 'resource-server-secret-0123456789',
        grant_types: [],
        redirect_uris: [],
        response_types: [],
      },
    ],
    scopes: scopes.split(' '),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, resourceIndicator) {
          const info = {
            scope: scopes,
            audience: resourceIndicator,
            accessTokenTTL: 300,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
          if (resourceIndicator.includes('/opaque/')) {
            info.accessTokenFormat = 'opaque';
            delete info.jwt;
          } else if (resourceIndicator.includes('/rs256/')) {
            info.jwt.sign.alg = 'RS256';
          } else if (resourceIndicator.includes('/eddsa/')) {
            info.jwt.sign.alg = 'EdDSA';
          }
          return info;
        },
      },
    },
    enabledJWA: {
      idTokenSigningAlgValues: ['ES256', 'RS256', 'EdDSA'],
    },
  });
  // Quiet: errors surface as HTTP responses the Go test checks.
  provider.on('server_error', (ctx, err) => process.stderr.write(`server_error: ${err}\n`));

  server.on('request', provider.callback());
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

// The Go test owns this process: when it closes our stdin, exit.
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
