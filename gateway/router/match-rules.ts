import type { Routing } from '../../bus-schemas/index.js';
import type { RoutingRule, RoutingTable } from './load-routing-table.js';
import { matchCodeBlock, matchKeywords, matchRegex, matchScript } from './text-conditions.js';

/**
 * How the router chose the agent(s): the bus's `Routing` (which the gateway reports as
 * `meta.routing`), narrowed to what the router decides; `path` and `model` are the gateway's.
 * The reason quotes at most 40 characters of the user's text.
 */
export type RouteDecision = Omit<Routing, 'by'> & { by: 'rule' | 'classifier' | 'default' };

/**
 * Only this much of the text is matched: a rule's regex may be slow on huge input, and what a
 * request is about shows in its first pages.
 */
export const MAX_ROUTED_CHARS = 20_000;

function matchRule(rule: RoutingRule, text: string): string | undefined {
  return (
    (rule.script && matchScript(rule.script.regex, rule.script.name, rule.script.minChars, text)) ??
    (rule.keywords && matchKeywords(rule.keywords, text)) ??
    (rule.regex.length > 0 ? matchRegex(rule.regex, text) : undefined) ??
    (rule.codeBlock ? matchCodeBlock(text) : undefined)
  );
}

/** The first rule that matches `text` decides; undefined when none does. Pure. */
export function routeByRules(table: RoutingTable, text: string): RouteDecision | undefined {
  const routed = text.length > MAX_ROUTED_CHARS ? text.slice(0, MAX_ROUTED_CHARS) : text;
  for (const rule of table.rules) {
    const reason = matchRule(rule, routed);
    if (reason === undefined) continue;
    return {
      agents: [...rule.agents],
      by: 'rule',
      rule: rule.name,
      ...(rule.aggregator !== undefined ? { aggregator: rule.aggregator } : {}),
      reason,
    };
  }
  return undefined;
}
