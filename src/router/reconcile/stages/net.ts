import type { RestoreRejectedError } from '../../../core/errors.ts'
import { applyIpBatch, readNet } from '../../kernel/ip.ts'
import { planNet, type NetPlan } from '../../plan/net.ts'
import type { KernelStage } from './stage.ts'

/**
 * Links, addresses, routes and policy rules, with one `ip -batch`, only when their desired
 * state changed (or on a full apply). `ip -batch` stops at the failing line: the lines before it
 * are undone line by line.
 */

interface Plan {
  /** Undefined: nothing changed since the last apply. */
  batch: NetPlan | undefined
  key: string
  /** Lines of the batch that ran. */
  ran: number
}

export const netStage: KernelStage<Plan> = {
  name: 'net',
  status: true,
  owns: (tool) => {
    const name = tool.split('/').pop() ?? tool
    return name === 'ip' || name.startsWith('ip ')
  },

  async plan(ctx, previous, desired) {
    const key = JSON.stringify(desired.net)
    const changed = previous === undefined || previous.stages['net'] !== key
    return { batch: changed ? planNet(await readNet(ctx.runner), desired.net) : undefined, key, ran: 0 }
  },

  async apply(ctx, plan) {
    if (plan.batch === undefined) return
    try {
      await applyIpBatch(ctx.runner, plan.batch.forward)
      plan.ran = plan.batch.forward.length
    } catch (err) {
      plan.ran = Math.max(0, ((err as RestoreRejectedError).line ?? 0) - 1)
      throw err
    }
  },

  async undo(ctx, plan) {
    if (plan.batch === undefined || plan.ran === 0) return
    const undo = plan.batch.inverse.slice(0, plan.ran).reverse().filter((l) => l !== '')
    await applyIpBatch(ctx.runner, undo).catch((err: unknown) => ctx.log.error({ err }, 'net rollback failed'))
  },

  applied: (plan) => plan.key,

  report: (plan) => ({ netOps: plan.batch?.forward.length ?? 0 }),

  async drift(ctx, applied) {
    return planNet(await readNet(ctx.runner), applied.rendered.net).forward.map((op) => `net: ${op}`)
  },
}
