import type { Logger } from '../../../core/log.ts'
import type { Runner } from '../../../core/exec.ts'
import type { ApplyReport } from '../../api/contract.ts'
import type { RenderedRouter } from '../../render/index.ts'

/**
 * One kernel subsystem routerd writes (ipsets, iptables, links/addresses/routes, conntrack),
 * as data: the apply runner (reconcile/apply.ts) walks the ordered list, so a new tool
 * (arptables, ebtables, a haproxy runtime) is one new entry, not an edit of the engine.
 *
 * A stage plans from the previous applied state (undefined: the kernel's state is unknown, read
 * it and replace what is owned) to the desired rendering, then runs in steps: `prepare` (in list
 * order, before anything of a later stage), `apply` (in list order; a stage marked
 * `alongsidePrevious` runs at the same time as the one before it), `finish` (best effort, after
 * every stage applied). When any step fails, every stage that started is undone, last first:
 * the kernel is left as it was. A plan object records how far its stage got, so `undo` knows
 * what to reverse.
 */
export interface StageContext {
  runner: Runner
  log: Logger
}

/** The state routerd believes the kernel holds: the rendering applied, and what stages keep besides. */
export interface AppliedState {
  rendered: RenderedRouter
  /** Per stage, what it needs beyond the rendering to plan the next change (e.g. ipset members as applied). */
  stages: Record<string, unknown>
}

export interface KernelStage<Plan = unknown> {
  /** As in `/v1/status` subsystems and the report's durations. */
  readonly name: string
  /** Whether `/v1/status` lists it under `subsystems`. */
  readonly status: boolean
  /** Runs at the same time as the previous stage's apply (both slow, independent batches). */
  readonly alongsidePrevious?: boolean
  /** Whether a failing tool (its path or name) is this stage's. */
  owns(tool: string): boolean
  plan(ctx: StageContext, previous: AppliedState | undefined, desired: RenderedRouter): Promise<Plan>
  prepare?(ctx: StageContext, plan: Plan, desired: RenderedRouter): Promise<void>
  apply(ctx: StageContext, plan: Plan): Promise<void>
  /** Reverses what ran of `prepare` and `apply` (best effort: failures are logged, not thrown). */
  undo(ctx: StageContext, plan: Plan): Promise<void>
  finish?(ctx: StageContext, plan: Plan): Promise<void>
  /** What it keeps in AppliedState.stages once the apply succeeded. */
  applied?(plan: Plan, desired: RenderedRouter): unknown
  /** Its part of the report. */
  report(plan: Plan): Partial<Omit<ApplyReport, 'durationsMs'>>
  /** What differs between the kernel and the applied state (empty: nothing). */
  drift?(ctx: StageContext, applied: AppliedState): Promise<string[]>
}

export function lines(list: readonly string[]): string {
  return list.length === 0 ? '' : list.join('\n') + '\n'
}

export type { ApplyReport }
