// modern-input-server.mjs is a 2026-07-28 MCP server built with the
// TypeScript SDK (v2, @modelcontextprotocol/server) whose tools ask the
// client for input with an InputRequiredResult (multi round-trip requests)
// and finish on the client's retry carrying the answers.
//
//   node modern-input-server.mjs stdio
//   node modern-input-server.mjs http    (prints {"url": ...} on one line)
//   node modern-input-server.mjs http ignore-caps
//
// With ignore-caps the server misbehaves: it takes every request as
// declaring the elicitation, sampling and roots capabilities, whatever the
// client declared, so that it asks for input the client cannot give.
//
// Tools (each answers with one text block holding a JSON object):
//   ask_all  round 1 asks for a name (elicitation) and the roots, round 2
//            for a completion of a prompt naming the user (sampling), and
//            round 3 answers; the requestState carries what the earlier
//            rounds learnt
import http from 'node:http';
import { McpServer, createMcpHandler, inputRequired } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';

const text = (o) => ({ content: [{ type: 'text', text: JSON.stringify(o) }] });

function newServer() {
  const server = new McpServer({ name: 'ts-modern-input', version: '2.0.0' }, { capabilities: { tools: {} } });
  server.registerTool('ask_all', { description: 'Asks for a name and the roots, then a completion.' }, async (ctx) => {
    const got = ctx.mcpReq.inputResponses ?? {};
    const raw = ctx.mcpReq.requestState();
    const state = typeof raw === 'string' && raw ? JSON.parse(Buffer.from(raw, 'base64url').toString()) : { round: 0 };
    if (state.round === 0) {
      return inputRequired({
        inputRequests: {
          who: inputRequired.elicit({
            message: 'Who are you?',
            requestedSchema: { type: 'object', properties: { name: { type: 'string' } }, required: ['name'] },
          }),
          where: inputRequired.listRoots(),
        },
        requestState: Buffer.from(JSON.stringify({ round: 1 })).toString('base64url'),
      });
    }
    if (state.round === 1) {
      const who = got.who;
      if (!who || who.action !== 'accept') {
        return text({ action: who?.action ?? 'none' });
      }
      const name = who.content?.name;
      const roots = (got.where?.roots ?? []).map((r) => r.uri);
      return inputRequired({
        inputRequests: {
          greeting: inputRequired.createMessage({
            messages: [{ role: 'user', content: { type: 'text', text: `Greet ${name}` } }],
            maxTokens: 50,
          }),
        },
        requestState: Buffer.from(JSON.stringify({ round: 2, name, roots })).toString('base64url'),
      });
    }
    const g = got.greeting;
    return text({ action: 'accept', name: state.name, roots: state.roots, said: g?.content?.text, model: g?.model });
  });
  return server;
}

const mode = process.argv[2] ?? 'stdio';
if (mode === 'stdio') {
  serveStdio(newServer);
} else {
  const handler = createMcpHandler(newServer);
  const httpServer = http.createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const headers = new Headers();
    for (const [k, v] of Object.entries(req.headers)) {
      if (typeof v === 'string') headers.set(k, v);
    }
    let body = ['GET', 'HEAD'].includes(req.method) ? undefined : Buffer.concat(chunks);
    if (body && process.argv[3] === 'ignore-caps') {
      const msg = JSON.parse(body.toString());
      if (msg.params?._meta?.['io.modelcontextprotocol/clientCapabilities']) {
        msg.params._meta['io.modelcontextprotocol/clientCapabilities'] = { elicitation: {}, sampling: {}, roots: {} };
      }
      body = JSON.stringify(msg);
      headers.delete('content-length');
    }
    const response = await handler.fetch(new Request(`http://${req.headers.host}${req.url}`, { method: req.method, headers, body }));
    res.writeHead(response.status, Object.fromEntries(response.headers));
    if (response.body) {
      for await (const chunk of response.body) res.write(chunk);
    }
    res.end();
  });
  httpServer.listen(0, '127.0.0.1', () => {
    console.log(JSON.stringify({ url: `http://127.0.0.1:${httpServer.address().port}/mcp` }));
  });
}
