import type {
  IDataObject,
  IExecuteFunctions,
  IHttpRequestMethods,
  INodeExecutionData,
  INodeProperties,
  INodeType,
  INodeTypeDescription,
} from 'n8n-workflow';
import { NodeConnectionTypes, NodeOperationError } from 'n8n-workflow';

import gateway from './gateway.json';
import { CREDENTIAL, instanceParameter, list, segment, title, wagateRequest } from './GenericFunctions';

/** What one operation calls: the method, the path under /v1/instances/{instance} and, for a
 * list, the key of the answer whose entries become the output items. */
interface Call {
  method: IHttpRequestMethods;
  path: string;
  body?: IDataObject;
  qs?: IDataObject;
  headers?: IDataObject;
  items?: string;
}

type Builder = (ctx: IExecuteFunctions, i: number) => Call | Promise<Call>;

const show = (resource: string, operation: string[]) => ({
  show: { resource: [resource], operation },
});

function text(ctx: IExecuteFunctions, name: string, i: number): string {
  return String(ctx.getNodeParameter(name, i, '')).trim();
}

/** The query of a listing: only the parameters given. */
function query(ctx: IExecuteFunctions, i: number, names: string[]): IDataObject {
  const qs: IDataObject = {};
  for (const name of names) {
    const value = ctx.getNodeParameter(name, i, '') as string | number;
    if (value !== '' && value !== 0) qs[name] = value;
  }
  return qs;
}

function json(ctx: IExecuteFunctions, name: string, i: number): unknown {
  const value = ctx.getNodeParameter(name, i, '') as unknown;
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    throw new NodeOperationError(ctx.getNode(), `${name} is not valid JSON`, { itemIndex: i });
  }
}

// --- sending: the kinds and their fields come from the gateway (gateway.json) --------------

interface Field {
  name: string;
  type: 'string' | 'number' | 'boolean' | 'json';
  description: string;
  kinds: string[];
  required: string[];
  default?: boolean | number | string | null;
}

const FIELDS = gateway.fields as Field[];
const MEDIA_KINDS = FIELDS.find((field) => field.name === 'media')?.kinds ?? [];
// The fields of one kind first, those every kind has (reply_to, mentions…) after them.
const ORDERED = [...FIELDS].sort(
  (a, b) => Number(a.kinds.length === gateway.kinds.length) - Number(b.kinds.length === gateway.kinds.length),
);

// A document's file name may come from the binary property it is sent from: n8n must not
// refuse to run a workflow that leaves it empty (the gateway still wants one).
const FROM_BINARY = new Set(['filename']);

function fieldParameter(field: Field): INodeProperties {
  const required = field.required.length === field.kinds.length && !FROM_BINARY.has(field.name);
  const base = {
    displayName: title(field.name),
    name: field.name,
    required,
    description: field.description || undefined,
    displayOptions: { show: { resource: ['message'], operation: ['send'], kind: field.kinds } },
  };
  switch (field.type) {
    case 'boolean':
      return { ...base, type: 'boolean', default: (field.default as boolean | undefined) ?? false };
    case 'number':
      return { ...base, type: 'number', default: (field.default as number | undefined) ?? 0, typeOptions: { numberPrecision: 6 } };
    case 'json':
      return { ...base, type: 'json', default: '' };
    default:
      return { ...base, type: 'string', default: '', typeOptions: field.name === 'text' ? { rows: 3 } : undefined };
  }
}

function sendBody(ctx: IExecuteFunctions, i: number, kind: string): IDataObject {
  const body: IDataObject = { to: text(ctx, 'to', i) };
  for (const field of FIELDS.filter((f) => f.kinds.includes(kind))) {
    const value = ctx.getNodeParameter(field.name, i, field.type === 'boolean' ? false : '') as unknown;
    const required = field.required.includes(kind);
    if (field.type === 'json') {
      if (value !== '' && value !== undefined) body[field.name] = json(ctx, field.name, i) as IDataObject;
    } else if (field.type === 'boolean') {
      if (value === true) body[field.name] = true;
    } else if (field.type === 'number') {
      if (required || value !== (field.default ?? 0)) body[field.name] = Number(value);
    } else if (required || value !== '') {
      // An empty string is a value for some fields (an empty emoji takes a reaction back).
      body[field.name] = String(value);
    }
  }
  return body;
}

