import { planConntrack } from '../../plan/conntrack.ts'
import type { KernelStage } from './stage.ts'

/**
 * Connection-tracking entries of NAT that is gone (a removed static NAT or forward would
 * otherwise keep translating the flows it had). Best effort, once everything else applied: the
 * rules are already right.
 */
export const conntrackStage: KernelStage<string[][]> = {
  name: 'conntrack',
  status: false,
  owns: (tool) => (tool.split('/').pop() ?? tool) === 'conntrack',
  plan: async (_ctx, previous, desired) => (previous === undefined ? [] : planConntrack(previous.rendered.nat, desired.nat)),
  apply: async () => undefined,
  undo: async () => undefined,
  async finish(ctx, plan) {
    for (const args of plan) {
      await ctx.runner.run('conntrack', args, { okCodes: [0, 1] }).catch((err: unknown) => ctx.log.warn({ err, args }, 'conntrack cleanup failed'))
    }
  },
  report: () => ({}),
}
