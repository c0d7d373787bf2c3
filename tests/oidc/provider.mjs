// An Entra-shaped OpenID provider for the end-to-end tests and the local run.
//
// Two real oidc-provider instances on 127.0.0.1, one per Entra token version,
// sharing one RSA key as Entra's v1 and v2 issuers share their keys:
//   v2: issuer https://login.microsoftonline.com/<tid>/v2.0  (azp, ver 2.0)
//   v1: issuer https://sts.windows.net/<tid>/                (appid, ver 1.0)
// Both serve discovery, /jwks and the client_credentials grant with resource
// indicators (`resource=api://…` becomes `aud`). App tokens carry what Entra puts
// in them: tid, oid, roles, idtyp "app", scp instead of scope, sub = oid.
//
// Configuration (environment):
//   E2E_TENANT_ID  tenant GUID
//   E2E_RESOURCES  comma list of resource indicators the provider will issue for
//   E2E_CLIENTS    JSON array of {client_id, client_secret, oid, roles, expired?};
//                  `expired: true` makes tokens that expired ten minutes before issue
// Prints one JSON line {"v2": port, "v1": port} on stdout once both listen.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import Provider, { errors } from 'oidc-provider';

const tenant = required('E2E_TENANT_ID');
const resources = new Set(required('E2E_RESOURCES').split(','));
const clients = JSON.parse(required('E2E_CLIENTS'));
const byId = new Map(clients.map((client) => [client.client_id, client]));

const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const key = { ...privateKey.export({ format: 'jwk' }), kid: randomUUID(), use: 'sig' };

function required(name) {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return value;
}

function provider(issuer, version) {
  const oidc = new Provider(issuer, {
    jwks: { keys: [key] },
    clients: clients.map(({ client_id, client_secret }) => ({
      client_id,
      client_secret,
      grant_types: ['client_credentials'],
      response_types: [],
      redirect_uris: [],
      token_endpoint_auth_method: 'client_secret_post',
    })),
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => false,
        getResourceServerInfo(_ctx, resource) {
          if (!resources.has(resource)) throw new errors.InvalidTarget();
          return { scope: '', audience: resource, accessTokenFormat: 'jwt', jwt: { sign: { alg: 'RS256' } } };
        },
      },
    },
    extraTokenClaims(_ctx, token) {
      const client = byId.get(token.clientId);
      const calling = version === '2.0' ? { azp: client.client_id, azpacr: '1' } : { appid: client.client_id, appidacr: '1' };
      // Entra leaves `roles` out when the app holds none.
      const roles = client.roles?.length ? { roles: client.roles } : {};
      return { ...calling, tid: tenant, oid: client.oid, ...roles, idtyp: 'app', ver: version };
    },
    formats: {
      customizers: {
        jwt(_ctx, token, jwt) {
          const { payload } = jwt;
          payload.sub = payload.oid;
          if (payload.scope !== undefined) {
            payload.scp = payload.scope;
            delete payload.scope;
          }
          delete payload.client_id;
          if (byId.get(token.clientId)?.expired) {
            payload.nbf = payload.iat - 1200;
            payload.iat -= 1200;
            payload.exp = payload.iat + 600;
          }
          return jwt;
        },
      },
    },
  });
  oidc.on('server_error', (_ctx, error) => console.error(`${version}: ${error.stack}`));
  return oidc;
}

function listen(oidc) {
  const server = createServer(oidc.callback());
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server.address().port)));
}

const [v2, v1] = await Promise.all([
  listen(provider(`https://login.microsoftonline.com/${tenant}/v2.0`, '2.0')),
  listen(provider(`https://sts.windows.net/${tenant}/`, '1.0')),
]);
console.log(JSON.stringify({ v2, v1 }));