/** The media of the send from a binary property of the item (a file downloaded or received
 * earlier in the workflow), instead of the Media field; a document keeps the file's name. */
async function binaryMedia(ctx: IExecuteFunctions, i: number, kind: string, body: IDataObject): Promise<void> {
  const property = MEDIA_KINDS.includes(kind) ? text(ctx, 'binaryProperty', i) : '';
  if (property === '') return;
  const binary = ctx.helpers.assertBinaryData(i, property);
  const bytes = await ctx.helpers.getBinaryDataBuffer(i, property);
  body.media = { base64: bytes.toString('base64'), mimetype: binary.mimeType };
  if (kind === 'document' && !body.filename && binary.fileName) body.filename = binary.fileName;
}

async function send(ctx: IExecuteFunctions, i: number): Promise<Call> {
  const kind = text(ctx, 'kind', i);
  const key = text(ctx, 'idempotencyKey', i);
  const body = sendBody(ctx, i, kind);
  await binaryMedia(ctx, i, kind, body);
  return {
    method: 'POST',
    path: `/send/${segment(kind)}`,
    body,
    qs: ctx.getNodeParameter('async', i, false) ? { async: 'true' } : undefined,
    headers: key ? { 'Idempotency-Key': key } : undefined,
  };
}

// --- the operations ------------------------------------------------------------------------

const CALLS: Record<string, Record<string, Builder>> = {
  message: {
    send,
    get: (ctx, i) => ({ method: 'GET', path: `/messages/${segment(text(ctx, 'correlationId', i))}` }),
    list: (ctx, i) => ({
      method: 'GET',
      path: '/messages',
      qs: query(ctx, i, ['status', 'limit', 'cursor']),
      items: 'messages',
    }),
    edit: (ctx, i) => ({
      method: 'PATCH',
      path: `/messages/${segment(text(ctx, 'correlationId', i))}`,
      body: { text: text(ctx, 'newText', i) },
    }),
    delete: (ctx, i) => ({
      method: 'DELETE',
      path: `/messages/${segment(text(ctx, 'correlationId', i))}`,
      qs: { for: text(ctx, 'deleteFor', i) || 'everyone' },
    }),
  },
  chat: {
    list: (ctx, i) => ({ method: 'GET', path: '/chats', qs: query(ctx, i, ['limit', 'before']), items: 'chats' }),
    get: (ctx, i) => ({ method: 'GET', path: `/chats/${segment(text(ctx, 'chat', i))}` }),
    history: (ctx, i) => ({
      method: 'GET',
      path: `/chats/${segment(text(ctx, 'chat', i))}/messages`,
      qs: query(ctx, i, ['limit', 'before', 'after', 'kind', 'direction', 'since', 'until']),
      items: 'messages',
    }),
    search: (ctx, i) => ({
      method: 'GET',
      path: '/messages/search',
      qs: query(ctx, i, ['q', 'chat', 'limit']),
      items: 'messages',
    }),
    markRead: (ctx, i) => ({
      method: 'POST',
      path: `/chats/${segment(text(ctx, 'chat', i))}/read`,
      body: { message_ids: list(text(ctx, 'messageIds', i)) },
    }),
  },
  contact: {
    check: (ctx, i) => ({
      method: 'POST',
      path: '/contacts/check',
      body: { phones: list(text(ctx, 'phones', i)) },
      items: 'results',
    }),
    get: (ctx, i) => ({ method: 'GET', path: `/contacts/${segment(text(ctx, 'contact', i))}` }),
    list: (ctx, i) => ({ method: 'GET', path: '/contacts', qs: query(ctx, i, ['limit']), items: 'contacts' }),
  },
  group: {
    list: (ctx, i) => ({ method: 'GET', path: '/groups', qs: query(ctx, i, ['limit']), items: 'groups' }),
    get: (ctx, i) => ({ method: 'GET', path: `/groups/${segment(text(ctx, 'group', i))}` }),
    create: (ctx, i) => {
      const body: IDataObject = {
        subject: text(ctx, 'subject', i),
        participants: list(text(ctx, 'participants', i)),
      };
      const description = text(ctx, 'description', i);
      if (description) body.description = description;
      return { method: 'POST', path: '/groups', body };
    },
    update: (ctx, i) => ({
      method: 'PATCH',
      path: `/groups/${segment(text(ctx, 'group', i))}`,
      body: ctx.getNodeParameter('updateFields', i, {}) as IDataObject,
    }),
    participants: (ctx, i) => ({
      method: 'POST',
      path: `/groups/${segment(text(ctx, 'group', i))}/participants`,
      body: { action: text(ctx, 'participantAction', i), participants: list(text(ctx, 'participants', i)) },
      items: 'results',
    }),
    invite: (ctx, i) => ({ method: 'GET', path: `/groups/${segment(text(ctx, 'group', i))}/invite` }),
    leave: (ctx, i) => ({ method: 'POST', path: `/groups/${segment(text(ctx, 'group', i))}/leave` }),
  },
  instance: {
    get: () => ({ method: 'GET', path: '' }),
    connect: () => ({ method: 'POST', path: '/connect' }),
    disconnect: () => ({ method: 'POST', path: '/disconnect' }),
    restart: () => ({ method: 'POST', path: '/restart' }),
  },
};

