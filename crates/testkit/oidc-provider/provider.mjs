// A real OpenID Connect provider for Writ's tests (oidc-provider 9.x, Node >= 20.12),
// started by writ_testkit::OidcProvider. Listens on 127.0.0.1 only; all state in memory.
// Recipe and pitfalls: /work/shared/OIDC-TEST-PROVIDER.md (the project's notes).
//
// Environment:
//   OP_PORT            port to listen on; 0 (default) = pick a free one
//   OP_CLIENT_ID       Writ's client (default "writ"): a public native client
//                      (RFC 8252: any port on 127.0.0.1, PKCE, no secret), with the
//                      authorization code and device authorization grants
//   OP_OTHER_CLIENT_ID a second client of the same kind (default "other-app"), whose
//                      ID tokens carry the wrong audience for Writ
//   OP_TEST_SIGNING=1  serve POST /test/sign: signs the JSON claims of the body with
//                      this provider's own key (RS256, its JWKS `kid`), so that tests
//                      can make tokens no honest provider would issue (expired ones)
// When listening it prints ONE line to stdout:
//   OIDC_PROVIDER_READY {"issuer":"http://127.0.0.1:NNNN","port":NNNN,"pid":NNNN}
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import Provider from 'oidc-provider';

const env = process.env;
const HOST = '127.0.0.1';
const PORT = Number(env.OP_PORT ?? 0);
const CLIENT_IDS = [env.OP_CLIENT_ID ?? 'writ', env.OP_OTHER_CLIENT_ID ?? 'other-app'];

// Any login name typed into the dev login form is accepted (the password is
// ignored); `sub` is the login name, and so is `preferred_username`.
async function findAccount(_ctx, id) {
  return {
    accountId: id,
    async claims() {
      return {
        sub: id,
        preferred_username: id,
        email: `${id}@example.test`,
        email_verified: true,
        name: id,
        groups: id === 'alice' ? ['approvers', 'staff'] : ['staff'],
      };
    },
  };
}

// A fresh signing key per run: a relying party must fetch the JWKS, not pin a key.
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const kid = randomBytes(8).toString('hex');
const signingJwk = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256', kid };

const client = (clientId) => ({
  client_id: clientId,
  application_type: 'native',
  token_endpoint_auth_method: 'none',
  redirect_uris: ['http://127.0.0.1/callback', 'http://127.0.0.1/portal/callback'],
  grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'],
  response_types: ['code'],
  id_token_signed_response_alg: 'RS256',
});

const configuration = {
  clients: CLIENT_IDS.map(client),
  findAccount,
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name', 'preferred_username'],
    groups: ['groups'],
  },
  // Scope claims in the ID token itself, not only from userinfo.
  conformIdTokenClaims: false,
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: true },
    deviceFlow: { enabled: true },
    userinfo: { enabled: true },
  },
  jwks: { keys: [signingJwk] },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  ttl: { AccessToken: 3600, AuthorizationCode: 60, DeviceCode: 600, IdToken: 3600, Interaction: 600, Session: 3600, Grant: 3600 },
  async renderError(ctx, out) {
    ctx.type = 'json';
    ctx.body = out;
  },
};

const b64u = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

function testSign(req, res) {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    try {
      const input = `${b64u({ alg: 'RS256', typ: 'JWT', kid })}.${b64u(JSON.parse(body))}`;
      const signature = sign('sha256', Buffer.from(input), privateKey).toString('base64url');
      res.writeHead(200, { 'content-type': 'application/jwt' }).end(`${input}.${signature}`);
    } catch (e) {
      res.writeHead(400).end(String(e));
    }
  });
}

// Listen first so that port 0 can be resolved into the issuer URL.
const server = createServer();
server.on('error', (e) => {
  // The harness retries on another port when it reads this (writ_testkit::process).
  console.error(e.code === 'EADDRINUSE' ? `Address already in use: ${e.message}` : e);
  process.exit(1);
});
server.listen(PORT, HOST, () => {
  const { port } = server.address();
  const issuer = `http://${HOST}:${port}`;
  const provider = new Provider(issuer, configuration);
  provider.on('server_error', (_ctx, err) => console.error('server_error', err));
  const handle = provider.callback();
  server.on('request', (req, res) => {
    if (env.OP_TEST_SIGNING === '1' && req.method === 'POST' && req.url === '/test/sign') return testSign(req, res);
    return handle(req, res);
  });
  console.log(`OIDC_PROVIDER_READY ${JSON.stringify({ issuer, port, pid: process.pid })}`);
});

const stop = () => { server.close(() => process.exit(0)); server.closeAllConnections(); };
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
