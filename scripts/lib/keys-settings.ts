import type { EnvReader } from '../../common/env.js';
import { readAgentsFile } from '../../common/shared-settings.js';
import { keysFileFromEnv } from '../../gateway/auth/keys-file.js';
import { readRateTiersFile } from '../../gateway/config.js';

/** What `npm run keys` reads: the gateway's own keys file, catalog and tiers, through the gateway's readers. */
export function readKeysCommandSettings(read: EnvReader) {
  return { keysFile: keysFileFromEnv(read), agentsFile: readAgentsFile(read), rateTiersFile: readRateTiersFile(read) };
}