const OPERATIONS: Record<string, Array<[string, string, string]>> = {
  message: [
    ['send', 'Send', 'Send a message of any kind'],
    ['get', 'Get Record', "A send's record and status, by its correlation ID"],
    ['list', 'List Records', "The instance's sends, newest first"],
    ['edit', 'Edit', 'Edit a sent text or caption'],
    ['delete', 'Delete', 'Revoke a sent message, or cancel one still queued'],
  ],
  chat: [
    ['list', 'List', 'The chats, most recent activity first'],
    ['get', 'Get', 'One chat'],
    ['history', 'Get History', "A chat's messages"],
    ['search', 'Search Messages', 'Messages holding every word of a query'],
    ['markRead', 'Mark Read', 'Mark messages of a chat read'],
  ],
  contact: [
    ['check', 'Check Numbers', 'Which phone numbers are on WhatsApp'],
    ['get', 'Get', "A contact's names, about and picture"],
    ['list', 'List', 'The people the instance heard from'],
  ],
  group: [
    ['list', 'List', 'The groups the instance is in'],
    ['get', 'Get', 'A group with its participants'],
    ['create', 'Create', 'Create a group'],
    ['update', 'Update', "Change a group's settings"],
    ['participants', 'Manage Participants', 'Add, remove, promote or demote participants'],
    ['invite', 'Get Invite Link', "The group's invite link"],
    ['leave', 'Leave', 'Leave the group'],
  ],
  instance: [
    ['get', 'Get Status', 'The status, phone and settings of the instance'],
    ['connect', 'Connect', 'Start connecting'],
    ['disconnect', 'Disconnect', 'Close the connection, keep the session'],
    ['restart', 'Restart', 'Disconnect, then connect'],
  ],
};

const operationParameters: INodeProperties[] = Object.entries(OPERATIONS).map(([resource, ops]) => ({
  displayName: 'Operation',
  name: 'operation',
  type: 'options',
  noDataExpression: true,
  displayOptions: { show: { resource: [resource] } },
  options: ops.map(([value, name, description]) => ({ name, value, description, action: `${name} (${resource})` })),
  default: ops[0][0],
}));

const listLimit = (resource: string, operations: string[]): INodeProperties => ({
  displayName: 'Limit',
  name: 'limit',
  type: 'number',
  typeOptions: { minValue: 0, maxValue: 500 },
  default: 0,
  description: "How many to return; 0: the gateway's default",
  displayOptions: show(resource, operations),
});

const plain = (
  name: string,
  displayName: string,
  resource: string,
  operations: string[],
  extra: Partial<INodeProperties> = {},
): INodeProperties => ({
  displayName,
  name,
  type: 'string',
  default: '',
  displayOptions: show(resource, operations),
  ...extra,
});

