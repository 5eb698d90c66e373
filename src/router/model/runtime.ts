/**
 * What routerd learns at run time that changes the rendering without the operator changing the
 * config: e.g. which load-balancer backends pass their health checks. Keyed by the service that
 * reports it. The engine re-applies with it without a new generation (reconcile/engine.ts
 * setRuntime), and checks drift against that rendering.
 */
export type RuntimeFacts = Readonly<Record<string, unknown>>

export const NO_RUNTIME_FACTS: RuntimeFacts = Object.freeze({})
