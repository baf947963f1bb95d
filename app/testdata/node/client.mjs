// client.mjs drives an MCP server with the official TypeScript SDK client
// over Streamable HTTP and prints what it saw as one JSON line.
//
//   node client.mjs URL [TOOL] [ARGS-JSON] [PROGRESS-TOOL]
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';

const [url, tool = 'echo', argsJSON = '{"text":"hello"}', progressTool = ''] = process.argv.slice(2);
const client = new Client({ name: 'ts-interop', version: '1.0.0' });
const transport = new StreamableHTTPClientTransport(new URL(url));
await client.connect(transport);
const out = { sessionId: transport.sessionId, protocolVersion: transport.protocolVersion };
out.tools = (await client.listTools()).tools.map((t) => t.name).sort();
const res = await client.callTool({ name: tool, arguments: JSON.parse(argsJSON) });
out.text = res.content?.[0]?.text;
if (progressTool) {
  let progress = 0;
  await client.callTool({ name: progressTool, arguments: {} }, undefined, { onprogress: () => progress++ });
  out.progress = progress;
}
await transport.terminateSession();
await client.close();
console.log(JSON.stringify(out));