export class Wagate implements INodeType {
  description: INodeTypeDescription = {
    displayName: 'wagate',
    name: 'wagate',
    icon: 'file:wagate.svg',
    group: ['output'],
    version: 1,
    subtitle: '={{$parameter["operation"] + ": " + $parameter["resource"]}}',
    description: 'Send WhatsApp messages and manage chats, contacts and groups through a wagate gateway',
    defaults: { name: 'wagate' },
    inputs: [NodeConnectionTypes.Main],
    outputs: [NodeConnectionTypes.Main],
    usableAsTool: true,
    credentials: [{ name: CREDENTIAL, required: true }],
    properties: [
      {
        displayName: 'Resource',
        name: 'resource',
        type: 'options',
        noDataExpression: true,
        options: [
          { name: 'Message', value: 'message' },
          { name: 'Chat', value: 'chat' },
          { name: 'Contact', value: 'contact' },
          { name: 'Group', value: 'group' },
          { name: 'Instance', value: 'instance' },
        ],
        default: 'message',
      },
      ...operationParameters,
      instanceParameter('The name of the wagate instance (the WhatsApp number) to use'),
      // message: send
      {
        displayName: 'Kind',
        name: 'kind',
        type: 'options',
        options: gateway.kinds.map((kind) => ({ name: title(kind), value: kind })),
        default: 'text',
        displayOptions: show('message', ['send']),
      },
      plain('to', 'To', 'message', ['send'], {
        required: true,
        placeholder: '+5511987654321',
        description: 'A phone number in international form, or a JID (…@s.whatsapp.net, …@g.us for a group)',
      }),
      ...ORDERED.map(fieldParameter),
      {
        displayName: 'Binary Property',
        name: 'binaryProperty',
        type: 'string',
        default: '',
        placeholder: 'data',
        description:
          "The item's binary property to send as the media (a file read or downloaded earlier in the workflow), instead of the Media field",
        displayOptions: { show: { resource: ['message'], operation: ['send'], kind: MEDIA_KINDS } },
      },
      {
        displayName: 'Async',
        name: 'async',
        type: 'boolean',
        default: false,
        description:
          "Whether the send is queued and answered at once with its correlation ID (the message's record says how it went), instead of waiting for WhatsApp's message ID",
        displayOptions: show('message', ['send']),
      },
      plain('idempotencyKey', 'Idempotency Key', 'message', ['send'], {
        description: 'The same key within 24 hours sends nothing again and answers as the first time',
      }),
      // message: records
      plain('correlationId', 'Correlation ID', 'message', ['get', 'edit', 'delete'], { required: true }),
      plain('newText', 'Text', 'message', ['edit'], { required: true }),
      {
        displayName: 'Delete For',
        name: 'deleteFor',
        type: 'options',
        options: [
          { name: 'Everyone', value: 'everyone' },
          { name: 'Me', value: 'me' },
        ],
        default: 'everyone',
        displayOptions: show('message', ['delete']),
      },
      {
        displayName: 'Status',
        name: 'status',
        type: 'options',
        options: ['', 'queued', 'sending', 'sent', 'delivered', 'read', 'failed', 'cancelled'].map((s) => ({
          name: s ? title(s) : 'Any',
          value: s,
        })),
        default: '',
        displayOptions: show('message', ['list']),
      },
      listLimit('message', ['list']),
      plain('cursor', 'Cursor', 'message', ['list'], { description: 'next_cursor of the previous page' }),
      // chat
      plain('chat', 'Chat', 'chat', ['get', 'history', 'markRead'], {
        required: true,
        description: 'A phone number or a JID',
      }),
      listLimit('chat', ['list', 'history', 'search']),
      plain('before', 'Before', 'chat', ['list', 'history'], { description: 'A cursor: the page before it' }),
      plain('after', 'After', 'chat', ['history'], {
        description: 'A cursor: the messages newer than it, oldest first (for polling)',
      }),
      {
        displayName: 'Kind',
        name: 'kind',
        type: 'options',
        options: [{ name: 'Any', value: '' }, ...gateway.kinds.map((kind) => ({ name: title(kind), value: kind }))],
        default: '',
        displayOptions: show('chat', ['history']),
      },
      {
        displayName: 'Direction',
        name: 'direction',
        type: 'options',
        options: [
          { name: 'Both', value: '' },
          { name: 'Received', value: 'in' },
          { name: 'Sent', value: 'out' },
        ],
        default: '',
        displayOptions: show('chat', ['history']),
      },
      plain('since', 'Since', 'chat', ['history'], { description: 'ISO 8601 time: at or after' }),
      plain('until', 'Until', 'chat', ['history'], { description: 'ISO 8601 time: before' }),
      plain('q', 'Query', 'chat', ['search'], { required: true, description: 'Every word must match (as a prefix)' }),
      plain('chat', 'Chat', 'chat', ['search'], { description: 'Only in this chat' }),
      plain('messageIds', 'Message IDs', 'chat', ['markRead'], {
        required: true,
        description: 'WhatsApp message IDs, separated by commas',
      }),
      // contact
      plain('phones', 'Phone Numbers', 'contact', ['check'], {
        required: true,
        description: 'Separated by commas or lines',
      }),
      plain('contact', 'Contact', 'contact', ['get'], { required: true, description: 'A phone number or a JID' }),
      listLimit('contact', ['list']),
      // group
      plain('group', 'Group JID', 'group', ['get', 'update', 'participants', 'invite', 'leave'], {
        required: true,
        placeholder: '120363000000000000@g.us',
      }),
      listLimit('group', ['list']),
      plain('subject', 'Subject', 'group', ['create'], { required: true }),
      plain('participants', 'Participants', 'group', ['create', 'participants'], {
        required: true,
        description: 'Phone numbers or JIDs, separated by commas',
      }),
      plain('description', 'Description', 'group', ['create']),
      {
        displayName: 'Action',
        name: 'participantAction',
        type: 'options',
        options: ['add', 'remove', 'promote', 'demote'].map((a) => ({ name: title(a), value: a })),
        default: 'add',
        displayOptions: show('group', ['participants']),
      },
      {
        displayName: 'Update Fields',
        name: 'updateFields',
        type: 'collection',
        placeholder: 'Add Field',
        default: {},
        displayOptions: show('group', ['update']),
        options: [
          { displayName: 'Subject', name: 'subject', type: 'string', default: '' },
          { displayName: 'Description', name: 'description', type: 'string', default: '' },
          { displayName: 'Announce', name: 'announce', type: 'boolean', default: false, description: 'Whether only admins send' },
          { displayName: 'Locked', name: 'locked', type: 'boolean', default: false, description: 'Whether only admins edit the group' },
          { displayName: 'Join Approval', name: 'join_approval', type: 'boolean', default: false, description: 'Whether joining by link needs an admin' },
          {
            displayName: 'Disappearing Messages',
            name: 'ephemeral_s',
            type: 'options',
            options: [
              { name: 'Off', value: 0 },
              { name: '24 Hours', value: 86400 },
              { name: '7 Days', value: 604800 },
              { name: '90 Days', value: 7776000 },
            ],
            default: 0,
          },
        ],
      },
    ],
  };

