import { errorCode, type RestoreRejectedError } from '../../core/errors.ts'
import type { Logger } from '../../core/log.ts'
import type { Runner } from '../../core/exec.ts'
import { parseSave, restoreIptables, saveIptables } from '../kernel/iptables.ts'
import { readIpsets, restoreIpsets } from '../kernel/ipset.ts'
import { applyIpBatch, readNet } from '../kernel/ip.ts'
import { planFull, planIptables, withoutSetReferences, type IptablesPlan } from '../plan/iptables.ts'
import { desiredSetOptions, mismatchedSets, planIpsets, setOptions, undoIpsets, type IpsetPlan } from '../plan/ipset.ts'
import { CleanChains, setDrift, tableDrift } from '../plan/drift.ts'
import { planNet } from '../plan/net.ts'
import { planConntrack } from '../plan/conntrack.ts'
import type { RenderedRouter } from '../render/index.ts'
import type { RenderedTable, TableName } from '../render/iptables/table.ts'
import { IPSET_PREFIX, IPSET_SWAP_SUFFIX } from '../render/names.ts'

/**
 * Applies a rendering to the kernel as a few batches: new ipsets created (empty) → set members
 * and iptables-restore at the same time → ipsets nothing uses destroyed → one ip -batch for
 * links, addresses, routes and rules → stale conntrack entries cleared. A failure leaves the
 * previous state in force: iptables tables that committed before the failing one are replaced
 * by the previous rendering, the set lines that ran are undone line by line, and an ip -batch
 * stopped at line n is undone line by line.
 */

export interface AppliedState {
  rendered: RenderedRouter
  /** ipset name → members, as applied. */
  ipsets: Map<string, string[]>
  netKey: string
}

export interface ApplyReport {
  kind: 'full' | 'partial' | 'none'
  chainsWritten: number
  rulesWritten: number
  /** ipset restore lines run (members added or removed, sets created or swapped). */
  ipsetsChanged: number
  netOps: number
  /** ipset is 0 when the set edits ran alongside iptables-restore (counted under iptables). */
  durationsMs: { ipset: number; iptables: number; net: number }
}

const owned = (name: string) => name.startsWith(IPSET_PREFIX)

function tableOfLine(plan: IptablesPlan, line: number): number {
  let start = 1
  for (let i = 0; i < plan.tables.length; i++) {
    const count = (plan.tables[i]?.text.split('\n').length ?? 1) - 1
    if (line < start + count) return i
    start += count
  }
  return plan.tables.length
}

async function applyIptables(runner: Runner, plan: IptablesPlan, previous: readonly RenderedTable[] | undefined,
  kernelBefore: string | undefined, log: Logger): Promise<void> {
  if (plan.kind === 'none') return
  const payload = plan.tables.map((t) => t.text).join('')
  try {
    await restoreIptables(runner, payload, { noflush: plan.kind === 'partial' })
  } catch (err) {
    if (errorCode(err) !== 'ERR_KERNEL_REJECTED') throw err
    const line = (err as RestoreRejectedError).line
    const committed = plan.tables.slice(0, line === null ? 0 : tableOfLine(plan, line)).map((t) => t.name)
    if (committed.length > 0) await rollbackTables(runner, committed, previous, kernelBefore, log)
    throw err
  }
}

async function rollbackTables(runner: Runner, committed: TableName[], previous: readonly RenderedTable[] | undefined,
  kernelBefore: string | undefined, log: Logger): Promise<void> {
  log.warn({ tables: committed }, 'rolling back committed iptables tables')
  if (previous !== undefined) {
    // Whole-table replacement by the previous rendering undoes a full or a partial plan alike.
    const prev = previous.filter((t) => committed.includes(t.name))
    await restoreIptables(runner, planFull(prev).tables.map((t) => t.text).join(''), { noflush: false })
  } else if (kernelBefore !== undefined) {
    const saved = kernelBefore.split(/(?=^\*)/m).filter((block) => committed.some((name) => block.startsWith(`*${name}\n`)))
    await restoreIptables(runner, saved.join(''), { noflush: false })
  }
}

/**
 * Applies `desired` on top of `previous` (undefined = unknown kernel state: everything is
 * replaced and re-read). Returns the new applied state; throws with the kernel's state unchanged.
 */
