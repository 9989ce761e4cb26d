import { randomBytes } from 'crypto';
import type {
  IDataObject,
  IHookFunctions,
  INodeType,
  INodeTypeDescription,
  IWebhookFunctions,
  IWebhookResponseData,
} from 'n8n-workflow';
import { NodeConnectionTypes } from 'n8n-workflow';

import gateway from './gateway.json';
import {
  CREDENTIAL,
  instanceParameter,
  segment,
  title,
  verifySignature,
  wagateRequest,
} from './GenericFunctions';

interface WebhookOut {
  url?: string;
  events?: string[] | null;
}

interface Stored extends IDataObject {
  secret?: string;
  url?: string;
}

function sameEvents(registered: string[] | null | undefined, wanted: string[]): boolean {
  const a = [...(registered ?? [])].sort();
  const b = [...wanted].sort();
  return a.length === b.length && a.every((event, i) => event === b[i]);
}

/** The instance's webhook route, and what it holds now (`undefined`: no webhook). */
async function registered(context: IHookFunctions): Promise<{ path: string; webhook?: WebhookOut }> {
  const path = `/v1/instances/${segment(context.getNodeParameter('instance') as string)}/webhook`;
  const answer = await wagateRequest.call(context, 'GET', path, { allow: [404] });
  return { path, webhook: answer.status === 404 ? undefined : (answer.body as WebhookOut) };
}

/** The events chosen, in the gateway's terms: an empty choice is every event (null). */
function chosenEvents(context: IHookFunctions | IWebhookFunctions): string[] {
  return context.getNodeParameter('events', []) as string[];
}

export class WagateTrigger implements INodeType {
  description: INodeTypeDescription = {
    displayName: 'wagate Trigger',
    name: 'wagateTrigger',
    icon: 'file:wagate.svg',
    group: ['trigger'],
    version: 1,
    subtitle: '={{$parameter["events"].join(", ") || "every event"}}',
    description:
      "Starts the workflow on a wagate instance's events: sets the instance's webhook to this workflow while it is active, and checks the signature of every delivery",
    defaults: { name: 'wagate Trigger' },
    inputs: [],
    outputs: [NodeConnectionTypes.Main],
    credentials: [{ name: CREDENTIAL, required: true }],
    webhooks: [
      {
        name: 'default',
        httpMethod: 'POST',
        responseMode: 'onReceived',
        path: 'webhook',
      },
    ],
    properties: [
      instanceParameter(
        "The instance whose events start the workflow. Its webhook is this workflow's while the workflow is active (an instance has one webhook: a URL set before is replaced).",
      ),
      {
        displayName: 'Events',
        name: 'events',
        type: 'multiOptions',
        options: gateway.events.map((event) => ({ name: title(event), value: event })),
        default: ['message_received'],
        description: 'The events that start the workflow; none chosen: every event',
      },
      {
        displayName: 'Ignore Own Messages',
        name: 'ignoreOwn',
        type: 'boolean',
        default: true,
        description:
          'Whether a message_received sent from this account (from_me: from the phone or another linked device) is left out, so a workflow that answers messages does not answer itself',
      },
    ],
  };

  webhookMethods = {
    default: {
      async checkExists(this: IHookFunctions): Promise<boolean> {
        const stored = this.getWorkflowStaticData('node') as Stored;
        const { webhook } = await registered(this);
        if (webhook === undefined || stored.secret === undefined) return false;
        const url = this.getNodeWebhookUrl('default');
        return webhook.url === url && sameEvents(webhook.events, chosenEvents(this));
      },

      async create(this: IHookFunctions): Promise<boolean> {
        const stored = this.getWorkflowStaticData('node') as Stored;
        const url = this.getNodeWebhookUrl('default') as string;
        const instance = segment(this.getNodeParameter('instance') as string);
        const events = chosenEvents(this);
        // A fresh secret per activation: the gateway signs with it, only this workflow knows it.
        const secret = randomBytes(32).toString('hex');
        await wagateRequest.call(this, 'PUT', `/v1/instances/${instance}/webhook`, {
          body: { url, events: events.length > 0 ? events : null, secret },
        });
        stored.secret = secret;
        stored.url = url;
        return true;
      },

      async delete(this: IHookFunctions): Promise<boolean> {
        const stored = this.getWorkflowStaticData('node') as Stored;
        const { path, webhook } = await registered(this);
        // Only this workflow's webhook is removed: a URL set since by someone else stays.
        if (webhook !== undefined && webhook.url === this.getNodeWebhookUrl('default')) {
          await wagateRequest.call(this, 'DELETE', path, { allow: [404] });
        }
        delete stored.secret;
        delete stored.url;
        return true;
      },
    },
  };

  async webhook(this: IWebhookFunctions): Promise<IWebhookResponseData> {
    const request = this.getRequestObject() as ReturnType<IWebhookFunctions['getRequestObject']> & {
      rawBody?: Buffer;
    };
    const stored = this.getWorkflowStaticData('node') as Stored;
    const response = this.getResponseObject();
    if (stored.secret === undefined) {
      // n8n keeps the secret just after the webhook is set: a delivery in between is asked to
      // come again (the gateway retries a 503) rather than refused for good.
      response.set('Retry-After', '5');
      response.status(503).json({ error: { code: 'unavailable', message: 'the trigger is starting' } });
      return { noWebhookResponse: true };
    }
    const header = String(request.headers['x-wagate-signature'] ?? '');
    const raw = request.rawBody;
    // The signature covers the bytes as sent: without them nothing can be checked, and an
    // unchecked delivery must not start the workflow.
    if (raw === undefined || !verifySignature(stored.secret, header, raw)) {
      response.status(401).json({ error: { code: 'unauthorized', message: 'bad signature' } });
      return { noWebhookResponse: true };
    }
    const event = this.getBodyData() as IDataObject;
    const events = chosenEvents(this);
    const data = (event.data ?? {}) as IDataObject;
    const ignoreOwn = this.getNodeParameter('ignoreOwn', true) as boolean;
    const wanted = events.length === 0 || events.includes(String(event.event));
    const own = ignoreOwn && event.event === 'message_received' && data.from_me === true;
    if (!wanted || own) {
      // Received and checked, but not for this workflow: answered 200 without an execution.
      return { webhookResponse: { received: true } };
    }
    return { workflowData: [this.helpers.returnJsonArray([event])] };
  }
}
