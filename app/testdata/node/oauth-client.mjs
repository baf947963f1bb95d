// oauth-client.mjs: the official TypeScript SDK client completing MCP
// authorization against mcpfort (protected resource metadata, authorization
// server metadata, dynamic registration, PKCE), then calling a tool.
//
//   node oauth-client.mjs SERVER_URL REDIRECT_URL
//
// When the SDK wants a browser it prints {"authorize": URL} and reads the
// callback URL (with ?code=...) from stdin: the Go test plays the user on
// the real sign-in and consent pages. It ends by printing {"result": TEXT}.
import * as readline from 'node:readline';

import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const [serverURL, redirectURL] = process.argv.slice(2);
const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
const say = (obj) => process.stdout.write(`${JSON.stringify(obj)}\n`);

const state = {};
const provider = {
  get redirectUrl() { return redirectURL; },
  get clientMetadata() {
    return {
      client_name: 'TypeScript SDK quick start client',
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
  const client = new Client({ name: 'ts-quickstart', version: '1.0.0' });
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
  const res = await client.callTool({ name: 'echo', arguments: { text: 'hello from typescript' } });
  say({ result: res.content[0].text });
  await client.close();
}

main().then(() => process.exit(0), (err) => {
  process.stderr.write(`${err?.stack || err}\n`);
  process.exit(1);
});
