// npm oidc-provider on 127.0.0.1 for signet's OAuth 2.0 interop cases.
// Usage: node oidc_server.mjs PORT CALLBACK_URL [ACCESS_TOKEN_TTL_SECONDS [PARAMS_LOG]]
// Clients: cc-basic (client_secret_basic), cc-post (client_secret_post), both client_credentials;
// app (public, authorization_code + PKCE S256, rotating refresh tokens); rs (introspection).
// Revocation (RFC 7009) is on, for the cases that make an API refuse a token.
// Resource indicators (RFC 8707): every absolute URI names a resource server whose access tokens
// are JWTs (RFC 9068) with `aud` = the indicator. Auth0's `audience` parameter is taken the way
// Auth0 takes it: when no `resource` is sent, it names the resource server, and a token request
// carrying it gets a token for the API granted at authorization. PARAMS_LOG, when
// given, gets one JSON line per authorization and token request with the `audience` and
// `resource` parameters as they arrived on the wire. ID_TOKEN_TTL (environment, seconds) sets the
// ID tokens' lifetime apart from the access tokens'.
import { appendFileSync } from 'node:fs';
import Provider from 'oidc-provider';

const port = Number(process.argv[2]);
const callback = process.argv[3];
const ttl = Number(process.argv[4] || 3600);
const paramsLog = process.argv[5];
const issuer = `http://127.0.0.1:${port}`;

// At the token endpoint oidc-provider drops parameters it does not know (audience), so the
// form as posted is read from the parsed body.
const requested = (ctx, name) => ctx.oidc.body?.[name] ?? ctx.oidc.params?.[name];

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
  extraParams: ['audience'],
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
    devInteractions: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx, client, oneOf) => oneOf ?? requested(ctx, 'audience'),
      getResourceServerInfo: async (ctx, indicator) => ({
        scope: 'api:read api:write',
        audience: indicator,
        accessTokenFormat: 'jwt',
        accessTokenTTL: ttl,
        jwt: { sign: { alg: 'RS256' } },
      }),
      useGrantedResource: async (ctx) => requested(ctx, 'audience') !== undefined,
    },
  },
  ttl: {
    AccessToken: ttl,
    ClientCredentials: ttl,
    RefreshToken: 3600,
    IdToken: Number(process.env.ID_TOKEN_TTL || 3600),
  },
  // Refresh tokens for the app whether or not it asked for offline_access.
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  cookies: { keys: ['interop-only-cookie-key'] },
});

if (paramsLog) {
  provider.use(async (ctx, next) => {
    await next();
    const route = ctx.oidc?.route;
    if (route === 'authorization' || route === 'token') {
      // The wire form: ctx.oidc.params already holds what defaultResource filled in.
      const wire = (route === 'token' ? ctx.oidc.body : ctx.query) ?? {};
      const line = {
        route,
        grant_type: wire.grant_type ?? null,
        audience: wire.audience ?? null,
        resource: wire.resource ?? null,
      };
      appendFileSync(paramsLog, `${JSON.stringify(line)}\n`);
    }
  });
}

provider.on('server_error', (ctx, err) => console.error('server_error', err));
provider.listen(port, '127.0.0.1', () => console.log(`oidc-provider on ${issuer}`));
