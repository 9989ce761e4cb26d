import { createHmac, timingSafeEqual } from 'crypto';
import type {
  IDataObject,
  IExecuteFunctions,
  IHookFunctions,
  IHttpRequestMethods,
  IHttpRequestOptions,
  INodeProperties,
  JsonObject,
} from 'n8n-workflow';
import { NodeApiError } from 'n8n-workflow';

export const CREDENTIAL = 'wagateApi';

type Context = IExecuteFunctions | IHookFunctions;

export interface Answer {
  status: number;
  body: unknown;
}

/** The error body every refusal of the gateway carries (docs/api.md, "Errors"). */
interface ErrorBody {
  error?: { code?: string; message?: string; details?: IDataObject };
}

/** One call of the gateway's API with the credential's token. A refusal becomes a
 * NodeApiError whose message starts with the gateway's error code, so a workflow (or its
 * error branch) can tell `not_on_whatsapp` from `instance_not_connected`. `allow` lists the
 * statuses the caller handles itself (a 404 that means "no webhook"). */
export async function wagateRequest(
  this: Context,
  method: IHttpRequestMethods,
  path: string,
  options: { body?: IDataObject; qs?: IDataObject; headers?: IDataObject; allow?: number[] } = {},
  itemIndex?: number,
): Promise<Answer> {
  const credentials = await this.getCredentials(CREDENTIAL);
  const request: IHttpRequestOptions = {
    method,
    baseURL: String(credentials.url).replace(/\/+$/, ''),
    url: path,
    json: true,
    returnFullResponse: true,
    ignoreHttpStatusErrors: true,
  };
  if (options.body !== undefined) request.body = options.body;
  if (options.qs !== undefined) request.qs = options.qs;
  if (options.headers !== undefined) request.headers = options.headers;
  const response = (await this.helpers.httpRequestWithAuthentication.call(
    this,
    CREDENTIAL,
    request,
  )) as { statusCode: number; body: unknown };
  const status = response.statusCode;
  if (status >= 400 && !(options.allow ?? []).includes(status)) {
    throw refusal(this, status, response.body, itemIndex);
  }
  return { status, body: response.body };
}

export function refusal(
  context: Context,
  status: number,
  body: unknown,
  itemIndex?: number,
): NodeApiError {
  const error = (typeof body === 'object' && body !== null ? (body as ErrorBody).error : undefined) ?? {};
  const code = error.code ?? `http_${status}`;
  const text = error.message ?? (typeof body === 'string' && body ? body : `HTTP ${status}`);
  const details = error.details === undefined ? '' : JSON.stringify(error.details);
  return new NodeApiError(
    context.getNode(),
    { code, message: text, details: error.details ?? {}, httpCode: String(status) } as JsonObject,
    {
      message: `${code}: ${text}`,
      description: details || undefined,
      httpCode: String(status),
      itemIndex,
    },
  );
}

/** `message_received` → `Message Received`: a gateway name as an option's label. */
export function title(name: string): string {
  return name
    .split('_')
    .map((word) => word.charAt(0).toUpperCase() + word.slice(1))
    .join(' ');
}

/** The instance every operation and the trigger act on. */
export function instanceParameter(description: string): INodeProperties {
  return {
    displayName: 'Instance',
    name: 'instance',
    type: 'string',
    default: '',
    required: true,
    placeholder: 'shop',
    description,
  };
}

/** A name or JID as one segment of a path. */
export function segment(value: string): string {
  return encodeURIComponent(value.trim());
}

/** A list given as text: one entry per comma or line. */
export function list(value: string): string[] {
  return value
    .split(/[,\n]/)
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
}

/** Whether `header` (X-Wagate-Signature: `t=<unix s>,v1=<hex>`) signs `body` with `secret`,
 * within `toleranceS` of now (docs/webhooks.md, "Verifying the signature"). */
export function verifySignature(
  secret: string,
  header: string,
  body: Buffer,
  toleranceS = 300,
  nowS = Date.now() / 1000,
): boolean {
  const fields = header.split(',').map((item) => {
    const at = item.indexOf('=');
    return at < 0 ? [item.trim(), ''] : [item.slice(0, at).trim(), item.slice(at + 1).trim()];
  });
  const timestamp = fields.find(([key]) => key === 't')?.[1] ?? '';
  if (!/^\d+$/.test(timestamp) || Math.abs(nowS - Number(timestamp)) > toleranceS) return false;
  const expected = createHmac('sha256', secret)
    .update(Buffer.concat([Buffer.from(`${timestamp}.`), body]))
    .digest();
  return fields
    .filter(([key, value]) => key === 'v1' && /^[0-9a-f]{64}$/i.test(value))
    .some(([, value]) => timingSafeEqual(expected, Buffer.from(value, 'hex')));
}
