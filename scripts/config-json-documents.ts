import { agentCatalogSchema } from '../common/agent-catalog.schema.js';
import { secretPatternsSchema } from '../common/secret-patterns.schema.js';
import { routingTableSchema } from '../gateway/router/routing-table.schema.js';
import { rateTiersSchema } from '../gateway/rate-limit/rate-tiers.schema.js';
import { keysFileSchema } from '../gateway/auth/keys-file.schema.js';

/**
 * The schemas of the configuration files users edit (AGENTS_FILE, ROUTING_FILE,
 * SECRET_PATTERNS_FILE, RATE_TIERS_FILE, KEYS_FILE) as JSON Schema documents, so editors can check them through the
 * files' `$schema`. `npm run schemas` writes them to `docs/schemas/`; a test checks for drift.
 */
export const CONFIG_JSON_DOCUMENTS: Record<string, object> = {
  'agent-catalog.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...agentCatalogSchema },
  'routing-table.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...routingTableSchema },
  'secret-patterns.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...secretPatternsSchema },
  'rate-tiers.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...rateTiersSchema },
  'keys-file.schema.json': { $schema: 'http://json-schema.org/draft-07/schema#', ...keysFileSchema },
};
