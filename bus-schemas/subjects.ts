/** Name of the workers' NATS micro service: `nats micro ls`, `$SRV.INFO/STATS.agentbus-worker`. */
export const WORKER_SERVICE_NAME = 'agentbus-worker';

/** Prefix used when none is configured: chat requests travel on `agents.<intent>.chat`. */
export const DEFAULT_SUBJECT_PREFIX = 'agents';

/** One NATS subject token: no dots, no wildcards, no whitespace. */
export const SUBJECT_TOKEN_PATTERN = '^[A-Za-z0-9_-]+$';
const TOKEN = new RegExp(SUBJECT_TOKEN_PATTERN);

/** Every subject name the bus uses, derived from one prefix so deployments and tests never collide. */
export interface Subjects {
  /** The configured prefix, e.g. `agents` or `test-4f2a.agents`. */
  readonly prefix: string;
  /** Subject a worker subscribes to for one intent, e.g. `agents.code_review.chat`. */
  chat(intent: string): string;
  /** Subject of an embedding agent's requests, e.g. `agents.nomic.embed` (same queue group as chat). */
  embed(intent: string): string;
  /** Subject of a voice agent's speech requests, e.g. `agents.voice_processor.speech` (same queue group). */
  speech(intent: string): string;
  /** Subject of a voice agent's transcription requests, e.g. `agents.voice_processor.transcribe` (same queue group). */
  transcribe(intent: string): string;
  /** Wildcard matching every embed subject. */
  readonly allEmbed: string;
  /** Queue group shared by every worker serving one intent: named after the intent. */
  queueGroup(intent: string): string;
  /** Wildcard matching every chat subject, for `nats sub`. */
  readonly allChat: string;
  /**
   * Where the gateway publishes a copy of each envelope for the audit stream, e.g.
   * `agents.audit.code_review.chat`. A copy, not the chat subject itself: a stream listening on
   * the chat subjects would count as a responder, and NATS would stop answering "no responders"
   * for an agent nobody serves.
   */
  audit(intent: string): string;
  /** Wildcard matching every chat audit subject: what the audit stream records of chat. */
  readonly allAudit: string;
  /** Where the gateway publishes a copy of each embed request, e.g. `agents.audit.embeddings.embed`. */
  auditEmbed(intent: string): string;
  /** Wildcard matching every embed audit subject: the audit stream records these too. */
  readonly allAuditEmbed: string;
  /** Where the gateway publishes a copy of each speech request, e.g. `agents.audit.voice_processor.speech`. */
  auditSpeech(intent: string): string;
  /** Wildcard matching every speech audit subject; the audit stream records these too. */
  readonly allAuditSpeech: string;
  /**
   * Where requesters announce they no longer want an answer to one intent, e.g.
   * `agents.code_review.cancel`. Every worker serving the intent subscribes (no queue group): the
   * one holding the request aborts it, the others ignore it. Per intent, so a worker credential
   * scoped to some agents hears only their cancels (docs/security.md).
   */
  cancel(intent: string): string;
  /** Wildcard matching every cancel subject, for `nats sub`. */
  readonly allCancel: string;
  /** Where the gateway asks for the last turns of a session, e.g. `agents.memory.last`. */
  readonly memoryLast: string;
  /** Where the gateway reads or deletes one stored turn (the Responses API), e.g. `agents.memory.response`. */
  readonly memoryResponse: string;
  /**
   * Where the gateway sends a delivery receipt its worker did not acknowledge (it died, stalled or
   * failed to commit), so that any worker commits the delivered turn, e.g. `agents.memory.commit`.
   */
  readonly memoryCommit: string;
  /**
   * Queue group of the memory queries: every worker reads the same database, so any one of them
   * may answer, and only one does.
   */
  readonly memoryQueueGroup: string;
  /**
   * Where a worker beats for one agent (`WorkerBeat`), e.g. `_INBOX.gateway.chat.code_review.alive.agents`:
   * in the gateways' inbox space of that agent, because every worker credential of the agent may
   * already publish there and every gateway read it (nats.conf): no grant to add, and a worker scoped
   * to some agents can beat for those alone. A reply inbox has one token after the agent (128 random
   * bits); the prefix at the end keeps two deployments on one NATS apart.
   */
  workerBeat(intent: string): string;
  /** Every agent's worker beats of this prefix, as the gateway subscribes; the agent is the fourth token. */
  readonly allWorkerBeats: string;
}

/**
 * Builds the subject names for a prefix. Throws when the prefix or an intent is not made of
 * plain subject tokens, because a stray `.` or `*` would silently route to the wrong agents.
 */
export function subjectsFor(prefix: string = DEFAULT_SUBJECT_PREFIX): Subjects {
  const tokens = prefix.split('.');
  if (tokens.some((token) => !TOKEN.test(token))) {
    throw new Error(`invalid subject prefix "${prefix}": use dot-separated tokens of letters, digits, "_" or "-"`);
  }
  const checkIntent = (intent: string): string => {
    if (!TOKEN.test(intent)) throw new Error(`invalid intent "${intent}": use letters, digits, "_" or "-"`);
    return intent;
  };
  return Object.freeze({
    prefix,
    chat: (intent: string) => `${prefix}.${checkIntent(intent)}.chat`,
    embed: (intent: string) => `${prefix}.${checkIntent(intent)}.embed`,
    allEmbed: `${prefix}.*.embed`,
    speech: (intent: string) => `${prefix}.${checkIntent(intent)}.speech`,
    transcribe: (intent: string) => `${prefix}.${checkIntent(intent)}.transcribe`,
    queueGroup: (intent: string) => checkIntent(intent),
    allChat: `${prefix}.*.chat`,
    audit: (intent: string) => `${prefix}.audit.${checkIntent(intent)}.chat`,
    allAudit: `${prefix}.audit.*.chat`,
    auditEmbed: (intent: string) => `${prefix}.audit.${checkIntent(intent)}.embed`,
    allAuditEmbed: `${prefix}.audit.*.embed`,
    auditSpeech: (intent: string) => `${prefix}.audit.${checkIntent(intent)}.speech`,
    allAuditSpeech: `${prefix}.audit.*.speech`,
    cancel: (intent: string) => `${prefix}.${checkIntent(intent)}.cancel`,
    allCancel: `${prefix}.*.cancel`,
    memoryLast: `${prefix}.memory.last`,
    memoryResponse: `${prefix}.memory.response`,
    memoryCommit: `${prefix}.memory.commit`,
    memoryQueueGroup: 'memory',
    workerBeat: (intent: string) => `_INBOX.gateway.${inboxScopes.chat(intent)}.alive.${prefix}`,
    allWorkerBeats: `_INBOX.gateway.chat.*.alive.${prefix}`,
  });
}

/**
 * The middle of a requester's reply inbox, `_INBOX.<role>.<scope>.<128 random bits>`: it says who
 * may answer there. nats.conf lets a worker credential scoped to some agents publish only on the
 * chat inboxes of those agents (and on memory and service answers), so it cannot write frames
 * into another agent's answers (docs/security.md, "Worker credentials scoped to agents").
 */
export const inboxScopes = Object.freeze({
  chat: (intent: string): string => {
    if (!TOKEN.test(intent)) throw new Error(`invalid intent "${intent}": use letters, digits, "_" or "-"`);
    return `chat.${intent}`;
  },
  memory: 'memory',
  services: 'srv',
});
