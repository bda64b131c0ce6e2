// The official TypeScript MCP SDK client (@modelcontextprotocol/sdk, the
// library under Claude Code, Claude Desktop's mcp-remote bridge, Cursor and
// most agents) driving kitegate, for TestClientMatrix.
//
// Reads a plan from stdin:
//   {"modules": "<node_modules>", "url": "http://127.0.0.1:PORT/mcp",
//    "protocolVersion": "2025-06-18",
//    "calls": [{"name": "get_build", "arguments": {...}}],
//    "outputSchemas": {"get_build": {...}}}
// and writes what happened to stdout as JSON:
//   {"protocolVersion": "...", "tools": ["..."], "listError": "...",
//    "calls": [{"name": "...", "error": "..."}]}
// A call's error is empty when the SDK accepted the result, the tool did
// not fail, its structured content validates against the tool's output
// schema (with the SDK's own Ajv validator) and its text block is the same
// JSON.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { isDeepStrictEqual } from 'node:util';

const plan = JSON.parse(readFileSync(0, 'utf8'));
const require = createRequire(plan.modules + '/');
const load = (name) => import(pathToFileURL(require.resolve(name)).href);
const { Client } = await load('@modelcontextprotocol/sdk/client/index.js');
const { StreamableHTTPClientTransport } = await load('@modelcontextprotocol/sdk/client/streamableHttp.js');
const { AjvJsonSchemaValidator } = await load('@modelcontextprotocol/sdk/validation/ajv');

const out = { protocolVersion: '', tools: [], listError: '', calls: [] };
const message = (e) => (e instanceof Error ? e.message : String(e));

const transport = new StreamableHTTPClientTransport(new URL(plan.url));
// The SDK always offers its newest protocol version; offer the one under
// test instead, as an older client would.
const send = transport.send.bind(transport);
transport.send = (msg, opts) => {
  if (msg.method === 'initialize') {
    msg = { ...msg, params: { ...msg.params, protocolVersion: plan.protocolVersion } };
  }
  return send(msg, opts);
};
const client = new Client({ name: 'kitegate-client-matrix', version: '1.0.0' });
await client.connect(transport);
out.protocolVersion = transport.protocolVersion ?? '';

try {
  const { tools } = await client.listTools();
  out.tools = tools.map((t) => t.name);
} catch (e) {
  out.listError = message(e);
}

const validator = new AjvJsonSchemaValidator();
for (const call of plan.calls) {
  let error = '';
  try {
    const res = await client.callTool({ name: call.name, arguments: call.arguments });
    const text = res.content?.find((c) => c.type === 'text')?.text ?? '';
    const schema = plan.outputSchemas?.[call.name];
    if (res.isError) {
      error = 'tool error: ' + text;
    } else if (schema && res.structuredContent === undefined) {
      error = 'no structured content';
    } else if (schema) {
      const v = validator.getValidator(schema)(res.structuredContent);
      if (!v.valid) {
        error = 'structured content does not match the output schema: ' + v.errorMessage;
      } else if (!isDeepStrictEqual(JSON.parse(text), res.structuredContent)) {
        error = 'the text block and the structured content differ';
      }
    }
  } catch (e) {
    error = message(e);
  }
  out.calls.push({ name: call.name, error });
}
await client.close();
process.stdout.write(JSON.stringify(out));
