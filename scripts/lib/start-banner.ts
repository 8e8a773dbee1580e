import { join } from 'node:path';
import type { RoleCredentials } from './nats-credentials.js';
import { gatewaySettingsToRepeat, workerSettingsToRepeat } from './worker-settings-line.js';

/** The model backend as the worker's ready message reports it. */
export interface ReadyBackend {
  name: string;
  url: string;
  reachable: boolean;
  version?: string;
  missingModels: string[];
  error?: string;
}

export interface RunningStack {
  gatewayUrl: string;
  /** true: only the development key "local-only" is accepted. */
  devKey: boolean;
  agents: string[];
  backend: ReadyBackend;
  natsUrl: string;
  /** The bundled server's credentials per role; undefined with NATS_URL. */
  credentials: Record<'gateway' | 'worker', RoleCredentials> | undefined;
  dataDir: string;
  /** The SQLite file, or DATABASE_URL with its password masked. */
  memoryFile: string;
  /** What voice can do here (speech-tools.ts, voiceLine). */
  voice: string;
  /** What transcription can do here (transcription-tools.ts, listenLine). */
  listen: string;
  pids: { supervisor: number; nats?: number | undefined; worker?: number | undefined; gateway?: number | undefined };
}

/**
 * What to do about models the backend lacks: Ollama pulls them; an OpenAI-compatible server
 * serves what it lists at `/v1/models`, which no command here changes.
 */
function missingModelsAdvice(backend: ReadyBackend): string {
  const missing = backend.missingModels.join(', ');
  if (backend.name === 'ollama') return `missing models: ${missing} — run "ollama pull <model>" for each`;
  return (
    `missing models: ${missing} — ${backend.url} does not list them (GET /models); ` +
    'name models it serves in DEFAULT_MODEL or the agents\' "model"'
  );
}

/** The lines `npm start` prints once the stack serves: where everything is and how to add to it. */
export function runningBanner(stack: RunningStack): string[] {
  const { gatewayUrl: url, natsUrl, credentials, dataDir, backend } = stack;
  const lines = [
    'agentbus is running',
    `  open     ${url}/   (the playground: pick an agent and chat in the browser)`,
    `  gateway  ${url}   (OpenAI base URL ${url}/v1, WebSocket ${url.replace(/^http/, 'ws')}/v1/ws, API key ` +
      (stack.devKey
        ? '"local-only" — make real keys with "npm run keys -- create --name <name>"'
        : 'from the keys file or API_KEYS') +
      ')',
    `  agents   ${stack.agents.join(', ')}`,
  ];
  // A worker added by hand must reach the same model backend and write the same memory as
  // this one: the line repeats the settings given to this stack (never a secret such as
  // OPENAI_API_KEY, which the user sets again themselves).
  const sameSetup = [...workerSettingsToRepeat(process.env), `DATA_DIR=${dataDir}`].join(' ');
  if (credentials) {
    lines.push(
      `  NATS     ${natsUrl}   (locked down: a user per role, ` +
        `passwords in ${join(dataDir, 'nats-credentials')}, README "Securing the bus")`,
      `           add workers: NATS_URL=${natsUrl} NATS_USER=worker ` +
        `NATS_PASSWORD_FILE=${credentials.worker.passwordFile} ${sameSetup} npm run worker -- --agents <names>`,
    );
  } else
    lines.push(
      `  NATS     ${natsUrl}   (add workers: NATS_URL=${natsUrl} ${sameSetup} npm run worker -- --agents <names>)`,
    );
  // A gateway beside this one: the same bus, keys file (under DATA_DIR) and settings, on a port of its own.
  const gatewaySetup = [...gatewaySettingsToRepeat(process.env), `DATA_DIR=${dataDir}`].join(' ');
  lines.push(
    `           add a gateway: NATS_URL=${natsUrl} ` +
      (credentials ? `NATS_USER=gateway NATS_PASSWORD_FILE=${credentials.gateway.passwordFile} ` : '') +
      `${gatewaySetup} PORT=<another port> npm run gateway`,
  );
  lines.push(`  memory   ${stack.memoryFile}`);
  lines.push(`  voice    ${stack.voice}`);
  lines.push(`  listen   ${stack.listen}`);
  if (!backend.reachable) lines.push(`  model    NOT reachable — ${backend.error}`);
  else {
    if (backend.name === 'ollama')
      lines.push(`  model    Ollama ${backend.version ?? ''} at ${backend.url} answers (OLLAMA_URL)`);
    else lines.push(`  model    ${backend.name}: ${backend.version ?? backend.url} answers (PROVIDER=${backend.name})`);
    if (backend.missingModels.length > 0) lines.push(`           ${missingModelsAdvice(backend)}`);
  }
  const { pids } = stack;
  lines.push(
    `  pids     supervisor ${pids.supervisor}` +
      (pids.nats ? `, nats-server ${pids.nats}` : '') +
      `, worker ${pids.worker}, gateway ${pids.gateway}   (a crashed worker, gateway or nats-server is restarted)`,
    'press Ctrl-C to stop',
  );
  return lines;
}
