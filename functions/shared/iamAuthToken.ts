import { createHash, createHmac } from 'node:crypto';

/** The function role's credentials, which Lambda puts in every function's environment. */
export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

/**
 * Read the credentials Lambda provides (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
 * Only these: the SDK's full provider chain (profiles, SSO, IMDS…) would triple the bundle and its cold start.
 *
 * @example
 * const credentials = credentialsFromEnv(); // throws, naming the variables, when they are missing
 */
export function credentialsFromEnv(env: NodeJS.ProcessEnv = process.env): AwsCredentials {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    throw new Error(
      'IAM database authentication needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the environment (Lambda sets them from the function role)',
    );
  }
  return { accessKeyId, secretAccessKey, ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}) };
}

/**
 * An RDS IAM authentication token: a SigV4 presigned `connect` request for `username`, valid 15 minutes,
 * used as the password of one new connection. The same token `@aws-sdk/rds-signer` makes (a test compares
 * them). Signed here with node:crypto, following AWS's Signature Version 4 for a presigned GET (the query
 * carries the credential scope and the signature; the only signed header is `host`; the payload is empty):
 * the SDK's signer would bring @smithy/core into every bundle, about 350 KB of source that each cold start
 * parses for this one small function.
 *
 * @example
 * const password = await iamAuthToken({ hostname: proxyEndpoint, port: 5432, username: 'sluice_api',
 *   region: 'eu-west-1', credentials: credentialsFromEnv() });
 */
export async function iamAuthToken(options: {
  hostname: string;
  port: number;
  username: string;
  region: string;
  credentials: AwsCredentials;
  signingDate?: Date;
}): Promise<string> {
  const { hostname, port, username, region, credentials } = options;
  const amzDate = amzDateOf(options.signingDate ?? new Date());
  const scope = scopeOf(amzDate, region, 'rds-db');
  const host = `${hostname}:${port}`;
  const query: Record<string, string> = {
    Action: 'connect',
    DBUser: username,
    'X-Amz-Algorithm': 'AWS4-HMAC-SHA256',
    'X-Amz-Credential': `${credentials.accessKeyId}/${scope}`,
    'X-Amz-Date': amzDate,
    'X-Amz-Expires': '900',
    ...(credentials.sessionToken ? { 'X-Amz-Security-Token': credentials.sessionToken } : {}),
    'X-Amz-SignedHeaders': 'host',
  };
  const canonicalRequest = ['GET', '/', queryString(query), `host:${host}`, '', 'host', sha256Hex('')].join('\n');
  const signature = signatureOf(credentials, amzDate, region, 'rds-db', canonicalRequest);
  return `${host}/?${queryString({ ...query, 'X-Amz-Signature': signature })}`;
}

/**
 * Sign an HTTP request with SigV4 in its headers (as `@smithy/signature-v4` does; a test compares them):
 * returns `headers` with `host`, `x-amz-date`, `x-amz-security-token` (with a session) and `authorization`
 * added. Every header given is signed. For `sluice smoke`'s calls of the IAM-authorized API (`execute-api`).
 *
 * @example
 * const headers = signRequest({ method: 'GET', url: new URL(`${api}/v1/queues`), headers: {}, region, service: 'execute-api', credentials });
 */
export function signRequest(options: {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: string | undefined;
  region: string;
  service: string;
  credentials: AwsCredentials;
  signingDate?: Date;
}): Record<string, string> {
  const { url, region, service, credentials } = options;
  const amzDate = amzDateOf(options.signingDate ?? new Date());
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(options.headers)) headers[k.toLowerCase()] = v;
  headers.host = url.host;
  headers['x-amz-date'] = amzDate;
  if (credentials.sessionToken) headers['x-amz-security-token'] = credentials.sessionToken;
  const names = Object.keys(headers).sort();
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  const path = url.pathname.split('/').map(uriEncode).join('/');
  const canonicalRequest = [
    options.method.toUpperCase(),
    path,
    queryString(query),
    ...names.map((n) => `${n}:${String(headers[n]).trim().replace(/\s+/g, ' ')}`),
    '',
    names.join(';'),
    sha256Hex(options.body ?? ''),
  ].join('\n');
  const signature = signatureOf(credentials, amzDate, region, service, canonicalRequest);
  const credential = `${credentials.accessKeyId}/${scopeOf(amzDate, region, service)}`;
  headers.authorization = `AWS4-HMAC-SHA256 Credential=${credential}, SignedHeaders=${names.join(';')}, Signature=${signature}`;
  return headers;
}

/** SigV4's timestamp: `20261124T123456Z`. */
const amzDateOf = (d: Date) =>
  d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
const scopeOf = (amzDate: string, region: string, service: string) => `${amzDate.slice(0, 8)}/${region}/${service}/aws4_request`;
const sha256Hex = (data: string) => createHash('sha256').update(data).digest('hex');

/** The signature of a canonical request: its hash signed with the key derived for the day, region and service. */
function signatureOf(credentials: AwsCredentials, amzDate: string, region: string, service: string, canonicalRequest: string): string {
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scopeOf(amzDate, region, service), sha256Hex(canonicalRequest)].join('\n');
  let key: Buffer = hmac(`AWS4${credentials.secretAccessKey}`, amzDate.slice(0, 8));
  for (const part of [region, service, 'aws4_request']) key = hmac(key, part);
  return createHmac('sha256', key).update(stringToSign).digest('hex');
}

const hmac = (key: string | Buffer, data: string): Buffer => createHmac('sha256', key).update(data).digest();

/** SigV4's URI encoding: every byte but the unreserved characters (A–Z a–z 0–9 - _ . ~) percent-encoded. */
const uriEncode = (v: string) => encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);

/** Keys sorted by code point, each key and value URI-encoded. */
function queryString(query: Record<string, string>): string {
  return Object.keys(query)
    .sort()
    .map((k) => `${uriEncode(k)}=${uriEncode(query[k] as string)}`)
    .join('&');
}
