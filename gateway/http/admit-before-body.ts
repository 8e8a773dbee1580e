import type { FastifyReply, FastifyRequest } from 'fastify';
import { AgentbusError } from '../../bus-schemas/index.js';
import { admit } from '../chat/admit.js';
import { withinScope } from '../chat/agent-scope-check.js';
import { namedChoice } from '../chat/choose-agents.js';
import type { ChatDeps } from '../chat/types.js';
import type { Caller } from '../auth/caller.js';
import type { Agent, Catalog } from '../../common/catalog.js';
import { embeddingAgent } from '../embeddings/embedding-agent.js';
import type { Admission } from '../rate-limit/rate-limiter.js';
import { isEncoded } from './content-encoding.js';

/** A request's admission until its handler takes it over (then startChatCall, then the call, own it). */
export interface EarlyAdmission {
  /** The admission, now owned by the caller; undefined when already taken. */
  take(): Admission | undefined;
  /**
   * Charges the rest of a body whose size was unknown before it was read (chunked, compressed):
   * `bytes` as read and decoded, before it is parsed, so a body refused later (invalid JSON, a
   * schema 400, an input limit) has spent them too. Throws its 413 or 429.
   */
  chargeRead(bytes: number): Promise<void>;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Set by {@link admitBeforeBody} on chat routes. */
    earlyAdmission: EarlyAdmission | undefined;
  }
}

/**
 * The bytes a body is charged before it is read: its Content-Length (at most the route's body limit:
 * BODY_LIMIT_BYTES, or the embeddings routes' larger EMBEDDINGS_BODY_LIMIT_BYTES).
 * `known` is false for a compressed body (the length is the compressed one) and a chunked one
 * (none, charged as 1 byte: a spent budget refuses it unread): the rest is charged once the body
 * is read (`EarlyAdmission.chargeRead`, from the JSON parser).
 */
export function declaredBytes(request: FastifyRequest, bodyLimitBytes: number): { bytes: number; known: boolean } {
  const length = Number(request.headers['content-length']);
  const declared = Number.isSafeInteger(length) && length >= 0 ? Math.min(length, bodyLimitBytes) : undefined;
  if (declared === undefined) return { bytes: 1, known: false };
  return { bytes: declared, known: !isEncoded(request) };
}

/**
 * The agent a `/agents/<agent>/…` URL names, checked as its route will check it: the key's scope
 * (403) first, then its kind (400), so neither spends anything. The embeddings route serves an
 * embedding agent; every other route, a chat agent (voice agents are chat agents).
 */
function checkPathAgent(catalog: Catalog, agent: Agent, caller: Caller, serves: 'chat' | 'embedding'): void {
  if (serves === 'embedding') {
    embeddingAgent(catalog, undefined, agent, caller);
    return;
  }
  const named = namedChoice(catalog, undefined, agent, caller);
  if (named) withinScope(caller, named, catalog.names);
}

/**
 * A preParsing hook for the routes that call a model (chat, responses, completions, embeddings,
 * speech, transcriptions): the key's rate limits and concurrency cap are decided here,
 * from the key alone (authenticated in onRequest), before the body is read — so parsing, input
 * checks, envelope building and secret scanning run only for admitted requests, and a burst of
 * large bodies cannot stall the gateway past its tier. An agent named by the URL is checked
 * first ({@link checkPathAgent}: its 403 or 400 spends nothing). Until the handler takes the
 * admission, the hook owns it: a request that ends before (invalid JSON, a schema 400, a 413, the
 * client gone) frees its slot and gets its token back; its bytes stay spent.
 */
export function admitBeforeBody(
  deps: ChatDeps,
  {
    bodyBytes = true,
    serves = 'chat',
    bodyLimit = deps.config.bodyLimitBytes,
  }: { bodyBytes?: boolean; serves?: 'chat' | 'embedding'; bodyLimit?: number } = {},
) {
  return async function admitEarly(request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (request.pathAgent) checkPathAgent(deps.catalog, request.pathAgent, request.caller, serves);
    // The routes' own limit (`bodyLimit`, as given to their route options; fastify's routeOptions builds an object
    // per read): capped at BODY_LIMIT_BYTES, a large embeddings batch would be charged a fraction.
    const declared = bodyBytes ? declaredBytes(request, bodyLimit) : { bytes: 0, known: true };
    // A 429 carries its Retry-After through the app's error handler.
    let held: Admission | undefined = await admit(deps, request.caller, declared.bytes);
    let charged = declared.known;
    request.earlyAdmission = {
      take() {
        const taken = held;
        held = undefined;
        return taken;
      },
      async chargeRead(bytes) {
        if (charged || !held) return;
        charged = true;
        await held.chargeBytes(bytes - declared.bytes, bytes);
      },
    };
    reply.raw.once('close', () => {
      // Never rejects (see Admission.release).
      if (held) held.release({ refund: true }).catch(() => undefined);
      held = undefined;
    });
  };
}

/**
 * The admission the preParsing hook made, now the caller's (undefined on a route without the
 * hook). Throws `request_cancelled` when it was already given back: the client left while the
 * body was read.
 */
export async function takeEarlyAdmission(request: FastifyRequest): Promise<Admission | undefined> {
  if (!request.earlyAdmission) return undefined;
  const admission = request.earlyAdmission.take();
  if (!admission) throw new AgentbusError('request_cancelled', 'The client closed the connection.');
  return admission;
}

/**
 * Runs the checks a request makes before it needs its admission (agent, scope, input): one that
 * throws gives the early admission back (slot freed, token refunded), since nothing was published.
 */
export async function refundIfRefused<T>(early: Admission | undefined, checks: () => T): Promise<T> {
  try {
    return checks();
  } catch (err) {
    await early?.release({ refund: true });
    throw err;
  }
}
