import { ApplianceError } from '../../core/errors.ts'
import type { Runner } from '../../core/exec.ts'
import { parseIpsetSave } from '../kernel/ipset.ts'
import { parseNfacctList } from './counters.ts'
import { runBatch } from '../kernel/restore.ts'
import { planSecGroups, type SgKernelView, type SgPlan } from './plan.ts'
import { renderSecGroups, type RenderedSecGroups } from './render.ts'

/**
 * The imperative shell of the security groups: reads what the host's tools show, applies the
 * batches plan.ts makes (ipset, iptables, ip6tables, ebtables, each one restore, skipped when it
 * has nothing to change), and on a
 * refusal takes the host back to the previous rendering (or to none of ours), planned anew
 * against what the failed batches left.
 */

const RESTORE_MS = 120_000
const COUNTER_DELETERS = 6
/** Restores larger than this in all run side by side (see runSecGroupPlan). */
const SIDE_BY_SIDE_BYTES = 1_000_000

export async function readSecGroupKernel(runner: Runner): Promise<SgKernelView> {
  const out = async (file: string, args: string[]) => (await runner.run(file, args, { timeoutMs: 60_000 })).stdout
  return {
    // Every table in one save each: ours are filter and raw.
    ipv4: await out('iptables-save', []),
    ipv6: await out('ip6tables-save', []),
    ebtables: await out('ebtables-save', []),
    sets: parseIpsetSave(await out('ipset', ['save'])),
    counters: new Set(parseNfacctList(await out('nfacct', ['list'])).keys()),
  }
}

/** Names our batches in errors, so that a refusal is told from the router stages' (stage.owns). */
export const SG_TOOL_PREFIX = 'secgroup '

/** Waits for every batch, then throws the first refusal: a rollback must plan against a host at rest. */
async function allThenFirstRefusal(batches: readonly (Promise<void> | undefined)[]): Promise<void> {
  const refused = (await Promise.allSettled(batches)).find((r) => r.status === 'rejected')
  if (refused !== undefined) throw refused.reason
}

/** Runs a plan's batches in order. */
export async function runSecGroupPlan(runner: Runner, plan: SgPlan): Promise<void> {
  const batch = (file: string, args: string[], payload: string) => runBatch(runner, file, args, payload, { timeoutMs: RESTORE_MS, tool: `${SG_TOOL_PREFIX}${file}` })
  const text = (lines: readonly string[]) => lines.map((l) => `${l}\n`).join('')
  // What the rules will name, made first: sets (with their members) and counters, side by side.
  await allThenFirstRefusal([
    plan.ipsets.before.length === 0 ? undefined : batch('ipset', ['restore'], text(plan.ipsets.before)),
    plan.createCounters.length === 0 ? undefined : batch('nfacct', ['restore'], text(plan.createCounters)),
  ])
  const restores: [string, string[], string][] = [
    ['iptables-restore', ['-w', '5', '--noflush'], plan.ipv4], ['ip6tables-restore', ['-w', '5', '--noflush'], plan.ipv6], ['ebtables-restore', ['--noflush'], plan.ebtables],
  ]
  const todo = restores.filter(([, , text]) => text !== '')
  if (todo.reduce((n, [, , text]) => n + text.length, 0) < SIDE_BY_SIDE_BYTES) {
    // An edit: one after the other. The tables share the namespace's nf_tables generation, and a
    // restore that sees another commit land meanwhile starts over with a fresh cache (side by
    // side they took 90 ms for a port added, one after the other 30).
    for (const [file, args, text] of todo) await batch(file, args, text)
  } else {
    // A whole host: parsing dominates, the three run side by side (3.2 s instead of 4.9 for
    // 1,000 ports).
    await allThenFirstRefusal(todo.map(([file, args, text]) => batch(file, args, text)))
  }
  if (plan.ipsets.after.length > 0) await batch('ipset', ['restore'], text(plan.ipsets.after))
  // nfacct deletes one counter per process (a counter still in use, by another writer's rule,
  // stays): a few at a time, so that 1,000 ports removed cost seconds, not tens of them.
  const queue = [...plan.deleteCounters]
  const worker = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) await runner.run('nfacct', ['delete', name], { timeoutMs: 10_000, okCodes: [0, 1] })
  }
  await Promise.all(Array.from({ length: Math.min(COUNTER_DELETERS, queue.length) }, worker))
}

/** What a host holds of ours when it has no document: the fixed chains and jumps, no port. */
export const NO_SECURITY_GROUPS: RenderedSecGroups = renderSecGroups({ ports: [], securityGroups: [], securityGroupRules: [] })

/**
 * Takes the host to `desired`. If a batch is refused, the host is taken back to `previous`
 * (what was applied before; none of ours when undefined) and the refusal is thrown; a failure
 * of that rollback is thrown in its place, with the refusal as its cause.
 */
export async function applySecGroups(runner: Runner, desired: RenderedSecGroups, previous?: RenderedSecGroups): Promise<void> {
  try {
    await runSecGroupPlan(runner, planSecGroups(desired, await readSecGroupKernel(runner)))
  } catch (err) {
    try {
      await runSecGroupPlan(runner, planSecGroups(previous ?? NO_SECURITY_GROUPS, await readSecGroupKernel(runner)))
    } catch (rollback) {
      throw new ApplianceError('ERR_ROLLBACK_FAILED', `the host could not be taken back after a refused batch: ${(rollback as Error).message}`, { cause: err })
    }
    throw err
  }
}
