import { NO_SECURITY_GROUPS, readSecGroupKernel, runSecGroupPlan, SG_TOOL_PREFIX } from '../../secgroup/kernel.ts'
import { planSecGroups, secGroupDrift, type SgPlan } from '../../secgroup/plan.ts'
import type { RenderedSecGroups } from '../../secgroup/render.ts'
import type { KernelStage } from './stage.ts'

/**
 * Role secgroup: a host's security groups (secgroup/plan.ts, secgroup/kernel.ts). Every apply is
 * planned against what the host's tools show now, since a host has other writers: our chains
 * declared and refilled with `--noflush`, our jumps put back where missing, what we no longer
 * render deleted. Undo takes the host back to the previous rendering (none of ours when there
 * was none), planned anew against what the failed batches left. Other roles render nothing here
 * and the stage does nothing.
 */

interface Plan {
  batches: SgPlan | undefined
  previous: RenderedSecGroups | undefined
  started: boolean
  rules: number
}

export const secgroupStage: KernelStage<Plan> = {
  name: 'secgroup',
  status: true,
  owns: (tool) => tool.startsWith(SG_TOOL_PREFIX),

  async plan(ctx, previous, desired) {
    if (desired.secgroup === undefined) return { batches: undefined, previous: undefined, started: false, rules: 0 }
    const batches = planSecGroups(desired.secgroup, await readSecGroupKernel(ctx.runner))
    const rules = [batches.ipv4, batches.ipv6, batches.ebtables].reduce((n, text) => n + text.split('\n').filter((l) => l.startsWith('-A ')).length, 0)
    return { batches, previous: previous?.rendered.secgroup, started: false, rules }
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

  report: (plan) => (plan.batches === undefined ? {} : { rulesWritten: plan.rules }),

  async drift(ctx, applied) {
    const desired = applied.rendered.secgroup
    return desired === undefined ? [] : secGroupDrift(desired, await readSecGroupKernel(ctx.runner))
  },
}
