import type {
  IAuthenticateGeneric,
  ICredentialTestRequest,
  ICredentialType,
  INodeProperties,
} from 'n8n-workflow';

export class WagateApi implements ICredentialType {
  name = 'wagateApi';

  displayName = 'wagate API';

  icon = 'file:wagate.svg' as const;

  documentationUrl = 'https://github.com/wagate/wagate/blob/main/docs/integrations.md';

  properties: INodeProperties[] = [
    {
      displayName: 'Gateway URL',
      name: 'url',
      type: 'string',
      default: 'http://127.0.0.1:8080',
      placeholder: 'https://wagate.example.com',
      description: 'The address of a wagate node (any node of a cluster)',
      required: true,
    },
    {
      displayName: 'Token',
      name: 'token',
      type: 'string',
      typeOptions: { password: true },
      default: '',
      description:
        "An instance token (it can use that instance only) or the admin token",
      required: true,
    },
  ];

  authenticate: IAuthenticateGeneric = {
    type: 'generic',
    properties: {
      headers: { Authorization: '=Bearer {{$credentials.token}}' },
    },
  };

  // Both kinds of token may list instances: the admin sees all, an instance token its own.
  test: ICredentialTestRequest = {
    request: {
      baseURL: '={{$credentials.url.replace(/\\/+$/, "")}}',
      url: '/v1/instances',
    },
  };
}
