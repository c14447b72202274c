// npm oidc-provider on 127.0.0.1 for signet's OAuth 2.0 interop cases.
// Usage: node oidc_server.mjs PORT CALLBACK_URL [ACCESS_TOKEN_TTL_SECONDS]
// Clients: cc-basic (client_secret_basic), cc-post (client_secret_post), both client_credentials;
// app (public, authorization_code + PKCE S256, rotating refresh tokens); rs (introspection).
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const callback = process.argv[3];
const ttl = Number(process.argv[4] || 3600);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: 'cc-basic',
      client_secret: 'basic-secret-with:colon',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_basic',
      scope: 'api:read api:write',
    },
    {
      client_id: 'cc-post',
      client_secret: 'post-secret',
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
      scope: 'api:read',
    },
    {
      client_id: 'app',
      application_type: 'native',
      token_endpoint_auth_method: 'none',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      redirect_uris: [callback],
    },
    {
      client_id: 'rs',
      client_secret: 'rs-secret',
      grant_types: [],
      response_types: [],
      redirect_uris: [],
    },
  ],
  scopes: ['openid', 'offline_access', 'api:read', 'api:write'],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: true },
  },
  ttl: {
    AccessToken: ttl,
    ClientCredentials: ttl,
    RefreshToken: 3600,
  },
  // Refresh tokens for the app whether or not it asked for offline_access.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  cookies: { keys: ['interop-only-cookie-key'] },
});

provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider on ${issuer}`));
