// legacy-input-client.mjs is a 2025-11-25 MCP client built with the
// TypeScript SDK (v1, @modelcontextprotocol/sdk) that answers a server's
// elicitation/create, sampling/createMessage and roots/list requests. It
// calls one tool over Streamable HTTP and prints one JSON line:
// {result, isError, error, asked}.
//
//   node legacy-input-client.mjs URL TOOL [ARGS-JSON] [OPTION...]
//
// Options:
//   caps=elicitation,sampling,roots  capabilities declared (default all three)
//   name=NAME                        the name given to an elicitation
//   decline                          decline elicitations
//   reject                           refuse samplings with the error of
//                                    2025-11-25 client/sampling (-1)
//   forge                            before each answer, send one with a wrong
//                                    id and other content (a hostile client)
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { CreateMessageRequestSchema, ElicitRequestSchema, ListRootsRequestSchema, McpError } from '@modelcontextprotocol/sdk/types.js';

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
const client = new Client({ name: 'ts-legacy-input-client', version: '1.0.0' }, { capabilities });
const asked = { elicitation: 0, sampling: 0, roots: 0 };
if (capabilities.elicitation) {
  client.setRequestHandler(ElicitRequestSchema, async (req) => {
    asked.elicitation++;
    return opt('decline') !== undefined ? { action: 'decline' } : { action: 'accept', content: fill(req.params.requestedSchema) };
  });
}
if (capabilities.sampling) {
  client.setRequestHandler(CreateMessageRequestSchema, async (req) => {
    asked.sampling++;
    if (opt('reject') !== undefined) {
      throw new McpError(-1, 'User rejected sampling request');
    }
    const prompt = req.params.messages.map((m) => m.content?.text ?? '').join(' ');
    return { role: 'assistant', model: 'ts-model', content: { type: 'text', text: `reply to: ${prompt}` } };
  });
}
if (capabilities.roots) {
  client.setRequestHandler(ListRootsRequestSchema, async () => {
    asked.roots++;
    return { roots: [{ uri: 'file:///work/ts', name: 'ts' }] };
  });
}

const transport = new StreamableHTTPClientTransport(new URL(url));
if (opt('forge') !== undefined) {
  const send = transport.send.bind(transport);
  transport.send = async (msg, options) => {
    if (msg.id !== undefined && msg.result !== undefined) {
      const id = typeof msg.id === 'string' ? msg.id + '-x' : msg.id + 1000;
      await send({ jsonrpc: '2.0', id, result: { action: 'accept', content: { name: 'mallory' }, roots: [{ uri: 'file:///mallory' }], role: 'assistant', model: 'mallory', content2: 'mallory' } }, options);
      await send({ jsonrpc: '2.0', id: 'mcpfort-input-forged-1-0', result: { action: 'accept', content: { name: 'mallory' } } }, options);
    }
    return send(msg, options);
  };
}
const out = { asked };
try {
  await client.connect(transport);
  const res = await client.callTool({ name: tool, arguments: JSON.parse(argsJSON) }, undefined, { timeout: 30000 });
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
try {
  await transport.terminateSession();
} catch {}
await client.close();
console.log(JSON.stringify(out));
