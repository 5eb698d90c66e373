import type { RenderedRouter } from '../render/index.ts'
import type { AppliedState, ApplyReport, KernelStage, StageContext } from './stages/stage.ts'

/**
 * Applies a rendering to the kernel through the stages (reconcile/stages): every stage plans,
 * then prepares in order, then applies in order (a stage marked alongsidePrevious at the same
 * time as the one before it), then finishes. A failure leaves the previous state in force:
 * every stage that started is undone, the last one first, and the error is thrown.
 */

export type { AppliedState, ApplyReport }

/**
 * Applies `desired` on top of `previous` (undefined = unknown kernel state: everything owned is
 * replaced and re-read). Returns the new applied state; throws with the kernel's state unchanged.
 */
export async function applyRendered(stages: readonly KernelStage[], ctx: StageContext, previous: AppliedState | undefined,
  desired: RenderedRouter): Promise<{ state: AppliedState; report: ApplyReport }> {
  const ms = new Map<string, number>()
  const timed = async (stage: KernelStage, step: () => Promise<unknown>) => {
    const t = performance.now()
    await step()
    ms.set(stage.name, (ms.get(stage.name) ?? 0) + performance.now() - t)
  }
  const plans: unknown[] = []
  for (const stage of stages) await timed(stage, async () => plans.push(await stage.plan(ctx, previous, desired)))
  const started: number[] = []
  try {
    for (let i = 0; i < stages.length; i++) {
      const stage = stages[i] as KernelStage
      if (stage.prepare === undefined) continue
      started.push(i)
      await timed(stage, () => stage.prepare!(ctx, plans[i], desired))
    }
    for (const group of applyGroups(stages)) {
      for (const i of group) if (!started.includes(i)) started.push(i)
      const last = stages[group.at(-1) as number] as KernelStage
      // A group's wall time is counted once, under its last stage. The last stage starts first: it
      // holds the longer batch (iptables-restore beside ipset restore), and starting a tool blocks
      // this thread for a fork of the daemon, which then overlaps that batch instead of preceding it.
      let results: PromiseSettledResult<void>[] = []
      await timed(last, async () => {
        const running = [...group].reverse().map((i) => (stages[i] as KernelStage).apply(ctx, plans[i]))
        results = (await Promise.allSettled(running)).reverse()
      })
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected')
      // Of two stages failing together, the later one's error is the one reported.
      if (failed.length > 0) throw (failed.at(-1) as PromiseRejectedResult).reason
    }
  } catch (err) {
    for (const i of [...started].sort((a, b) => b - a)) await (stages[i] as KernelStage).undo(ctx, plans[i])
    throw err
  }
  for (let i = 0; i < stages.length; i++) await (stages[i] as KernelStage).finish?.(ctx, plans[i])

  const kept: Record<string, unknown> = {}
  let report: ApplyReport = { kind: 'none', chainsWritten: 0, rulesWritten: 0, ipsetsChanged: 0, netOps: 0, durationsMs: { ipset: 0, iptables: 0, net: 0 } }
  const durations: Record<string, number> = {}
  stages.forEach((stage, i) => {
    if (stage.applied !== undefined) kept[stage.name] = stage.applied(plans[i], desired)
    report = { ...report, ...stage.report(plans[i]) }
    if (stage.status) durations[stage.name] = ms.get(stage.name) ?? 0
  })
  report.durationsMs = durations as ApplyReport['durationsMs']
  return { state: { rendered: desired, stages: kept }, report }
}

/** Stage indexes in apply order, grouped: a stage that runs alongside the previous one joins its group. */
function applyGroups(stages: readonly KernelStage[]): number[][] {
  const groups: number[][] = []
  stages.forEach((stage, i) => {
    if (stage.alongsidePrevious === true && groups.length > 0) groups.at(-1)?.push(i)
    else groups.push([i])
  })
  return groups
}

/**
 * Drift: what differs between the kernel and the last applied state (empty = none), by content,
 * each stage checking what it owns; one read of each tool per check.
 */
export async function detectDrift(stages: readonly KernelStage[], ctx: StageContext, applied: AppliedState): Promise<string[]> {
  const found = await Promise.all(stages.map((stage) => stage.drift?.(ctx, applied) ?? Promise.resolve([])))
  return found.flat()
}