  async execute(this: IExecuteFunctions): Promise<INodeExecutionData[][]> {
    const items = this.getInputData();
    const output: INodeExecutionData[] = [];
    for (let i = 0; i < items.length; i++) {
      try {
        output.push(...(await run(this, i)));
      } catch (error) {
        if (!this.continueOnFail()) throw error;
        output.push({ json: { error: (error as Error).message }, pairedItem: { item: i } });
      }
    }
    return [output];
  }
}

async function run(ctx: IExecuteFunctions, i: number): Promise<INodeExecutionData[]> {
  const resource = ctx.getNodeParameter('resource', i) as string;
  const operation = ctx.getNodeParameter('operation', i) as string;
  const build = CALLS[resource]?.[operation];
  if (build === undefined) {
    throw new NodeOperationError(ctx.getNode(), `unknown operation ${resource}.${operation}`, { itemIndex: i });
  }
  const call = await build(ctx, i);
  const instance = segment(text(ctx, 'instance', i));
  const answer = await wagateRequest.call(
    ctx,
    call.method,
    `/v1/instances/${instance}${call.path}`,
    { body: call.body, qs: call.qs, headers: call.headers },
    i,
  );
  const body = (typeof answer.body === 'object' && answer.body !== null ? answer.body : {}) as IDataObject;
  if (call.items !== undefined && Array.isArray(body[call.items])) {
    return (body[call.items] as IDataObject[]).map((json) => ({ json, pairedItem: { item: i } }));
  }
  // A 204 has no body: the item says what was done.
  const json = answer.status === 204 ? { success: true } : body;
  return [{ json, pairedItem: { item: i } }];
}
