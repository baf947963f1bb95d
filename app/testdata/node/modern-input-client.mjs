// modern-input-client.mjs is a 2026-07-28 MCP client built with the
// TypeScript SDK (v2, @modelcontextprotocol/client), pinned to 2026-07-28:
// it fulfils a server's InputRequiredResult through its elicitation,
// sampling and roots handlers and retries the call with the answers. It
// calls one tool over Streamable HTTP and prints one JSON line:
// {result, isError, error, asked, era}.
//
//   node modern-input-client.mjs URL TOOL [ARGS-JSON] [OPTION...]
//
// Options:
//   caps=elicitation,sampling,roots  capabilities declared (default all three)
//   name=NAME                        the name given to an elicitation
//   decline                          decline elicitations
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';

const [url, tool, argsJSON = '{}', ...opts] = process.argv.slice(2);
const opt = (k) => opts.find((o) => o === k || o.startsWith(k + '='))?.split('=')[1] ?? (opts.includes(k) ? '' : undefined);
const caps = (opt('caps') ?? 'elicitation,sampling,roots').split(',').filter(Boolean);
const name = opt('name') ?? 'ada';

// fill answers a form: "name" gets the name, other strings are derived
// from it, and other types get a plain value of their type.
const fill = (schema) =>
  Object.fromEntries(
    Object.entries(schema?.properties ?? {}).map(([k, p]) => {
      if (p.enum) return [k, p.enum[0]];
      switch (p.type) {
        case 'boolean':
          return [k, true];
        case 'number':
        case 'integer':
          return [k, 1];
        default:
          return [k, k === 'name' ? name : p.format === 'email' ? `${name}@example.com` : `${k}-of-${name}`];
      }
    }),
  );

const capabilities = {};
if (caps.includes('elicitation')) capabilities.elicitation = { form: {} };
if (caps.includes('sampling')) capabilities.sampling = {};
if (caps.includes('roots')) capabilities.roots = {};
const client = new Client(
  { name: 'ts-modern-input-client', version: '2.0.0' },
  { capabilities, versionNegotiation: { mode: { pin: '2026-07-28' } } },
);
const asked = { elicitation: 0, sampling: 0, roots: 0 };
if (capabilities.elicitation) {
  client.setRequestHandler('elicitation/create', async (req) => {
    asked.elicitation++;
    return opt('decline') !== undefined ? { action: 'decline' } : { action: 'accept', content: fill(req.params.requestedSchema) };
  });
}
if (capabilities.sampling) {
  client.setRequestHandler('sampling/createMessage', async (req) => {
    asked.sampling++;
    const prompt = req.params.messages.map((m) => m.content?.text ?? '').join(' ');
    return { role: 'assistant', model: 'ts-model', content: { type: 'text', text: `reply to: ${prompt}` } };
  });
}
if (capabilities.roots) {
  client.setRequestHandler('roots/list', async () => {
    asked.roots++;
    return { roots: [{ uri: 'file:///work/ts', name: 'ts' }] };
  });
}

const out = { asked };
try {
  await client.connect(new StreamableHTTPClientTransport(new URL(url)));
  out.era = client.getProtocolEra();
  const res = await client.callTool({ name: tool, arguments: JSON.parse(argsJSON) }, { timeout: 30000 });
  out.isError = res.isError ?? false;
  const t = res.content?.[0]?.text;
  try {
    out.result = JSON.parse(t);
  } catch {
    out.result = t;
  }
} catch (err) {
  out.error = { code: err?.code, message: String(err?.message ?? err) };
}
await client.close();
console.log(JSON.stringify(out));
