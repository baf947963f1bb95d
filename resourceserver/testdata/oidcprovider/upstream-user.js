// A third-party authorization server in front of an MCP server, for the
// token vault tests in app: oidc-provider (npm) on 127.0.0.1 issuing, for
// the resource indicator the gateway sends (RFC 8707), ES256 JWT access
// tokens (RFC 9068) that live $ACCESS_TTL seconds (default 65) and
// rotating refresh tokens, to one confidential client ("mcpfort-vault",
// redirect URI $REDIRECT_URI); RFC 7009 revocation is on, PKCE required.
//
// Sign-in is non-interactive: the interaction endpoint logs the user in
// as $ACCOUNT (default "upstream-user") and grants the requested resource
// scopes, so the Go test only follows redirects.
//
// The Go test starts it with `node upstream-user.js`, reads one JSON line
// from stdout ({"issuer": "..."}) and stops it by closing stdin.
import * as crypto from 'node:crypto';
import * as http from 'node:http';

import Provider from 'oidc-provider';

const redirectURI = process.env.REDIRECT_URI;
const account = process.env.ACCOUNT || 'upstream-user';
const ttl = Number(process.env.ACCESS_TTL || 65);
if (!redirectURI) {
  process.stderr.write('REDIRECT_URI is required\n');
  process.exit(2);
}

const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const key = { ...privateKey.export({ format: 'jwk' }), alg: 'ES256', use: 'sig', kid: 'es-1' };

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const { port } = server.address();
  const issuer = `http://127.0.0.1:${port}`;

  const provider = new Provider(issuer, {
    jwks: { keys: [key] },
    clients: [{
      client_id: 'mcpfort-vault',
      client_secret: 'mcpfort-vault-secret-0123456789abcdef',
      redirect_uris: [redirectURI],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'ES256',
      scope: 'mcp:tools',
    }],
    scopes: ['mcp:tools'],
    pkce: { required: () => true },
    features: {
      devInteractions: { enabled: false },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (ctx, resourceIndicator) => ({
          scope: 'mcp:tools',
          audience: resourceIndicator,
          accessTokenTTL: ttl,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'ES256' } },
        }),
      },
    },
    issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
    async findAccount(ctx, id) {
      return { accountId: id, async claims() { return { sub: id }; } };
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
        const d = details.prompt.details;
        if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
        if (d.missingResourceScopes) {
          for (const [indicator, scopes] of Object.entries(d.missingResourceScopes)) {
            grant.addResourceScope(indicator, scopes.join(' '));
          }
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
