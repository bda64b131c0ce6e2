// A real OpenID Provider (npm oidc-provider) standing in for the company
// IdP in the sign-in tests: listens on 127.0.0.1 on a free port, prints
// {"issuer": ...} as its first line, and exits when its standard input
// closes. kitegate is its one confidential client:
//   IDP_CLIENT_ID, IDP_CLIENT_SECRET, IDP_REDIRECT_URI
// Users sign in through oidc-provider's development login form with any
// password; their claims are below, or IDP_USERS (a JSON object of sub ->
// {email, email_verified, groups}: make run-signin passes the dev token
// file's users). With IDP_INTROSPECTION=1 it also serves RFC 7662
// introspection and RFC 7009 revocation, and its (opaque) access tokens
// carry the user's email and groups, which introspection returns.
import http from 'node:http';
import Provider from 'oidc-provider';

const users = process.env.IDP_USERS ? JSON.parse(process.env.IDP_USERS) : {
  alice: { email: 'alice@example.com', email_verified: true, groups: ['engineering', 'platform-oncall'] },
  bob: { email: 'bob@example.com', email_verified: true, groups: [] },
  mallory: { email: 'alice@example.com', email_verified: false, groups: ['engineering'] },
  dev: { email: 'dev@example.com', email_verified: true, groups: ['x'] },
};

const server = http.createServer();
server.listen(0, '127.0.0.1', () => {
  const issuer = `http://127.0.0.1:${server.address().port}`;
  const provider = new Provider(issuer, {
    // IDP_OTHER_CLIENT names a second client (same secret and redirect):
    // another application of the company whose tokens are not kitegate's.
    clients: [process.env.IDP_CLIENT_ID, process.env.IDP_OTHER_CLIENT].filter(Boolean).map((id) => ({
      client_id: id,
      client_secret: process.env.IDP_CLIENT_SECRET,
      redirect_uris: [process.env.IDP_REDIRECT_URI],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'client_secret_basic',
    })),
    claims: { openid: ['sub'], email: ['email', 'email_verified'], groups: ['groups'] },
    conformIdTokenClaims: false, // the ID token carries the granted claims
    pkce: { required: () => true },
    ...(process.env.IDP_INTROSPECTION === '1' ? {
      features: { introspection: { enabled: true }, revocation: { enabled: true } },
      async extraTokenClaims(ctx, token) {
        const user = token.kind === 'AccessToken' && users[token.accountId];
        if (!user) return undefined;
        return { email: user.email, email_verified: user.email_verified, groups: user.groups };
      },
    } : {}),
    async findAccount(ctx, id) {
      const user = users[id];
      if (!user) return undefined;
      return { accountId: id, claims: async () => ({ sub: id, ...user }) };
    },
  });
  server.on('request', provider.callback());
  console.log(JSON.stringify({ issuer }));
});
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
