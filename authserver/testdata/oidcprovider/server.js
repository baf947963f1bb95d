// An upstream OpenID Connect provider for the authserver federation tests:
// oidc-provider (npm) on 127.0.0.1 with one confidential client whose
// redirect URI is the mcpfort callback given in $REDIRECT_URI.
//
// Sign-in is non-interactive: the interaction endpoint logs the user in as
// $ACCOUNT (default "idp-user-42") and grants the requested scopes, so the
// Go test only follows redirects. Everything else (authorization code with
// PKCE, nonce, ID token signing, discovery, JWKS, RFC 9207 iss) is the
// provider's real behaviour.
//
// The Go test starts it with `node server.js`, reads one JSON line from
// stdout ({"issuer": "..."}) and stops it by closing stdin.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

function jwk(type, opts, alg, kid) {
  const { privateKey } = crypto.generateKeyPairSync(type, opts);
  return { ...privateKey.export({ format: 'jwk' }), alg, use: 'sig', kid };
}

const redirectURI = process.env.REDIRECT_URI;
const account = process.env.ACCOUNT || 'idp-user-42';
if (!redirectURI) {
  process.stderr.write('REDIRECT_URI is required\n');
  process.exit(2);
}

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    jwks: { keys: [jwk('rsa', { modulusLength: 2048 }, 'RS256', 'rs-1'), jwk('ec', { namedCurve: 'P-256' }, 'ES256', 'es-1')] },
    clients: [{
      client_id: 'mcpfort',
      client_secret: 'mcpfort-upstream-secret-0123456789',
      redirect_uris: [redirectURI],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    }],
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'] },
    scopes: ['openid', 'email', 'profile'],
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      return {
        accountId: id,
        async claims() {
          return { sub: id, email: `${id}@idp.example`, email_verified: true, name: 'Upstream User' };
        },
      };
    },
  });
  provider.on('server_error', (ctx, err) => process.stderr.write(`server_error: ${err}\n`));

  const callback = provider.callback();
  server.on('request', async (req, res) => {
    const m = req.url.match(/^\/interaction\/([^/?]+)/);
    if (!m) {
      callback(req, res);
      return;
    }
    try {
      const details = await provider.interactionDetails(req, res);
      let result;
      if (details.prompt.name === 'login') {
        result = { login: { accountId: account } };
      } else {
        const grant = details.grantId
          ? await provider.Grant.find(details.grantId)
          : new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
        if (details.prompt.details.missingOIDCScope) {
          grant.addOIDCScope(details.prompt.details.missingOIDCScope.join(' '));
        }
        if (details.prompt.details.missingOIDCClaims) {
          grant.addOIDCClaims(details.prompt.details.missingOIDCClaims);
        }
        result = { consent: { grantId: await grant.save() } };
      }
      await provider.interactionFinished(req, res, result, { mergeWithLastSubmission: false });
    } catch (err) {
      process.stderr.write(`interaction: ${err}\n`);
      res.statusCode = 500;
      res.end();
    }
  });
  process.stdout.write(`${JSON.stringify({ issuer })}\n`);
});

process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
