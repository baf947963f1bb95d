// The official TypeScript MCP SDK client, for the authserver end-to-end
// test. Usage: node client.mjs SERVER_URL REDIRECT_URL [CLIENT_METADATA_URL]
//
// It connects to SERVER_URL with an in-memory OAuthClientProvider. When
// the SDK wants a browser, it prints {"authorize": URL} and reads the
// final callback URL (with ?code=...) from stdin, as a user's browser
// would deliver it; the Go test plays the browser on the real sign-in and
// consent pages. Then it finishes the authorization, reconnects, calls the
// "echo" tool and prints {"result": TEXT}. Without CLIENT_METADATA_URL the
// SDK registers dynamically (RFC 7591); with it, it uses that URL as its
// client ID metadata document.
import * as readline from 'node:readline';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const [serverURL, redirectURL, metadataURL] = process.argv.slice(2);
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

const state = {};
const provider = {
  get redirectUrl() { return redirectURL; },
  clientMetadataUrl: metadataURL || undefined,
  get clientMetadata() {
    return {
      client_name: 'TypeScript SDK test client',
      redirect_uris: [redirectURL],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  },
  clientInformation: () => state.client,
  saveClientInformation: (info) => { state.client = info; },
  tokens: () => state.tokens,
  saveTokens: (tokens) => { state.tokens = tokens; },
  redirectToAuthorization: (url) => { say({ authorize: url.toString() }); },
  saveCodeVerifier: (v) => { state.verifier = v; },
  codeVerifier: () => state.verifier,
};

async function main() {
  const client = new Client({ name: 'ts-e2e', version: '1.0.0' });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(serverURL), { authProvider: provider }));
  } catch (err) {
    if (!(err instanceof UnauthorizedError)) throw err;
    const { value } = await lines.next();
    const callback = new URL(value);
    if (callback.searchParams.get('error')) {
      throw new Error(`authorization failed: ${callback.searchParams.get('error')}`);
    }
    const transport = new StreamableHTTPClientTransport(new URL(serverURL), { authProvider: provider });
    await transport.finishAuth(callback.searchParams.get('code'));
    await client.connect(transport);
  }
  const res = await client.callTool({ name: 'echo', arguments: { text: 'hello' } });
  say({ result: res.content[0].text, refresh: Boolean(state.tokens?.refresh_token) });
  await client.close();
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`${err?.stack || err}\n`);
  process.exit(1);
});
