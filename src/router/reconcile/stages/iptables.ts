import { errorCode, type RestoreRejectedError } from '../../../core/errors.ts'
import { parseSave, restoreIptables, saveIptables } from '../../kernel/iptables.ts'
import { CleanChains, tableDrift } from '../../plan/drift.ts'
import { planFull, planIptables, type IptablesPlan } from '../../plan/iptables.ts'
import type { RenderedTable, TableName } from '../../render/iptables/table.ts'
import type { KernelStage, StageContext } from './stage.ts'

/**
 * The owned iptables chains, with one iptables-restore: whole tables on a full apply, only the
 * chains that changed (`--noflush`) otherwise. iptables-restore commits table by table, so a
 * refused line leaves the tables before it committed: those are put back by `undo`.
 */

interface Plan {
  rules: IptablesPlan
  previous: readonly RenderedTable[] | undefined
  desired: readonly RenderedTable[]
  /** Full apply only: iptables-save from before, to put back when nothing previous is known. */
  kernelBefore: string | undefined
  /** Tables a refused restore committed before the refused line. */
  committed: TableName[]
  /** The restore went through whole. */
  done: boolean
}

export function createIptablesStage(): KernelStage<Plan> {
  /** Owned chains found to match at the last drift check (one routerd checks one kernel). */
  const cleanChains = new CleanChains()
  return {
    name: 'iptables',
    status: true,
    alongsidePrevious: true,
    owns: (tool) => (tool.split('/').pop() ?? tool).startsWith('iptables'),

    async plan(ctx, previous, desired) {
      const kernelBefore = previous === undefined && desired.tables.length > 0 ? await saveIptables(ctx.runner) : undefined
      return { rules: planIptables(previous?.rendered.tables, desired.tables), previous: previous?.rendered.tables, desired: desired.tables, kernelBefore, committed: [], done: false }
    },

    async apply(ctx, plan) {
      const { rules } = plan
      if (rules.kind === 'none') return
      try {
        await restoreIptables(ctx.runner, rules.tables.map((t) => t.text).join(''), { noflush: rules.kind === 'partial' })
        plan.done = true
      } catch (err) {
        if (errorCode(err) === 'ERR_KERNEL_REJECTED') {
          const line = (err as RestoreRejectedError).line
          plan.committed = rules.tables.slice(0, line === null ? 0 : tableOfLine(rules, line)).map((t) => t.name)
        }
        throw err
      }
    },

    async undo(ctx, plan) {
      const undone = plan.done ? putBackAll(ctx, plan) : plan.committed.length > 0 ? putBackTables(ctx, plan) : undefined
      await undone?.catch((err: unknown) => ctx.log.error({ err }, 'iptables rollback failed'))
    },

    report: (plan) => ({ kind: plan.rules.kind, chainsWritten: plan.rules.chainsWritten, rulesWritten: plan.rules.rulesWritten }),

    async drift(ctx, applied) {
      const saved = parseSave(await saveIptables(ctx.runner))
      const problems: string[] = []
      cleanChains.next()
      for (const table of applied.rendered.tables) problems.push(...tableDrift(table, saved.get(table.name), cleanChains))
      return problems
    },
  }
}

/** Puts back the state from before a restore that went through whole: only what changed, when the previous rendering is known. */
async function putBackAll(ctx: StageContext, plan: Plan): Promise<void> {
  if (plan.previous !== undefined) {
    const back = planIptables(plan.desired, plan.previous)
    if (back.kind !== 'none') await restoreIptables(ctx.runner, back.tables.map((t) => t.text).join(''), { noflush: back.kind === 'partial' })
  } else if (plan.kernelBefore !== undefined) {
    await restoreIptables(ctx.runner, plan.kernelBefore, { noflush: false })
  }
}

/** Puts back the tables a refused restore committed: whole-table replacement undoes a full or a partial plan alike. */
async function putBackTables(ctx: StageContext, plan: Plan): Promise<void> {
  ctx.log.warn({ tables: plan.committed }, 'rolling back committed iptables tables')
  if (plan.previous !== undefined) {
    const previous = plan.previous.filter((t) => plan.committed.includes(t.name))
    await restoreIptables(ctx.runner, planFull(previous).tables.map((t) => t.text).join(''), { noflush: false })
  } else if (plan.kernelBefore !== undefined) {
    const saved = plan.kernelBefore.split(/(?=^\*)/m).filter((block) => plan.committed.some((name) => block.startsWith(`*${name}\n`)))
    await restoreIptables(ctx.runner, saved.join(''), { noflush: false })
  }
}

function tableOfLine(plan: IptablesPlan, line: number): number {
  let start = 1
  for (let i = 0; i < plan.tables.length; i++) {
    const count = (plan.tables[i]?.text.split('\n').length ?? 1) - 1
    if (line < start + count) return i
    start += count
  }
  return plan.tables.length
}
