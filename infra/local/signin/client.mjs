// The MCP TypeScript SDK's OAuth client signing in to kitegate end to end,
// as an AI client would: discovery from the 401, dynamic registration (or a
// Client ID Metadata Document, or a pre-registered client id), the browser
// part through a scripted browser (the IdP's login form, the IdP's consent,
// kitegate's consent), then tools/list and tools/call, a refresh after the
// access token stops working, and a replayed refresh token.
//
//   node client.mjs <mcp url> <user> [--client-id ID | --metadata-url URL]
//
// Prints one JSON line: what happened at each step, for the Go test to
// judge. Exits non-zero only on an unexpected failure.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const [mcpUrl, user, mode, modeArg] = process.argv.slice(2);
const redirectUrl = 'http://127.0.0.1:45678/callback';
const out = { steps: [], requests: {} };
// Every HTTP request of the sign-in, by who answered it (kitegate or the
// IdP) — the SDK's and the browser's alike.
const realFetch = globalThis.fetch;
const kitegateHost = new URL(mcpUrl).host;
globalThis.fetch = (input, init) => {
  const u = new URL(input instanceof Request ? input.url : input);
  const who = u.host === kitegateHost ? 'kitegate' : 'idp';
  out.requests[who] = (out.requests[who] ?? 0) + 1;
  if (who === 'kitegate' && u.pathname === '/oauth/register') out.register_calls = (out.register_calls ?? 0) + 1;
  return realFetch(input, init);
};
const step = (s) => out.steps.push(s);

// A scripted browser: manual redirects, a cookie jar per host, and HTML
// forms submitted with their hidden fields (and the login typed in).
const jar = new Map();
async function browse(url) {
  let method = 'GET';
  let body;
  for (let i = 0; i < 30; i++) {
    const u = new URL(url);
    if (url.startsWith(redirectUrl)) return u;
    const headers = { cookie: [...(jar.get(u.host) ?? new Map())].map(([k, v]) => `${k}=${v}`).join('; ') };
    if (body) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await fetch(url, { method, body, headers, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair] = c.split(';');
      const eq = pair.indexOf('=');
      if (!jar.has(u.host)) jar.set(u.host, new Map());
      jar.get(u.host).set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
    }
    if (res.status >= 300 && res.status < 400) {
      url = new URL(res.headers.get('location'), url).toString();
      method = 'GET';
      body = undefined;
      continue;
    }
    const html = await res.text();
    const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
    if (res.status !== 200 || !form) throw new Error(`browser stuck at ${url}: ${res.status} ${html.slice(0, 300)}`);
    const attr = (tag, name) => (new RegExp(`\\b${name}\\s*=\\s*"([^"]*)"`, 'i').exec(tag) ?? [])[1];
    const unescape = (s) => s?.replace(/&amp;/g, '&').replace(/&#34;|&quot;/g, '"').replace(/&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
    const params = new URLSearchParams();
    for (const m of form[2].matchAll(/<(?:input|button)\b([^>]*)>/gi)) {
      const name = attr(m[1], 'name');
      const value = unescape(attr(m[1], 'value')) ?? '';
      if (!name) continue;
      if (name === 'login') params.set(name, user);
      else if (name === 'password') params.set(name, 'any password');
      else if (name === 'decision') { if (value === 'approve') params.set(name, value); }
      else if (attr(m[1], 'type') === 'hidden') params.set(name, value);
    }
    if (url.includes('/oauth/consent')) {
      step('kitegate consent page');
      out.consent_lists_tools = html.includes('<code>list_builds</code>');
      out.consent_names_document = mode === '--metadata-url' && html.includes(`<code>${modeArg}</code>`);
    }
    url = new URL(unescape(attr(form[1], 'action')), url).toString();
    method = 'POST';
    body = params.toString();
  }
  throw new Error('browser: too many pages');
}

let code;
const store = { client: undefined, tokens: undefined, verifier: undefined };
if (mode === '--client-id') store.client = { client_id: modeArg };
let tokenSaves = 0;
const provider = {
  get redirectUrl() { return redirectUrl; },
  get clientMetadata() {
    return { client_name: 'kitegate sign-in test', redirect_uris: [redirectUrl], grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'], token_endpoint_auth_method: 'none' };
  },
  clientMetadataUrl: mode === '--metadata-url' ? modeArg : undefined,
  clientInformation() { return store.client; },
  saveClientInformation(info) {
    store.client = info;
    // The SDK saves a metadata URL as the client id, and stamps a
    // pre-registered id with the issuer; anything else is a registration.
    if (mode && info.client_id === modeArg) step(mode === '--metadata-url' ? 'metadata document URL as client id' : 'pre-registered id bound to the issuer');
    else step('registered');
  },
  tokens() { return store.tokens; },
  saveTokens(t) { store.tokens = t; tokenSaves++; },
  async redirectToAuthorization(url) {
    step('authorize');
    out.authorize_params = Object.fromEntries(url.searchParams);
    const back = await browse(url.toString());
    code = back.searchParams.get('code');
    if (!code) throw new Error(`no code: ${back}`);
  },
  saveCodeVerifier(v) { store.verifier = v; },
  codeVerifier() { return store.verifier; },
};

async function connect() {
  const client = new Client({ name: 'kitegate-signin-test', version: '1.0.0' });
  try {
    await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }));
    return client;
  } catch (e) {
    if (!(e instanceof UnauthorizedError)) throw e;
  }
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  await transport.finishAuth(code);
  step('signed in');
  const again = new Client({ name: 'kitegate-signin-test', version: '1.0.0' });
  await again.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }));
  return again;
}

const call = (client) => client.callTool({ name: 'list_builds', arguments: { org_slug: 'acme' } });

try {
  const client = await connect();
  out.signin_requests = { ...out.requests }; // from the first POST /mcp to a connected client
  out.client_id = store.client?.client_id;
  out.tools = (await client.listTools()).tools.map((t) => t.name);
  out.first_call_error = (await call(client)).isError === true;
  out.access_token = store.tokens.access_token;
  out.has_refresh_token = Boolean(store.tokens.refresh_token);

  // The access token stops working (as at expiry): the SDK meets the 401,
  // refreshes silently and retries.
  const firstRefresh = store.tokens.refresh_token;
  store.tokens = { ...store.tokens, access_token: store.tokens.access_token.slice(0, -8) + 'AAAAAAAA' };
  const saves = tokenSaves;
  out.call_after_expiry_error = (await call(client)).isError === true;
  out.refreshed = tokenSaves > saves && store.tokens.refresh_token !== firstRefresh;
  out.authorize_count = out.steps.filter((s) => s === 'authorize').length;

  // A stolen copy of the first refresh token is replayed: refused, and the
  // family is revoked, so the client's current refresh token dies too.
  const meta = await (await fetch(new URL('/.well-known/oauth-authorization-server', mcpUrl))).json();
  const replay = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: firstRefresh, client_id: store.client.client_id, resource: mcpUrl }),
  });
  out.replay = { status: replay.status, ...(await replay.json()) };
  const current = await fetch(meta.token_endpoint, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: store.tokens.refresh_token, client_id: store.client.client_id, resource: mcpUrl }),
  });
  out.after_replay = { status: current.status, ...(await current.json()) };
  await client.close();
} catch (e) {
  out.error = String(e?.stack ?? e);
}
console.log(JSON.stringify(out));
