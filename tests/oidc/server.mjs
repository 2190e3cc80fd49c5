// Runs the real `oidc-provider` on 127.0.0.1 for oauthkit's integration tests.
//
//   node server.mjs /path/to/config.json [--exit-with-stdin]
//
// Prints exactly one line `LISTENING <port>` on stdout once the server accepts connections;
// everything else (warnings, errors) goes to stderr. Exits 0 on SIGTERM/SIGINT and, with
// --exit-with-stdin, when stdin reaches EOF (so the server never outlives the test process
// that started it with a stdin pipe, even if that process is killed).
//
// Config file (JSON, every key optional):
//   clients                 array of client metadata (snake_case, as oidc-provider expects)
//   ttl                     { AccessToken, AuthorizationCode, RefreshToken, DeviceCode, IdToken,
//                             Grant, Interaction, Session, ClientCredentials } in seconds
//   rotateRefreshToken      boolean (default true)
//   clockTolerance          seconds (default 0)
//   alwaysIssueRefreshToken boolean (default false: refresh tokens only with offline_access,
//                           which oidc-provider keeps at /authorize only with prompt=consent)
//   pkceRequired            boolean (default false: PKCE required for public clients only)
//   resourceServers         { "<resource indicator>": { scope, accessTokenFormat, audience,
//                             accessTokenTTL } } (default: urn:example:api, JWT access tokens)
//   strictClientAuthMethod  boolean (default true: reject client_secret_basic from a client
//                           registered for client_secret_post and vice versa; oidc-provider
//                           itself accepts either secret method from both kinds of client)
//   verbose                 boolean (default false: drop oidc-provider's known harmless notices)
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import { format } from 'node:util';

const configPath = process.argv[2];
if (!configPath) {
  process.stderr.write('usage: node server.mjs <config.json>\n');
  process.exit(2);
}
const config = JSON.parse(readFileSync(configPath, 'utf8'));

// stdout carries only the LISTENING line: send every console method to stderr, and drop the
// notices oidc-provider prints for a development setup unless `verbose` is set. This has to
// happen before oidc-provider is imported (it warns about the Node version at import time).
const HARMLESS = [
  /^oidc-provider NOTICE: /,
  /Unsupported runtime/,
  /in-memory adapter/i,
  /devInteractions is enabled/,
  /already parsed request body detected/, // strictClientAuthMethod hands the body on
];
const toStderr = (...args) => {
  const line = format(...args);
  if (!config.verbose && HARMLESS.some((re) => re.test(line))) return;
  process.stderr.write(`${line}\n`);
};
for (const method of ['log', 'info', 'debug', 'warn', 'error', 'trace']) {
  console[method] = toStderr;
}

const { default: Provider, errors } = await import('oidc-provider');

const shutdown = () => process.exit(0);
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
if (process.argv.includes('--exit-with-stdin')) {
  process.stdin.on('end', shutdown);
  process.stdin.on('error', shutdown);
  process.stdin.resume();
}

const DEFAULT_TTL = {
  AccessToken: 3600,
  AuthorizationCode: 60,
  ClientCredentials: 600,
  DeviceCode: 600,
  Grant: 14 * 24 * 3600,
  IdToken: 3600,
  Interaction: 3600,
  RefreshToken: 14 * 24 * 3600,
  Session: 14 * 24 * 3600,
};

const DEFAULT_RESOURCE_SERVERS = {
  'urn:example:api': { scope: 'api:read api:write', accessTokenFormat: 'jwt' },
};

function signingKeys() {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: `test-rs256-${randomUUID()}`, alg: 'RS256', use: 'sig' }] };
}

const alwaysIssueRefreshToken = config.alwaysIssueRefreshToken === true;
const pkceRequired = config.pkceRequired === true;
const resourceServers = config.resourceServers ?? DEFAULT_RESOURCE_SERVERS;