export async function applyRendered(runner: Runner, previous: AppliedState | undefined, desired: RenderedRouter, log: Logger): Promise<{ state: AppliedState; report: ApplyReport }> {
  const full = previous === undefined
  const t0 = performance.now()

  // 1. Sets as they are now, and the plans.
  let currentSets = previous?.ipsets
  let kernelBefore: string | undefined
  if (full) {
    const kernel = await readIpsets(runner)
    currentSets = new Map([...kernel.members].filter(([n]) => owned(n)))
    kernelBefore = await saveIptables(runner)
    // A crash between create and swap can leave a temporary set behind; it would block the next create.
    const stale = [...currentSets.keys()].filter((n) => n.endsWith(IPSET_SWAP_SUFFIX))
    for (const name of stale) currentSets.delete(name)
    await restoreIpsets(runner, lines(stale.map((n) => `destroy ${n}`))).catch((err: unknown) => log.warn({ err }, 'stale ipset not destroyed'))
    const mismatched = mismatchedSets(kernel.headers, desired.ipsets)
    if (mismatched.length > 0) {
      await replaceMismatchedSets(runner, mismatched, desired.tables, kernelBefore, log)
      for (const name of mismatched) currentSets.delete(name)
    }
  }
  const setPlan = planIpsets(currentSets as ReadonlyMap<string, readonly string[]>, desired.ipsets, owned)
  const iptPlan = planIptables(previous?.rendered.tables, desired.tables)
  // 2. Sets first exist (empty: created in one quick batch), then are filled and edited while
  // iptables-restore runs: the two slowest batches of a large apply overlap. Until filled, a
  // new set matches nothing, so a new rule is not in force a moment longer; nothing that was
  // in force is loosened.
  /** Runs lines [from, to) of the set plan; on failure says how many lines of the plan ran. */
  const applySetLines = async (from: number, to: number): Promise<number> => {
    try {
      await restoreIpsets(runner, lines(setPlan.before.slice(from, to)))
      return to
    } catch (err) {
      // ipset restore stops at the failing line: the lines before it ran.
      throw Object.assign(err as Error, { linesRan: from + ((err as RestoreRejectedError).line ?? 1) - 1 })
    }
  }
  try {
    await applySetLines(0, setPlan.creates)
  } catch (err) {
    await undoSets(runner, setPlan, (err as { linesRan: number }).linesRan, log)
    throw err
  }
  const t1 = performance.now()
  const [sets, rules] = await Promise.allSettled([
    applySetLines(setPlan.creates, setPlan.before.length),
    applyIptables(runner, iptPlan, previous?.rendered.tables, kernelBefore, log),
  ])
  if (rules.status === 'fulfilled' && sets.status === 'rejected') {
    // Rules first: they may name the sets about to be destroyed.
    await rollbackRules(runner, iptPlan, previous?.rendered.tables, desired.tables, kernelBefore, log)
  }
  if (rules.status === 'rejected' || sets.status === 'rejected') {
    const ran = sets.status === 'fulfilled' ? sets.value : (sets.reason as { linesRan?: number }).linesRan ?? setPlan.creates
    await undoSets(runner, setPlan, ran, log)
    throw rules.status === 'rejected' ? rules.reason : (sets as PromiseRejectedResult).reason
  }
  const t2 = performance.now()

  // 3. links, addresses, routes, rules: only when their desired state changed (or on full).
  const netKey = JSON.stringify(desired.net)
  let netOps = 0
  if (full || previous.netKey !== netKey) {
    const plan = planNet(await readNet(runner), desired.net)
    netOps = plan.forward.length
    try {
      await applyIpBatch(runner, plan.forward)
    } catch (err) {
      const line = (err as RestoreRejectedError).line ?? 0
      const undo = plan.inverse.slice(0, Math.max(0, line - 1)).reverse().filter((l) => l !== '')
      await applyIpBatch(runner, undo).catch((e: unknown) => log.error({ err: e }, 'net rollback failed'))
      await rollbackRules(runner, iptPlan, previous?.rendered.tables, desired.tables, kernelBefore, log)
      await undoSets(runner, setPlan, setPlan.before.length, log)
      throw err
    }
  }
  const t3 = performance.now()

  // 4. ipsets nothing references any more. A failure here only leaks an unused set.
  await restoreIpsets(runner, lines(setPlan.after)).catch((err: unknown) => log.warn({ err }, 'ipset destroy failed'))

  // 5. Connection-tracking entries of NAT that is gone. Best effort: the rules are already right.
  if (previous !== undefined) {
    for (const args of planConntrack(previous.rendered.nat, desired.nat)) {
      await runner.run('conntrack', args, { okCodes: [0, 1] }).catch((err: unknown) => log.warn({ err, args }, 'conntrack cleanup failed'))
    }
  }

  const ipsets = new Map(desired.ipsets.map((s) => [s.name, s.entries]))
  return {
    state: { rendered: desired, ipsets, netKey },
    report: {
      kind: iptPlan.kind, chainsWritten: iptPlan.chainsWritten, rulesWritten: iptPlan.rulesWritten,
      ipsetsChanged: setPlan.before.length, netOps,
      durationsMs: { ipset: t1 - t0, iptables: t2 - t1, net: t3 - t2 },
    },
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
async function replaceMismatchedSets(runner: Runner, names: readonly string[], desired: readonly RenderedTable[],
  kernelBefore: string, log: Logger): Promise<void> {
  log.warn({ sets: names }, 'replacing owned ipsets of another type or with other options')
  const interim = planFull(withoutSetReferences(desired, names)).tables.map((t) => t.text).join('')
  await restoreIptables(runner, interim, { noflush: false })
  try {
    await restoreIpsets(runner, lines(names.map((n) => `destroy ${n}`)))
  } catch (err) {
    await restoreIptables(runner, kernelBefore, { noflush: false }).catch((e: unknown) => log.error({ err: e }, 'iptables rollback failed'))
    throw err
  }
}

/** Puts back the iptables state from before a plan that fully applied. */
async function rollbackRules(runner: Runner, plan: IptablesPlan, previous: readonly RenderedTable[] | undefined,
  desired: readonly RenderedTable[], kernelBefore: string | undefined, log: Logger): Promise<void> {
  if (plan.kind === 'none') return
  if (previous !== undefined) await applyIptables(runner, planIptables(desired, previous), desired, undefined, log)
  else if (kernelBefore !== undefined) await restoreIptables(runner, kernelBefore, { noflush: false })
}

function lines(list: readonly string[]): string {
  return list.length === 0 ? '' : list.join('\n') + '\n'
}

/** Reverses the first `applied` lines of the ipset plan (best effort: logged if it fails). */
async function undoSets(runner: Runner, plan: IpsetPlan, applied: number, log: Logger): Promise<void> {
  await restoreIpsets(runner, lines(undoIpsets(plan, applied))).catch((err: unknown) => log.error({ err }, 'ipset rollback failed'))
}

/** Owned chains found to match at the last drift check (one routerd checks one kernel). */
const cleanChains = new CleanChains()

/**
 * Drift: what differs between the kernel and the last applied state (empty = none), by content:
 * each owned chain's normalized rules and each owned set's members and options (see
 * plan/drift.ts), the built-in jumps and policies, foreign SVM- chains, and the address/route/
 * rule plan being empty. One iptables-save, one ipset save and the ip reads per check.
 */
export async function detectDrift(runner: Runner, applied: AppliedState): Promise<string[]> {
  const [savedText, sets, net] = await Promise.all([saveIptables(runner), readIpsets(runner), readNet(runner)])
  const saved = parseSave(savedText)
  const problems: string[] = []
  cleanChains.next()
  for (const table of applied.rendered.tables) problems.push(...tableDrift(table, saved.get(table.name), cleanChains))
  const want = new Map(applied.rendered.ipsets.map((s) => [s.name, desiredSetOptions(s)]))
  const have = new Map([...sets.headers].filter(([name]) => want.has(name)).map(([name, h]) => [name, setOptions(h)]))
  problems.push(...setDrift(applied.ipsets, sets.members, { want, have }))
  for (const op of planNet(net, applied.rendered.net).forward) problems.push(`net: ${op}`)
  return problems
}
