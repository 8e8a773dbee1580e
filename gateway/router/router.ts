import type { SignalLike } from '../../common/light-signal.js';
import type { Agent, Catalog } from '../../common/catalog.js';
import type { Logger } from '../../common/logger.js';
import type { Classify, ClassifierOutcome } from './classifier.js';
import type { RoutingTable } from './load-routing-table.js';
import { routeByRules, type RouteDecision } from './match-rules.js';
import { quote } from './text-conditions.js';

export type { RouteDecision };

export interface RouterDeps {
  table: RoutingTable;
  catalog: Catalog;
  /** Asks an agent when no rule matches; absent, the table's classifier is not used. */
  classify?: Classify | undefined;
  log: Pick<Logger, 'debug' | 'warn'>;
  /** Masks secrets in a decision's reason, which quotes the text or the classifier's answer. */
  redact?: ((text: string) => string) | undefined;
}

export interface RouteOptions {
  /** The client went away: the classifier call stops and `route` rejects with `request_cancelled`. */
  signal?: SignalLike | undefined;
  /** The request is private; the classifier's call is marked private too. */
  private?: boolean | undefined;
  /**
   * The agents the caller's key may call (absent: all). The classifier chooses among them only,
   * and runs as one of them — its own agent if the key may call it, else the scope's first —
   * unless the table's classifier is the system's (`system: true`).
   */
  mayCall?: ((agent: string) => boolean) | undefined;
}

/** Chooses the agent(s) for `model: "auto"`. */
export interface Router {
  route(text: string, options?: RouteOptions): Promise<RouteDecision>;
}

/** Why the classifier did not decide, for the default decision's reason. */
function whyNot(outcome: Exclude<ClassifierOutcome, { kind: 'agent' }>, agent: string, timeoutMs: number): string {
  switch (outcome.kind) {
    case 'timeout':
      return `classifier timed out after ${timeoutMs} ms`;
    case 'no_agent':
      return `classifier answer "${quote(outcome.answer)}" names no agent`;
    case 'error':
      return `classifier ${agent} failed (${outcome.code})`;
  }
}

/**
 * Rules first (cheap, predictable, explainable), then the classifier when the table enables it,
 * then the default agent. Never fails because routing did: a broken classifier only costs its
 * timeout and leaves the choice to the default agent.
 */
export function createRouter(deps: RouterDeps): Router {
  const { table, catalog, log } = deps;
  const settings = table.classifier;
  const classifierAgent: Agent | undefined = settings && catalog.get(settings.agent);
  const useClassifier = deps.classify !== undefined && settings?.enabled === true && classifierAgent !== undefined;
  const fallback = (reason: string): RouteDecision => ({ agents: [table.defaultAgent], by: 'default', reason });

  // A reason may quote the user's text or the classifier's answer: never a secret, in logs or meta.
  const masked = (decision: RouteDecision): RouteDecision =>
    deps.redact ? { ...decision, reason: deps.redact(decision.reason) } : decision;

  return {
    async route(text, options = {}) {
      return masked(await decide(text, options));
    },
  };

  async function decide(text: string, options: RouteOptions): Promise<RouteDecision> {
    const byRule = routeByRules(table, text);
    if (byRule) {
      log.debug({ routing: masked(byRule) }, 'routed by rule');
      return byRule;
    }
    if (text.trim() === '') return fallback('no text to route');
    if (!useClassifier) return fallback('no rule matched');
    // The user's text goes only to an agent the key may call, or to the operator's system classifier.
    const allowed = options.mayCall ?? (() => true);
    // Embedding agents cannot chat: never a candidate.
    const candidates = catalog.agents.filter((agent) => agent.kind === 'chat' && allowed(agent.name));
    const asAgent = settings.system || allowed(classifierAgent.name) ? classifierAgent : candidates[0];
    if (asAgent === undefined || candidates.length === 0) return fallback('no rule matched');
    const started = Date.now();
    const outcome = await deps.classify!({
      text,
      agent: asAgent,
      candidates,
      timeoutMs: settings.timeoutMs,
      signal: options.signal,
      private: options.private,
    });
    const tookMs = Date.now() - started;
    if (outcome.kind === 'agent') {
      const decision: RouteDecision = {
        agents: [outcome.agent],
        by: 'classifier',
        reason: `no rule matched; classifier ${asAgent.name} chose ${outcome.agent}`,
      };
      log.debug({ routing: decision, tookMs }, 'routed by classifier');
      return decision;
    }
    const decision = fallback(`no rule matched; ${whyNot(outcome, asAgent.name, settings.timeoutMs)}`);
    log.warn(
      { routing: masked(decision), tookMs, ...(outcome.kind === 'error' ? { code: outcome.code } : {}) },
      'routing classifier did not decide; the default agent answers',
    );
    return decision;
  }
}
