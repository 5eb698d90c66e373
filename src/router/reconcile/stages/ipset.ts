import { errorCode, type RestoreRejectedError } from '../../../core/errors.ts'
import type { Runner } from '../../../core/exec.ts'
import type { Logger } from '../../../core/log.ts'
import { readIpsets, restoreIpsets } from '../../kernel/ipset.ts'
import { restoreIptables, saveIptables } from '../../kernel/iptables.ts'
import { desiredSetOptions, mismatchedSets, planIpsets, setOptions, undoIpsets, type IpsetPlan } from '../../plan/ipset.ts'
import { planFull, withoutSetReferences } from '../../plan/iptables.ts'
import { setDrift } from '../../plan/drift.ts'
import type { RenderedTable } from '../../render/iptables/table.ts'
import { IPSET_PREFIX, IPSET_SWAP_SUFFIX, SG_SET_PREFIX } from '../../render/names.ts'
import { lines, type KernelStage, type StageContext } from './stage.ts'

/**
 * Owned ipsets (`svm-*`). Sets first exist (created empty in one quick batch, `prepare`), then
 * are filled and edited while iptables-restore runs (`apply`, alongside the next stage): the two
 * slowest batches of a large apply overlap. Until filled, a new set matches nothing, so a new
 * rule is not in force a moment longer; nothing that was in force is loosened. Sets nothing
 * uses any more are destroyed once the rules no longer name them (`finish`).
 */

interface Plan {
  lines: IpsetPlan
  /** Full apply only: temporaries a crash left between create and swap, and sets of the wrong type. */
  stale: string[]
  mismatched: string[]
  /** Lines of `lines.before` that ran. */
  ran: number
}

// The security groups' sets are their stage's (secgroup.ts).
const owned = (name: string) => name.startsWith(IPSET_PREFIX) && !name.startsWith(SG_SET_PREFIX)

/** Members per owned set, as applied. */
type Members = ReadonlyMap<string, readonly string[]>

export const ipsetStage: KernelStage<Plan> = {
  name: 'ipset',
  status: true,
  owns: (tool) => (tool.split('/').pop() ?? tool).startsWith('ipset'),

  async plan(ctx, previous, desired) {
    if (previous !== undefined) {
      return { lines: planIpsets(previous.stages['ipset'] as Members, desired.ipsets, owned), stale: [], mismatched: [], ran: 0 }
    }
    const kernel = await readIpsets(ctx.runner)
    const current = new Map([...kernel.members].filter(([n]) => owned(n)))
    const stale = [...current.keys()].filter((n) => n.endsWith(IPSET_SWAP_SUFFIX))
    const mismatched = mismatchedSets(kernel.headers, desired.ipsets)
    for (const name of [...stale, ...mismatched]) current.delete(name)
    return { lines: planIpsets(current, desired.ipsets, owned), stale, mismatched, ran: 0 }
  },

  async prepare(ctx, plan, desired) {
    // A crash between create and swap can leave a temporary set behind; it would block the next create.
    await restoreIpsets(ctx.runner, lines(plan.stale.map((n) => `destroy ${n}`))).catch((err: unknown) => ctx.log.warn({ err }, 'stale ipset not destroyed'))
    if (plan.mismatched.length > 0) await replaceMismatchedSets(ctx.runner, plan.mismatched, desired.tables, ctx.log)
    await runLines(ctx, plan, plan.lines.creates)
  },

  apply: (ctx, plan) => runLines(ctx, plan, plan.lines.before.length),

  async undo(ctx, plan) {
    // ipset sends a run of add/del lines of one set as one message, and drops the whole run when
    // it cannot parse a later line of it: of the lines before a failing one, those of its run
    // may not have happened. -exist makes undoing them harmless either way.
    await restoreIpsets(ctx.runner, lines(undoIpsets(plan.lines, plan.ran)), { exist: true })
      .catch((err: unknown) => ctx.log.error({ err }, 'ipset rollback failed'))
  },

  async finish(ctx, plan) {
    // A failure here only leaks an unused set.
    await restoreIpsets(ctx.runner, lines(plan.lines.after)).catch((err: unknown) => ctx.log.warn({ err }, 'ipset destroy failed'))
  },

  applied: (_plan, desired): Members => new Map(desired.ipsets.map((s) => [s.name, s.entries])),

  report: (plan) => ({ ipsetsChanged: plan.lines.before.length }),

  async drift(ctx, applied) {
    const sets = await readIpsets(ctx.runner)
    const want = new Map(applied.rendered.ipsets.map((s) => [s.name, desiredSetOptions(s)]))
    const have = new Map([...sets.headers].filter(([name]) => want.has(name)).map(([name, h]) => [name, setOptions(h)]))
    const members = applied.stages['ipset'] as Members
    // What the kernel put in a set it fills is not drift: only its existence and options are.
    const filled = new Set(applied.rendered.ipsets.filter((s) => s.kernelFilled === true).map((s) => s.name))
    const kernel = new Map([...sets.members].map(([name, m]) => [name, filled.has(name) ? members.get(name) ?? [] : m]))
    return setDrift(members, kernel, { want, have })
  },
}

/** Runs the plan's lines from where it stopped up to `to`; ipset restore stops at the failing line, so the lines before it ran. */
async function runLines(ctx: StageContext, plan: Plan, to: number): Promise<void> {
  const from = plan.ran
  try {
    await restoreIpsets(ctx.runner, lines(plan.lines.before.slice(from, to)))
    plan.ran = to
  } catch (err) {
    if (errorCode(err) === 'ERR_KERNEL_REJECTED') plan.ran = from + ((err as RestoreRejectedError).line ?? 1) - 1
    throw err
  }
}

/**
 * Owned sets of another type or with other options than rendered (left by an older version, or
 * made by hand) cannot be swapped or edited into shape: they are destroyed, and the plan then
 * creates them anew. A set in use cannot be destroyed, so first the owned tables are replaced
 * whole by the rendering without the rules naming those sets (they all accept or DNAT: what is
 * left lets less through, never more), for the moment until the full restore that follows.
 * If the kernel still refuses (something outside routerd's tables uses the set), the tables
 * from before are put back and the apply fails.
 */
async function replaceMismatchedSets(runner: Runner, names: readonly string[], desired: readonly RenderedTable[], log: Logger): Promise<void> {
  log.warn({ sets: names }, 'replacing owned ipsets of another type or with other options')
  const kernelBefore = await saveIptables(runner)
  const interim = planFull(withoutSetReferences(desired, names)).tables.map((t) => t.text).join('')
  await restoreIptables(runner, interim, { noflush: false })
  try {
    await restoreIpsets(runner, lines(names.map((n) => `destroy ${n}`)))
  } catch (err) {
    await restoreIptables(runner, kernelBefore, { noflush: false }).catch((e: unknown) => log.error({ err: e }, 'iptables rollback failed'))
    throw err
  }
}
