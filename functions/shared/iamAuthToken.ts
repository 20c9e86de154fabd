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
  const amzDate = (options.signingDate ?? new Date())
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  const day = amzDate.slice(0, 8);
  const scope = `${day}/${region}/rds-db/aws4_request`;
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
  const canonicalQuery = queryString(query);
  const emptyPayload = createHash('sha256').update('').digest('hex');
  const canonicalRequest = ['GET', '/', canonicalQuery, `host:${host}`, '', 'host', emptyPayload].join('\n');
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  let key: Buffer = hmac(`AWS4${credentials.secretAccessKey}`, day);
  for (const part of [region, 'rds-db', 'aws4_request']) key = hmac(key, part);
  const signature = createHmac('sha256', key).update(stringToSign).digest('hex');
  return `${host}/?${queryString({ ...query, 'X-Amz-Signature': signature })}`;
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
