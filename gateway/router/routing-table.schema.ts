import type { FromSchema } from 'json-schema-to-ts';
import { SUBJECT_TOKEN_PATTERN } from '../../bus-schemas/index.js';

const agentName = { type: 'string', pattern: SUBJECT_TOKEN_PATTERN, maxLength: 64 } as const;

const keywords = {
  type: 'array',
  minItems: 1,
  maxItems: 500,
  items: { type: 'string', minLength: 1, maxLength: 100 },
  description:
    'Words or phrases matched case-insensitively as whole words (Unicode-aware); spaces match any run of whitespace.',
} as const;

const regex = {
  type: 'array',
  minItems: 1,
  maxItems: 50,
  items: {
    type: 'object',
    additionalProperties: false,
    required: ['pattern'],
    properties: {
      pattern: {
        type: 'string',
        minLength: 1,
        maxLength: 1000,
        description: 'A JavaScript regular expression (no slashes).',
      },
      // No "g" or "y": they make test() stateful across requests.
      flags: { type: 'string', pattern: '^[imsu]*$', description: 'Flags among i, m, s, u.' },
    },
  },
} as const;

const codeBlock = {
  const: true,
  description: 'Matches text holding a fenced (```) block, or an indented block that looks like code.',
} as const;

const script = {
  type: 'string',
  pattern: '^[A-Za-z_]{2,40}$',
  description:
    'A Unicode script name (Bengali, Devanagari, Cyrillic, …): ' +
    'matches text with at least min_script_chars characters of it.',
} as const;

/**
 * The routing table (`ROUTING_FILE`, default `config/routing.json`): how `model: "auto"` picks
 * the agent(s) that answer. Rules are tried in order and the first that matches wins.
 */
export const routingTableSchema = {
  $id: 'urn:agentbus:config:routing-table:v1',
  title: 'RoutingTable',
  type: 'object',
  additionalProperties: false,
  required: ['rules', 'default'],
  properties: {
    $schema: { type: 'string' },
    default: {
      ...agentName,
      description: 'Agent that answers when no rule matches and the classifier does not decide.',
    },
    classifier: {
      type: 'object',
      additionalProperties: false,
      required: ['agent'],
      description: 'Asks an agent to pick one when no rule matches.',
      properties: {
        agent: { ...agentName, description: 'Agent whose model classifies.' },
        timeout_ms: {
          type: 'integer',
          minimum: 100,
          maximum: 30000,
          description: 'Past this, the default agent answers (default 1500).',
        },
        enabled: { type: 'boolean', description: 'Default true.' },
        system: {
          type: 'boolean',
          description:
            "True: the system's classifier, asked for every key whatever its scope (it reads the text of " +
            "every unmatched 'auto' request). Default false: it runs only for keys that may call its agent; " +
            'a scoped key is classified by the first agent of its scope.',
        },
      },
    },
    rules: {
      type: 'array',
      maxItems: 200,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name', 'agents'],
        description:
          'At least one condition (keywords, regex, code_block, script) must be set; the loader checks that.',
        properties: {
          name: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$', description: 'Shown as meta.routing.rule.' },
          description: { type: 'string', maxLength: 500, description: 'For people reading the file.' },
          agents: {
            type: 'array',
            minItems: 1,
            maxItems: 7,
            uniqueItems: true,
            items: agentName,
            description: 'Agents that answer, in parallel when several.',
          },
          aggregator: { ...agentName, description: 'Agent that combines the answers of several agents into one.' },
          keywords,
          regex,
          code_block: codeBlock,
          script,
          min_script_chars: {
            type: 'integer',
            minimum: 1,
            maximum: 10000,
            description: 'Characters of `script` needed (default 3).',
          },
        },
      },
    },
  },
} as const;

/** The routing table file as written (type derived from {@link routingTableSchema}). */
export type RoutingTableFile = FromSchema<typeof routingTableSchema>;
