import { NO_SECURITY_GROUPS, readSecGroupKernel, runSecGroupPlan, SG_TOOL_PREFIX } from '../../secgroup/kernel.ts'
import { planSecGroups, planSecGroupsFrom, renderedMembers, secGroupDrift, type SgPlan } from '../../secgroup/plan.ts'
import type { RenderedSecGroups } from '../../secgroup/render.ts'
import type { KernelStage } from './stage.ts'

/**
 * Role secgroup: a host's security groups (secgroup/plan.ts, secgroup/kernel.ts). An edit is
 * planned from the previous apply: only the chains it changed are declared and refilled with
 * `--noflush`, only the members it changed are added or deleted. Without a trusted previous apply
 * (start-up, a drift repair, after a refusal) it is planned against what the host's tools show,
 * since a host has other writers: our chains that differ refilled, our jumps put back where
 * missing, what we no longer render deleted. Undo takes the host back to the previous rendering
 * (none of ours when there was none), planned anew against what the failed batches left. Other
 * roles render nothing here and the stage does nothing.
 */

interface Plan {
  batches: SgPlan | undefined
  previous: RenderedSecGroups | undefined
  started: boolean
}

/** Set name → members as applied (AppliedState.stages.secgroup). */
type Members = ReadonlyMap<string, readonly string[]>

export const secgroupStage: KernelStage<Plan> = {
  name: 'secgroup',
  status: true,
  owns: (tool) => tool.startsWith(SG_TOOL_PREFIX),

  async plan(ctx, previous, desired) {
    if (desired.secgroup === undefined) return { batches: undefined, previous: undefined, started: false }
    const before = previous?.rendered.secgroup
    const members = previous?.stages['secgroup'] as Members | undefined
    const batches = before !== undefined && members !== undefined
      ? planSecGroupsFrom(before, members, desired.secgroup)
      : planSecGroups(desired.secgroup, await readSecGroupKernel(ctx.runner))
    return { batches, previous: before, started: false }
  },

  async apply(ctx, plan) {
    if (plan.batches === undefined) return
    plan.started = true
    await runSecGroupPlan(ctx.runner, plan.batches)
  },

  async undo(ctx, plan) {
    if (!plan.started) return
    try {
      await runSecGroupPlan(ctx.runner, planSecGroups(plan.previous ?? NO_SECURITY_GROUPS, await readSecGroupKernel(ctx.runner)))
    } catch (err) {
      ctx.log.error({ err }, 'security-group rollback failed')
    }
  },

  applied: (_plan, desired) => (desired.secgroup === undefined ? undefined : renderedMembers(desired.secgroup)),

  report: (plan) => (plan.batches === undefined ? {} : { chainsWritten: plan.batches.chains, rulesWritten: plan.batches.rules }),

  async drift(ctx, applied) {
    const desired = applied.rendered.secgroup
    return desired === undefined ? [] : secGroupDrift(desired, await readSecGroupKernel(ctx.runner))
  },
}
