// sse-client.mjs drives an MCP server with the official TypeScript SDK
// client over the 2024-11-05 HTTP+SSE transport and prints what it saw as
// one JSON line.
//
//   node sse-client.mjs SSE-URL [TOOL] [ARGS-JSON] [PROGRESS-TOOL] [PROGRESS-ARGS-JSON]
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';

const [url, tool = 'echo', argsJSON = '{"text":"hello"}', progressTool = '', progressArgs = '{}'] = process.argv.slice(2);
const client = new Client({ name: 'ts-sse-interop', version: '1.0.0' });
const transport = new SSEClientTransport(new URL(url));
await client.connect(transport);
const out = { sessionId: transport.sessionId ?? '', protocolVersion: client.getServerVersion() ? 'ok' : '' };
out.tools = (await client.listTools()).tools.map((t) => t.name).sort();
const res = await client.callTool({ name: tool, arguments: JSON.parse(argsJSON) });
out.text = res.content?.[0]?.text;
if (progressTool) {
  let progress = 0;
  await client.callTool({ name: progressTool, arguments: JSON.parse(progressArgs) }, undefined, { onprogress: () => progress++ });
  out.progress = progress;
}
await client.close();
console.log(JSON.stringify(out));
