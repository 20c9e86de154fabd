import { Sha256 } from '@smithy/core/checksum';
import { buildQueryString, HttpRequest } from '@smithy/core/protocols';
import { SignatureV4 } from '@smithy/signature-v4';

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
 * used as the password of one new connection. The same token `@aws-sdk/rds-signer` makes (a test compares them).
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
  const signer = new SignatureV4({ service: 'rds-db', region, credentials, sha256: Sha256 });
  const request = new HttpRequest({
    method: 'GET',
    protocol: 'https:',
    hostname,
    port,
    path: '/',
    query: { Action: 'connect', DBUser: username },
    headers: { host: `${hostname}:${port}` },
  });
  const presigned = await signer.presign(request, { expiresIn: 900, signingDate: options.signingDate });
  return `${hostname}:${port}${presigned.path}?${buildQueryString(presigned.query ?? {})}`;
}