const configuration = {
  clients: config.clients ?? [],
  jwks: signingKeys(),
  cookies: {
    keys: ['oauthkit-test-cookie-key-1', 'oauthkit-test-cookie-key-2'],
  },
  claims: {
    openid: ['sub'],
    email: ['email'],
    profile: ['name'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile'],
  async findAccount(_ctx, accountId) {
    return {
      accountId,
      async claims() {
        return {
          sub: accountId,
          email: `${accountId}@example.test`,
          name: `Test User ${accountId}`,
        };
      },
    };
  },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    revocation: { enabled: true },
    introspection: { enabled: true },
    clientCredentials: { enabled: true },
    userinfo: { enabled: true },
    resourceIndicators: {
      enabled: true,
      // No `resource` parameter -> no resource server -> opaque access token, usable at userinfo.
      async defaultResource(_ctx, _client, oneOf) {
        return oneOf ?? undefined;
      },
      async useGrantedResource() {
        return false;
      },
      async getResourceServerInfo(_ctx, resourceIndicator) {
        const info = resourceServers[resourceIndicator];
        if (!info) throw new errors.InvalidTarget(`unknown resource indicator ${resourceIndicator}`);
        return {
          scope: info.scope ?? '',
          audience: info.audience ?? resourceIndicator,
          accessTokenFormat: info.accessTokenFormat ?? 'jwt',
          accessTokenTTL: info.accessTokenTTL ?? config.ttl?.AccessToken ?? DEFAULT_TTL.AccessToken,
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  pkce: {
    required: (_ctx, client) => pkceRequired || client.clientAuthMethod === 'none',
  },
  // oidc-provider's default, plus an opt-in to issue regardless of offline_access. Note that
  // /authorize drops offline_access unless prompt includes consent (see the notes).
  async issueRefreshToken(_ctx, client, source) {
    if (!client.grantTypeAllowed('refresh_token')) return false;
    return alwaysIssueRefreshToken || source.scopes.has('offline_access');
  },
  rotateRefreshToken: config.rotateRefreshToken ?? true,
  clockTolerance: config.clockTolerance ?? 0,
  ttl: { ...DEFAULT_TTL, ...(config.ttl ?? {}) },
  // Test server: allow CORS from any origin (also silences a "you SHOULD change" notice).
  clientBasedCORS: () => true,
};

// Endpoints that authenticate clients (oidc-provider's default routes).
const CLIENT_AUTH_PATHS = new Set([
  '/token',
  '/token/introspection',
  '/token/revocation',
  '/device/auth',
  '/request',
]);
const SECRET_METHODS = new Set(['client_secret_basic', 'client_secret_post']);
const BODY_LIMIT = 56 * 1024;

async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw new Error('request entity too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function basicClientId(header) {
  const [scheme, value] = header.split(' ');
  if (scheme?.toLowerCase() !== 'basic' || !value) return undefined;
  const decoded = Buffer.from(value, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  try {
    return decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, '%20'));
  } catch {
    return undefined; // oidc-provider answers invalid_request for this itself
  }
}

// oidc-provider accepts client_secret_basic and client_secret_post interchangeably from a
// client registered for either (lib/shared/client_auth.js). To let tests prove which method a
// client library used, reject the other one with 401 invalid_client before oidc-provider runs.
// The body is read here and handed on as a Buffer in req.body, which oidc-provider supports.
function strictClientAuthMethod(clientsById) {
  return async (ctx, next) => {
    if (
      ctx.method !== 'POST'
      || !CLIENT_AUTH_PATHS.has(ctx.path)
      || !ctx.is('application/x-www-form-urlencoded')
    ) {
      return next();
    }
    const raw = await readBody(ctx.req);
    ctx.req.body = raw;
    const body = parseQuery(raw.toString('utf8'));
    let used;
    let clientId;
    if (ctx.headers.authorization !== undefined) {
      used = 'client_secret_basic';
      clientId = basicClientId(ctx.headers.authorization);
    } else if (body.client_secret !== undefined) {
      used = 'client_secret_post';
      clientId = body.client_id;
    }
    const client = typeof clientId === 'string' ? clientsById.get(clientId) : undefined;
    const registered = client?.token_endpoint_auth_method ?? 'client_secret_basic';
    if (client && used && SECRET_METHODS.has(registered) && used !== registered) {
      ctx.status = 401;
      ctx.set('Cache-Control', 'no-store');
      if (used === 'client_secret_basic') {
        ctx.set('WWW-Authenticate', `Basic realm="${ctx.origin}"`);
      }
      ctx.body = {
        error: 'invalid_client',
        error_description: `client authenticated with ${used} but is registered for ${registered}`,
      };
      return undefined;
    }
    return next();
  };
}

const clientsById = new Map(structuredClone(configuration.clients).map((c) => [c.client_id, c]));

const server = createServer();
server.listen(0, '127.0.0.1', async () => {
  const { port } = server.address();
  const provider = new Provider(`http://127.0.0.1:${port}`, configuration);
  provider.on('server_error', (_ctx, err) => {
    console.error('oidc-provider server_error:', err);
  });
  // oidc-provider validates static clients lazily (an invalid one answers
  // invalid_client_metadata on first use); fail at startup instead.
  for (const { client_id: clientId } of configuration.clients) {
    try {
      await provider.Client.find(clientId);
    } catch (err) {
      process.stderr.write(
        `invalid client ${JSON.stringify(clientId)}: ${err.message}: ${err.error_description ?? ''}\n`,
      );
      process.exit(1);
    }
  }
  if (config.strictClientAuthMethod ?? true) {
    provider.use(strictClientAuthMethod(clientsById));
  }
  server.on('request', provider.callback());
  process.stdout.write(`LISTENING ${port}\n`);
});
