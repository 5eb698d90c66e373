import { ApplianceError } from '../../core/errors.ts'
import type { Runner } from '../../core/exec.ts'
import { runBatch } from '../kernel/restore.ts'
import { planSecGroups, type SgKernelView, type SgPlan } from './plan.ts'
import { renderSecGroups, type RenderedSecGroups } from './render.ts'

/**
 * The imperative shell of the security groups: reads what the host's tools show, applies the
 * batches plan.ts makes (ipset, iptables, ip6tables, ebtables, each one restore), and on a
 * refusal takes the host back to the previous rendering (or to none of ours), planned anew
 * against what the failed batches left.
 */

const RESTORE_MS = 120_000

export async function readSecGroupKernel(runner: Runner): Promise<SgKernelView> {
  const out = async (file: string, args: string[]) => (await runner.run(file, args, { timeoutMs: 60_000 })).stdout
  return {
    ipv4: await out('iptables-save', ['-t', 'filter']),
    ipv6: await out('ip6tables-save', ['-t', 'filter']),
    ebtables: await out('ebtables-save', []),
    sets: (await out('ipset', ['list', '-n'])).split('\n').filter((s) => s !== ''),
  }
}

/** Names our batches in errors, so that a refusal is told from the router stages' (stage.owns). */
export const SG_TOOL_PREFIX = 'secgroup '

/** Runs a plan's batches in order. */
export async function runSecGroupPlan(runner: Runner, plan: SgPlan): Promise<void> {
  const batch = (file: string, args: string[], payload: string) => runBatch(runner, file, args, payload, { timeoutMs: RESTORE_MS, tool: `${SG_TOOL_PREFIX}${file}` })
  if (plan.ipsets !== '') await batch('ipset', ['restore'], plan.ipsets)
  await batch('iptables-restore', ['-w', '5', '--noflush'], plan.ipv4)
  await batch('ip6tables-restore', ['-w', '5', '--noflush'], plan.ipv6)
  await batch('ebtables-restore', ['--noflush'], plan.ebtables)
  if (plan.destroySets !== '') await batch('ipset', ['restore'], plan.destroySets)
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
