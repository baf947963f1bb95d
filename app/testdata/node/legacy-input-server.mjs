// legacy-input-server.mjs is a 2025-11-25 MCP server built with the
// TypeScript SDK (v1, @modelcontextprotocol/sdk) whose tools ask the client
// for input with server-to-client requests on the call's stream, as a
// legacy server does: elicitation/create, sampling/createMessage and
// roots/list.
//
//   node legacy-input-server.mjs stdio
//   node legacy-input-server.mjs http    (prints {"url": ...} on one line)
//
// Tools (each answers with one text block holding a JSON object):
//   ask_all       asks in turn for a name (elicitation), a completion of a
//                 prompt naming it (sampling) and the roots
//   ask_parallel  asks the three at once
//   ask_roots     asks for the roots only, without checking that the client
//                 declared the roots capability (the SDK does not check
//                 unless enforceStrictCapabilities is set)
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { CreateMessageResultSchema, ElicitResultSchema, ListRootsResultSchema } from '@modelcontextprotocol/sdk/types.js';

const elicit = (extra) =>
  extra.sendRequest(
    {
      method: 'elicitation/create',
      params: {
        mode: 'form',
        message: 'Who are you?',
        requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
      },
    },
    ElicitResultSchema,
  );

const sample = (extra, name) =>
  extra.sendRequest(
    {
      method: 'sampling/createMessage',
      params: { messages: [{ role: 'user', content: { type: 'text', text: `Greet ${name}` } }], maxTokens: 50 },
    },
    CreateMessageResultSchema,
  );

const roots = (extra) => extra.sendRequest({ method: 'roots/list' }, ListRootsResultSchema);

const text = (o) => ({ content: [{ type: 'text', text: JSON.stringify(o) }] });

function newServer() {
  const server = new McpServer({ name: 'ts-legacy-input', version: '1.0.0' });
  server.registerTool('ask_all', { description: 'Asks for a name, a completion and the roots, in turn.' }, async (extra) => {
    const e = await elicit(extra);
    const name = e.action === 'accept' ? e.content?.name : undefined;
    if (!name) {
      return text({ action: e.action });
    }
    const s = await sample(extra, name);
    const r = await roots(extra);
    return text({ action: e.action, name, said: s.content?.text, model: s.model, roots: r.roots.map((x) => x.uri) });
  });
  server.registerTool('ask_parallel', { description: 'Asks for a name, a completion and the roots at once.' }, async (extra) => {
    const [e, s, r] = await Promise.all([elicit(extra), sample(extra, 'someone'), roots(extra)]);
    return text({ action: e.action, name: e.content?.name, said: s.content?.text, model: s.model, roots: r.roots.map((x) => x.uri) });
  });
  server.registerTool('ask_roots', { description: 'Asks for the roots only.' }, async (extra) => {
    try {
      const r = await roots(extra);
      return text({ roots: r.roots.map((x) => x.uri) });
    } catch (err) {
      return { isError: true, content: [{ type: 'text', text: JSON.stringify({ error: String(err?.message ?? err), code: err?.code }) }] };
    }
  });
  return server;
}

const mode = process.argv[2] ?? 'stdio';
if (mode === 'stdio') {
  await newServer().connect(new StdioServerTransport());
} else {
  // Stateful Streamable HTTP: one transport (and server) per session.
  const sessions = new Map();
  const httpServer = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const raw = Buffer.concat(chunks).toString();
    const body = raw ? JSON.parse(raw) : undefined;
    const sid = req.headers['mcp-session-id'];
    let transport = sid ? sessions.get(sid) : undefined;
    if (!transport) {
      if (sid || body?.method !== 'initialize') {
        res.writeHead(sid ? 404 : 400).end();
        return;
      }
      transport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => sessions.set(id, transport),
      });
      transport.onclose = () => transport.sessionId && sessions.delete(transport.sessionId);
      await newServer().connect(transport);
    }
    await transport.handleRequest(req, res, body);
  });
  httpServer.listen(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ url: `http://127.0.0.1:${httpServer.address().port}/mcp` }));
  });
}
