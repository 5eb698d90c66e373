#!/usr/bin/env node
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { binary, run } from '../src/core/exec.ts'
import { Lab, LAB_ADDR } from '../src/lab/lab.ts'
import type { PortForward, RouterConfig } from '../src/router/model/config.ts'
import { withItem } from '../src/router/model/items.ts'
import { validateConfig } from '../src/router/model/parse.ts'
import { splitArgs } from '../src/router/plan/drift.ts'
import { planIptables } from '../src/router/plan/iptables.ts'
import { planIpsets } from '../src/router/plan/ipset.ts'
import { renderRouter, type RenderedRouter } from '../src/router/render/index.ts'
import { formatIpsets } from '../src/router/render/ipset.ts'
import { IPSET_PREFIX } from '../src/router/render/names.ts'
import { formatTable } from '../src/router/render/iptables/table.ts'
import { cleanupOnSignals, onCleanup } from './lib/cleanup.ts'
import { baseConfig, FORWARD_IP, labFacts, portForward, withForwards } from './lib/configs.ts'
import { acceptedFrom, iperfRun, startIperfServer } from './lib/iperf.ts'
import { daemonCommand, Routerd } from './lib/routerd.ts'
import { configureMasqueradeOnly, readSysctls, resetRouterNs, routerStateDump } from './lib/router-state.ts'
import { ScratchNs, type TimedStep } from './lib/scratch.ts'
import { machine, revision, runSuite, writeResults, type Result } from './lib/report.ts'
import { bounded, median, percentile, round, sleep, summary } from './lib/stats.ts'

/**
 * `make bench-core`: routerd against plain kernel tools, measured in the same run.
 *
 *   apply_10k_port_forwards           PUT /v1/config with 10,000 forwards (from the base config) vs
 *                                     iptables-restore of the same rendered tables into an empty namespace
 *   add_one_rule_at_10k_p50_ms        PUT /v1/config/portForwards/<new> with 10,000 present vs the
 *                                     kernel minimum: one `ipset add` + one `iptables -A` of the same
 *                                     forward into a namespace holding the same 10k sets and rules
 *   forwarding_throughput_10k_rules   iperf3 vm1 → internet through routerd (10k forwards + 1k firewall
 *                                     rules) vs the same lab router with only MASQUERADE, configured by hand
 *   routerd_rss_mb_10k_rules          VmRSS of routerd with the 10k forwards applied
 *
 * Writes bench/results/core.json. Every loop is bounded in count and time; every namespace and
 * process is removed at the end, also on failure or interruption.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/**
 * BENCH_ROUTERD_CPU_PROF=<dir>: diagnosis only. routerd runs with --cpu-prof, its profile lands in
 * <dir> when it stops, and the results go to <dir>/core.json (profiling slows routerd down, so
 * bench/results/core.json is left alone). Summarize with: node build/bench/bench/profile-summary.js <dir>/*.cpuprofile
 */
const PROFILE_DIR = process.env['BENCH_ROUTERD_CPU_PROF']
const RESULTS = PROFILE_DIR === undefined ? join(ROOT, 'bench', 'results', 'core.json') : join(PROFILE_DIR, 'core.json')

const N_FORWARDS = 10_000
const N_FIREWALL = 1_000
const APPLY_REPS = 7
const APPLY_BUDGET_MS = 240_000
const ADD_SAMPLES = 50
const ADD_BUDGET_MS = 90_000
const PEER_ADD_SAMPLES = 30
const FLOOR_SAMPLES = 20
const IPERF_RUNS = 7
const IPERF_SECONDS = 5
const IPERF_BUDGET_MS = 260_000
const SETTLE_MS = 2_000
/** How long routerd idles after the first 10k apply before its memory is read (it returns freed pages over seconds). */
const SETTLE_AFTER_APPLY_MS = 3_000
/** Lab and scratch namespaces of this suite are named svmbench<hex>-…, apart from the tests' svm<hex>-…. */
const LAB_PREFIX = 'svmbench'

const results: Result[] = []
/** One line per benchmark on where the time (or memory) goes; printed under the table and stored. */
const notes: string[] = []
const memoryCheckpoints: Record<string, ReturnType<Routerd['memory']>> = {}
const details: Record<string, unknown> = {}

function log(message: string): void {
  process.stderr.write(`[bench-core] ${message}\n`)
}

function checked(doc: Record<string, unknown>): RouterConfig {
  const r = validateConfig(doc, labFacts())
  if (!r.ok) throw new Error(`bench config invalid: ${JSON.stringify(r.diagnostics.slice(0, 5))}`)
  return r.config
}

/** What routerd puts in the kernel for `doc`, as restore texts: ipsets (`ipset restore`) and iptables (`iptables-restore`). */
function restoreTexts(doc: Record<string, unknown>): { ipsets: string; tables: string } {
  const rendered = renderRouter(checked(doc), labFacts())
  return { ipsets: formatIpsets(rendered.ipsets), tables: rendered.tables.map(formatTable).join('') }
}

/** ipset save reduced to comparable lines (set names and members; the random initval dropped). */
function comparableIpsets(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('create ') || l.startsWith('add '))
    .map((l) => (l.startsWith('create ') ? l.split(' ').slice(0, 3).join(' ') : l)).sort()
}

function sameLines(a: readonly string[], b: readonly string[]): { identical: boolean; onlyRouterd: number; onlyPeer: number; routerdLines: number; peerLines: number } {
  const inA = new Set(a)
  const inB = new Set(b)
  return {
    identical: a.length === b.length && a.every((l, k) => l === b[k]),
    onlyRouterd: a.filter((l) => !inB.has(l)).length,
    onlyPeer: b.filter((l) => !inA.has(l)).length,
    routerdLines: a.length,
    peerLines: b.length,
  }
}

/** iptables-save reduced to comparable lines: "<table> <chain decl or rule>", counters and save-file comments dropped. */
function comparableSave(text: string): string[] {
  let table = ''
  const out: string[] = []
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) table = line.slice(1)
    else if (line.startsWith(':')) out.push(`${table} ${line.replace(/ \[\d+:\d+\]$/, '')}`)
    else if (line.startsWith('-A ')) out.push(`${table} ${line}`)
  }
  return out.sort()
}

/** ipset + iptables + net stage time of an apply report (what routerd spent on kernel tools), if present. */
function kernelMs(report: any): number | undefined {
  const d = report?.durationsMs
  if (typeof d?.ipset !== 'number' || typeof d?.iptables !== 'number' || typeof d?.net !== 'number') return undefined
  return d.ipset + d.iptables + d.net
}

async function iptablesSave(ns: string, table?: string): Promise<string> {
  return (await run(binary('iptables-save'), table === undefined ? [] : ['-t', table], { netns: ns })).stdout
}

// ---------------------------------------------------------------------------------------------
// 1 + 4: whole-document apply of 10k forwards, and the daemon's memory afterwards.

async function benchApply(lab: Lab, routerd: Routerd): Promise<void> {
  const baseBody = JSON.stringify(baseConfig())
  const big = withForwards(N_FORWARDS)
  const bigBody = JSON.stringify(big)
  const baseText = restoreTexts(baseConfig())
  const fullText = restoreTexts(big)
  const ruleLines = fullText.tables.split('\n').filter((l) => l.startsWith('-A ')).length
  const setMembers = fullText.ipsets.split('\n').filter((l) => l.startsWith('add ')).length
  log(`apply: body ${(bigBody.length / 1e6).toFixed(2)} MB, rendered ${ruleLines} rule lines and ${setMembers} ipset members`)

  const ours: number[] = []
  const oursApplyMs: number[] = []
  const oursOutside: number[] = []
  const oursStages: { ipset: number; iptables: number; net: number }[] = []
  const peer: number[] = []
  const peerParts: { ipset: number; iptables: number }[] = []
  const memory = memoryCheckpoints
  memory['atStart'] = routerd.memory()
  let verified: unknown = 'not run'
  let lastReport: any
  const { truncated } = await bounded(APPLY_REPS, APPLY_BUDGET_MS, async (i) => {
    // Ours: from the base config (no forwards) to 10k, request sent until the answer.
    await routerd.api.ok('PUT', '/v1/config', baseBody)
    const r = await routerd.api.ok('PUT', '/v1/config', bigBody)
    ours.push(r.ms)
    lastReport = r.body?.report
    const kernel = kernelMs(r.body?.report)
    if (kernel !== undefined) oursOutside.push(r.ms - kernel)
    // The metric: a fresh daemon after its first 10k apply, at rest. The reading right after the
    // answer is kept too: pages the collector freed are handed back over the next seconds.
    // Later repetitions add GC headroom.
    if (i === 0) {
      memory['rightAfterFirst10kApply'] = routerd.memory()
      await sleep(SETTLE_AFTER_APPLY_MS)
      memory['afterFirst10kApply'] = routerd.memory()
    }
    const status = (await routerd.api.ok('GET', '/v1/status')).body
    const applied = routerd.appliedLines().at(-1)
    if (applied !== undefined) oursApplyMs.push(applied.ms)
    if (status?.lastApply?.durationsMs) oursStages.push(status.lastApply.durationsMs)

    // Peer: the same rendered tables by one iptables-restore into a fresh namespace holding the base rules.
    const ns = await ScratchNs.create()
    try {
      // Sets first (the rules reference them), then the tables; -exist: sets of the base config already exist.
      const steps: TimedStep[] = [
        { tool: 'ipset', args: ['restore', '-exist'], stdin: baseText.ipsets, timed: false },
        { tool: 'iptables-restore', args: ['-w', '5'], stdin: baseText.tables, timed: false },
        { tool: 'ipset', args: ['restore', '-exist'], stdin: fullText.ipsets, timed: true },
        { tool: 'iptables-restore', args: ['-w', '5'], stdin: fullText.tables, timed: true },
      ]
      const [setMs, iptMs] = (await ns.timeSteps(steps)) as [number, number]
      peer.push(setMs + iptMs)
      peerParts.push({ ipset: setMs, iptables: iptMs })
      if (i === 0) {
        // Both namespaces must now hold the same rules and sets: the peer restored what routerd applied.
        const rules = sameLines(comparableSave(await iptablesSave(lab.ns.rtr)), comparableSave(await iptablesSave(ns.name)))
        const sets = sameLines(
          comparableIpsets((await run(binary('ipset'), ['save'], { netns: lab.ns.rtr })).stdout),
          comparableIpsets((await ns.exec('ipset', ['save'])).stdout))
        verified = { rules, sets }
        if (!rules.identical || !sets.identical) log(`WARNING: peer and routerd kernel state differ: ${JSON.stringify(verified)}`)
      }
    } finally {
      await ns.destroy()
    }
    log(`apply rep ${i + 1}: routerd ${ours.at(-1)?.toFixed(0)} ms (apply ${oursApplyMs.at(-1)} ms), iptables-restore ${peer.at(-1)?.toFixed(0)} ms`)
  })

  memory['after10kApplyRepetitions'] = routerd.memory()
  const mem = memory['afterFirst10kApply'] as ReturnType<Routerd['memory']>
  const medOurs = median(ours)
  const medPeer = median(peer)

  // Where the request time goes outside the kernel apply: the same pure steps, timed in this process.
  const inProcess = timePureSteps(baseConfig(), bigBody)

  details['apply_10k_port_forwards'] = {
    routerdRequestMs: summary(ours),
    routerdApplyMsFromLog: summary(oursApplyMs),
    routerdOutsideKernelMs: oursOutside.length > 0 ? summary(oursOutside) : null,
    routerdStageMsMedian: oursStages.length === 0 ? null : {
      ipset: round(median(oursStages.map((s) => s.ipset))),
      iptables: round(median(oursStages.map((s) => s.iptables))),
      net: round(median(oursStages.map((s) => s.net))),
    },
    lastReport,
    peerRestoreMs: summary(peer),
    peerPartsMsMedian: { ipset: round(median(peerParts.map((p) => p.ipset))), iptables: round(median(peerParts.map((p) => p.iptables))) },
    peerCommand: 'ipset restore -exist < rendered sets, then iptables-restore -w 5 < rendered tables (fresh namespace, base state restored first, untimed)',
    renderedRuleLines: ruleLines,
    renderedIpsetMembers: setMembers,
    bodyBytes: bigBody.length,
    sameRulesCheck: verified,
    inProcessEstimateMs: inProcess,
    inProcessEstimateNote: 'indicative: the daemon\'s pure steps re-run in the bench process on a freshly parsed body (GC and JIT state differ from the daemon\'s)',
    truncatedByTimeBudget: truncated,
  }
  const stageMs = oursStages.length > 0 ? median(oursStages.map((s) => s.ipset + s.iptables + s.net)) : NaN
  notes.push(`apply: routerd ${medOurs.toFixed(0)} ms = kernel stages ${stageMs.toFixed(0)} ms (the peer's restores of the same sets and rules: ${medPeer.toFixed(0)} ms) ` +
    `+ ${oursOutside.length > 0 ? median(oursOutside).toFixed(0) : '?'} ms outside the kernel (HTTP, JSON parse, validation, render, snapshot + fsync)`)
  results.push({
    name: 'apply_10k_port_forwards', unit: 'ms', ours: round(medOurs, 1),
    peer: 'ipset restore + iptables-restore (nf_tables) of the same rendered sets and rules', peer_value: round(medPeer, 1),
    ratio: round(medOurs / medPeer, 3), target: 'ratio <= 1.2', pass: medOurs / medPeer <= 1.2,
  })

  details['routerd_rss_mb_10k_rules'] = {
    metric: `VmRSS of a fresh routerd ${SETTLE_AFTER_APPLY_MS / 1000} s after the answer to its first PUT of the 10k document (one base PUT before), idle; rightAfterFirst10kApply is the reading at the answer`,
    // Filled in at the end of the run, so later checkpoints (after the item adds, after 10k+1k) are in.
    memoryMb: memory,
    pid: routerd.process.pid,
  }
  results.push({
    name: 'routerd_rss_mb_10k_rules', unit: 'MB', ours: round(mem.rssMb, 1),
    peer: null, peer_value: null, ratio: null, target: 'ours <= 80 MB', pass: mem.rssMb <= 80,
  })
}

/**
 * Median wall time of the daemon's pure steps for the 10k document, run here (same Node, same code).
 * Each round parses the body afresh, as the daemon does per request, so no per-object memo is reused.
 */
function timePureSteps(base: Record<string, unknown>, bigBody: string): Record<string, number> {
  const facts = labFacts()
  const baseTables = renderRouter(checked(base), facts).tables
  const parse: number[] = []
  const validate: number[] = []
  const render: number[] = []
  const plan: number[] = []
  const persist: number[] = []
  for (let i = 0; i < 5; i++) {
    let t = performance.now()
    const doc: unknown = JSON.parse(bigBody)
    parse.push(performance.now() - t)
    t = performance.now()
    const v = validateConfig(doc, facts)
    validate.push(performance.now() - t)
    if (!v.ok) throw new Error('invalid')
    t = performance.now()
    const rendered = renderRouter(v.config, facts)
    render.push(performance.now() - t)
    t = performance.now()
    planIptables(baseTables, rendered.tables)
    plan.push(performance.now() - t)
    t = performance.now()
    JSON.stringify({ generation: 1, config: v.config })
    persist.push(performance.now() - t)
  }
  return {
    jsonParse: round(median(parse)), validate: round(median(validate)), render: round(median(render)),
    planIptables: round(median(plan)), snapshotStringify: round(median(persist)),
  }
}

// ---------------------------------------------------------------------------------------------
// 2: one forward added through the item API with 10k present, against the kernel's own minimum.

async function benchAddOne(lab: Lab, routerd: Routerd): Promise<void> {
  const ours: number[] = []
  const applyMs: number[] = []
  const iptMs: number[] = []
  const outside: number[] = []
  const stages: number[] = []
  const minimum: number[] = []
  const minimumParts: { ipset: number; iptables: number }[] = []
  const checks: Record<string, boolean> = {}
  // The forward is in the kernel when its DNAT rule is, and its port is open in mangle: by a rule
  // of its own or as a member of an ipset (routerd keeps forwards open to everyone in one set).
  const verify = async (id: string, port: number) => {
    const [nat, mangle, sets] = await Promise.all([
      iptablesSave(lab.ns.rtr, 'nat'), iptablesSave(lab.ns.rtr, 'mangle'),
      run(binary('ipset'), ['save'], { netns: lab.ns.rtr }).then((r) => r.stdout),
    ])
    // iptables-save quotes comments: --comment "svm:pf:<id>".
    const tagged = (l: string) => l.includes(`--comment "svm:pf:${id}"`) || l.includes(`--comment svm:pf:${id} `)
    const dnat = nat.split('\n').some((l) => tagged(l) && l.includes('-j DNAT'))
    const open = mangle.split('\n').some((l) => tagged(l) && l.includes('-j ACCEPT')) ||
      sets.split('\n').some((l) => l.startsWith('add ') && l.endsWith(` ${FORWARD_IP},tcp:${port}`))
    checks[id] = dnat && open
    if (!dnat || !open) throw new Error(`port forward ${id} is not in the kernel after the API answered (DNAT ${dnat}, open ${open})`)
  }
  // The kernel minimum: the same forwards as routerd adds, each by one `ipset add` (its open port)
  // and one `iptables -A` (its DNAT rule, into the chain routerd puts it), in a namespace holding
  // the same 10k sets and rules. Sample i of each side adds forward i right after the other, so
  // both see the same machine load and the same 10k + i state.
  const { full, steps: edits } = addOneSteps(ADD_SAMPLES)
  const commands = edits.map(kernelMinimumCommands)
  const ns = await ScratchNs.create()
  let truncated = false
  try {
    await ns.timeSteps([
      { tool: 'ipset', args: ['restore', '-exist'], stdin: full.ipsets, timed: false },
      { tool: 'iptables-restore', args: ['-w', '5'], stdin: full.tables, timed: false },
    ])
    const loop = await bounded(ADD_SAMPLES, ADD_BUDGET_MS, async (i) => {
      const id = `pf-add-${i}`
      const port = 20_000 + i
      const r = await routerd.api.ok('PUT', `/v1/config/portForwards/${id}`, JSON.stringify(portForward(id, port)))
      ours.push(r.ms)
      const applied = routerd.appliedLines().at(-1)
      if (applied !== undefined && applied.generation === r.body?.generation) applyMs.push(applied.ms)
      const d = r.body?.report?.durationsMs
      if (typeof d?.iptables === 'number') iptMs.push(d.iptables)
      const kernel = kernelMs(r.body?.report)
      if (kernel !== undefined) {
        stages.push(kernel)
        outside.push(r.ms - kernel)
      }
      // Checked right after the answer (untimed): the API answers only after the kernel has the rule.
      if (i === 0 || i === 1) await verify(id, port)
      const c = commands[i] as KernelMinimum
      const [setMs, ruleMs] = (await ns.timeSteps([
        { tool: 'ipset', args: c.ipset, timed: true },
        { tool: 'iptables', args: c.iptables, timed: true },
      ])) as [number, number]
      minimum.push(setMs + ruleMs)
      minimumParts.push({ ipset: setMs, iptables: ruleMs })
    })
    truncated = loop.truncated
  } finally {
    await ns.destroy()
  }
  await verify(`pf-add-${ours.length - 1}`, 20_000 + ours.length - 1)
  memoryCheckpoints['after50ItemAdds'] = routerd.memory()
  const p50 = median(ours)
  const minP50 = median(minimum)

  // For comparison with earlier runs: `iptables -A` into one flat chain already holding 10k rules.
  const flatNs = await ScratchNs.create()
  let flatAppend: number[]
  try {
    const flat = ['*nat', ':BENCH-FLAT - [0:0]']
    for (let p = 10_000; p < 10_000 + N_FORWARDS; p++) {
      flat.push(`-A BENCH-FLAT -d ${FORWARD_IP}/32 -p tcp -m tcp --dport ${p} -j DNAT --to-destination ${LAB_ADDR.vm1}`)
    }
    flat.push('COMMIT', '')
    const steps: TimedStep[] = [{ tool: 'iptables-restore', args: ['-w', '5'], stdin: flat.join('\n'), timed: false }]
    for (let i = 0; i < PEER_ADD_SAMPLES; i++) {
      const port = String(20_000 + i)
      steps.push({ tool: 'iptables', args: ['-w', '5', '-t', 'nat', '-A', 'BENCH-FLAT', '-d', `${FORWARD_IP}/32`, '-p', 'tcp', '-m', 'tcp', '--dport', port, '-j', 'DNAT', '--to-destination', LAB_ADDR.vm1], timed: true })
    }
    flatAppend = await flatNs.timeSteps(steps)
  } finally {
    await flatNs.destroy()
  }
  const floor = await addOneKernelFloor(full, edits.slice(0, FLOOR_SAMPLES))
  const ratio = p50 / minP50
  const paired = ours.map((o, k) => o / (minimum[k] as number))
  log(`add one: routerd p50 ${p50.toFixed(1)} ms (n=${ours.length}), kernel minimum p50 ${minP50.toFixed(1)} ms, ratio ${ratio.toFixed(2)}`)
  details['add_one_rule_at_10k_p50_ms'] = {
    routerdRequestMs: { ...summary(ours), p99: round(percentile(ours, 99)) },
    absolute: { oursP50Ms: round(p50, 1), target: 'ours <= 50 ms', pass: p50 <= 50 },
    routerdApplyMsFromLog: applyMs.length > 0 ? summary(applyMs) : null,
    routerdIptablesStageMs: iptMs.length > 0 ? summary(iptMs) : null,
    routerdKernelStagesMs: stages.length > 0 ? summary(stages) : null,
    routerdOutsideKernelMs: outside.length > 0 ? summary(outside) : null,
    kernelCheckedAfterAnswer: checks,
    kernelMinimumMs: summary(minimum),
    kernelMinimumPartsMs: { ipsetAdd: summary(minimumParts.map((m) => m.ipset)), iptablesAppend: summary(minimumParts.map((m) => m.iptables)) },
    kernelMinimumCommand: `ipset ${commands[0]?.ipset.join(' ')}; iptables ${commands[0]?.iptables.join(' ')} (first sample; each sample adds the forward routerd added just before, into a namespace holding the same 10k sets and rules)`,
    pairedRatio: summary(paired, 3),
    kernelFloorMs: floor,
    kernelFloorCommand: 'ipset restore of the set edits + iptables-restore -w 5 --noflush of the partial routerd plans for one added forward, into a namespace holding the 10k state',
    flatChainIptablesAppendMs: summary(flatAppend),
    flatChainCommand: 'iptables -w 5 -t nat -A BENCH-FLAT … -j DNAT (chain of 10,000 DNAT rules, fresh namespace)',
    truncatedByTimeBudget: truncated,
  }
  notes.push(`add one: routerd p50 ${p50.toFixed(0)} ms = kernel stages ${stages.length > 0 ? median(stages).toFixed(0) : '?'} ms ` +
    `(its planned ipset + iptables edits alone: ${floor.median.toFixed(0)} ms) + ${outside.length > 0 ? median(outside).toFixed(0) : '?'} ms outside the kernel; ` +
    `kernel minimum ${minP50.toFixed(1)} ms (ipset add ${median(minimumParts.map((m) => m.ipset)).toFixed(1)} + iptables -A ${median(minimumParts.map((m) => m.iptables)).toFixed(1)}); ` +
    `ratio ${ratio.toFixed(2)}, per sample ${Math.min(...paired).toFixed(2)}–${median(paired).toFixed(2)}–${Math.max(...paired).toFixed(2)}`)
  results.push({
    name: 'add_one_rule_at_10k_p50_ms', unit: 'ms', ours: round(p50, 1),
    peer: 'kernel minimum: one ipset add + one iptables -A of the same forward, 10k sets and rules present', peer_value: round(minP50, 1),
    ratio: round(ratio, 3), target: 'ratio <= 2.5', pass: ratio <= 2.5,
  })
}

/** The least the kernel can be asked to do to add one forward: argv of one `ipset add` and one `iptables -A`. */
interface KernelMinimum { ipset: string[]; iptables: string[] }

/**
 * The kernel minimum of one planned add: its one set member and its one rule, as single
 * commands. Throws unless the plan is exactly that (one `add` line, one `-A` line): then the
 * minimum would be something else.
 */
function kernelMinimumCommands(step: AddStep): KernelMinimum {
  const setLines = step.ipsets.split('\n').filter((l) => l !== '')
  const tableLines = step.tables.split('\n').filter((l) => l !== '')
  const table = tableLines[0]?.slice(1)
  const rules = tableLines.filter((l) => l.startsWith('-A '))
  const member = setLines.length === 1 ? /^add (\S+) (\S+)$/.exec(setLines[0] as string) : null
  if (member === null || rules.length !== 1 || tableLines.length !== 3 || table === undefined) {
    throw new Error(`bench: an added forward is not one set member and one rule here: ${JSON.stringify(step)}`)
  }
  const [chain, ...rule] = splitArgs((rules[0] as string).slice(3))
  return { ipset: ['add', member[1] as string, member[2] as string], iptables: ['-w', '5', '-t', table, '-A', chain as string, ...rule] }
}

/** One added forward as the engine plans it: the ipset lines and the iptables partial, from state 10k+i to 10k+i+1. */
interface AddStep { ipsets: string; tables: string }

/** Rendered states 10k, 10k+1, … as the engine builds them (withItem), with the planned kernel edits between each. */
function addOneSteps(count: number): { full: { ipsets: string; tables: string }; steps: AddStep[] } {
  const facts = labFacts()
  const owned = (name: string) => name.startsWith(IPSET_PREFIX)
  const setsOf = (r: RenderedRouter) => new Map(r.ipsets.map((x) => [x.name, [...x.entries].sort()]))
  let config = checked(withForwards(N_FORWARDS))
  let rendered = renderRouter(config, facts)
  const full = { ipsets: formatIpsets(rendered.ipsets), tables: rendered.tables.map(formatTable).join('') }
  const steps: AddStep[] = []
  for (let i = 0; i < count; i++) {
    const id = `pf-add-${i}`
    config = withItem(config, 'portForwards', id, portForward(id, 20_000 + i) as unknown as PortForward)
    const next = renderRouter(config, facts)
    const sets = planIpsets(setsOf(rendered), next.ipsets, owned)
    const text = (lines: string[]) => (lines.length === 0 ? '' : lines.join('\n') + '\n')
    steps.push({ ipsets: text([...sets.before, ...sets.after]), tables: planIptables(rendered.tables, next.tables).tables.map((t) => t.text).join('') })
    rendered = next
  }
  return { full, steps }
}

/**
 * The kernel step alone: the ipset and iptables edits routerd plans for one added forward, run
 * one after the other in a namespace holding the 10k state (routerd may overlap the two).
 */
async function addOneKernelFloor(full: { ipsets: string; tables: string }, edits: readonly AddStep[]): Promise<ReturnType<typeof summary> & { ipsetLines: number; iptablesLines: number }> {
  const ns = await ScratchNs.create()
  try {
    const steps: TimedStep[] = [
      { tool: 'ipset', args: ['restore', '-exist'], stdin: full.ipsets, timed: false },
      { tool: 'iptables-restore', args: ['-w', '5'], stdin: full.tables, timed: false },
    ]
    for (const e of edits) {
      steps.push({ tool: 'ipset', args: ['restore'], stdin: e.ipsets, timed: true })
      steps.push({ tool: 'iptables-restore', args: ['-w', '5', '--noflush'], stdin: e.tables, timed: true })
    }
    const ms = await ns.timeSteps(steps)
    const perAdd = edits.map((_, k) => (ms[2 * k] as number) + (ms[2 * k + 1] as number))
    const lineCount = (t: string) => t.split('\n').filter((l) => l !== '').length
    return { ...summary(perAdd), ipsetLines: lineCount(edits[1]?.ipsets ?? ''), iptablesLines: lineCount(edits[1]?.tables ?? '') }
  } finally {
    await ns.destroy()
  }
}

// ---------------------------------------------------------------------------------------------
// 3: forwarding throughput through routerd's rule layout vs a MASQUERADE-only router.

async function benchThroughput(lab: Lab, routerd: Routerd): Promise<void> {
  const docBody = JSON.stringify(withForwards(N_FORWARDS, N_FIREWALL))
  const baseBody = JSON.stringify(baseConfig())
  const put = await routerd.api.ok('PUT', '/v1/config', docBody)
  memoryCheckpoints['after10kForwardsPlus1kFirewall'] = routerd.memory()
  const countRules = async () => (await iptablesSave(lab.ns.rtr)).split('\n').filter((l) => l.startsWith('-A ')).length
  const kernelRules = await countRules()
  const ipsets = (await run(binary('ipset'), ['list', '-n'], { netns: lab.ns.rtr })).stdout.split('\n').filter((l) => l !== '').length
  log(`throughput: routerd applied ${N_FORWARDS} forwards + ${N_FIREWALL} firewall rules in ${put.ms.toFixed(0)} ms (${kernelRules} rules, ${ipsets} ipsets)`)

  // The peer's target state: a freshly built lab router, configured by hand (and the sysctls routerd changes, as such a lab has them).
  const ref = await Lab.create(LAB_PREFIX)
  const destroyRef = onCleanup(`lab ${ref.id}`, () => ref.destroy())
  const freshSysctls = await readSysctls(ref)
  await configureMasqueradeOnly(ref)
  const refState = await routerStateDump(ref)
  await destroyRef()

  // All sides in this one lab, switched every round (see lib/router-state.ts for why not one lab per side):
  //   routerd10k: routerd with the 10k forwards + 1k firewall rules
  //   routerdBase: the same daemon with the base config (diagnosis: routerd's fixed layout without the 11k rules)
  //   masqueradeOnly: routerd stopped, the namespace reset to a fresh lab's state, then configured by hand
  const server = await startIperfServer(lab)
  const gbps: Record<'routerd10k' | 'routerdBase' | 'masqueradeOnly', number[]> = { routerd10k: [], routerdBase: [], masqueradeOnly: [] }
  const retransmits: Record<string, (number | null)[]> = { routerd10k: [], routerdBase: [], masqueradeOnly: [] }
  const routerdCpu: Record<string, number[]> = { routerd10k: [], routerdBase: [] }
  const measure = async (side: keyof typeof gbps) => {
    // Every side gets the same quiet second first (routerd may still be collecting the garbage of an apply).
    await sleep(SETTLE_MS)
    const cpu0 = side === 'masqueradeOnly' ? 0 : routerd.cpuMs()
    const r = await iperfRun(lab, IPERF_SECONDS)
    if (side !== 'masqueradeOnly') routerdCpu[side]?.push(routerd.cpuMs() - cpu0)
    gbps[side].push(r.gbps)
    retransmits[side]?.push(r.retransmits)
  }
  let masqueradeState: unknown = 'not checked'
  const restarts: number[] = []
  // Switches between the sides. Every round starts and ends with routerd running the 10k document.
  const toMasquerade = async () => {
    const code = await routerd.stop()
    if (code !== 0) throw new Error(`routerd exited with ${code} on SIGTERM`)
    await resetRouterNs(lab, freshSysctls)
    await configureMasqueradeOnly(lab)
    if (masqueradeState === 'not checked') {
      const have = await routerStateDump(lab)
      const onlyHere = have.filter((l) => !refState.includes(l))
      const onlyFresh = refState.filter((l) => !have.includes(l))
      masqueradeState = { sameAsFreshLab: onlyHere.length === 0 && onlyFresh.length === 0, onlyHere, onlyFresh }
      if (onlyHere.length + onlyFresh.length > 0) log(`WARNING: reset router differs from a fresh hand-configured one: ${JSON.stringify(masqueradeState)}`)
    }
  }
  const toRouterd = async () => {
    // From a fresh namespace, as on boot: routerd applies the stored 10k document before it answers.
    await resetRouterNs(lab, freshSysctls)
    const t0 = performance.now()
    await routerd.restart()
    restarts.push(performance.now() - t0)
    const rules = await countRules()
    if (rules !== kernelRules) throw new Error(`routerd holds ${rules} rules after its restart, expected ${kernelRules}`)
  }
  const routerdSides = async () => {
    await measure('routerd10k')
    await routerd.api.ok('PUT', '/v1/config', baseBody)
    await measure('routerdBase')
    await routerd.api.ok('PUT', '/v1/config', docBody)
  }
  // The order alternates (routerd first, then MASQUERADE first) so that no side always follows the same switch.
  const { truncated } = await bounded(IPERF_RUNS, IPERF_BUDGET_MS, async (i) => {
    if (i % 2 === 0) {
      await routerdSides()
      await toMasquerade()
      await measure('masqueradeOnly')
      await toRouterd()
    } else {
      await toMasquerade()
      await measure('masqueradeOnly')
      await toRouterd()
      await routerdSides()
    }
    log(`iperf3 round ${i + 1}: ${Object.entries(gbps).map(([k, v]) => `${k} ${(v.at(-1) as number).toFixed(2)}`).join(', ')} Gbit/s`)
  })
  const ours = gbps.routerd10k
  const peer = gbps.masqueradeOnly
  const base = gbps.routerdBase
  const medOurs = median(ours)
  const medPeer = median(peer)
  const medBase = median(base)
  details['forwarding_throughput_10k_rules'] = {
    gbps: Object.fromEntries(Object.entries(gbps).map(([k, v]) => [k, summary(v, 3)])),
    pairedRatioRouterd10kToMasquerade: summary(ours.map((o, k) => o / (peer[k] as number)), 3),
    retransmits,
    routerdCpuMsDuringRuns: routerdCpu,
    settleBeforeEachRunMs: SETTLE_MS,
    // Every router source-NATs to 203.0.113.10: the server must have seen only that address.
    serverSawClientsFrom: acceptedFrom(server),
    masqueradeRouterState: masqueradeState,
    routerdRestartWithStoredConfigMs: restarts.length > 0 ? summary(restarts, 0) : null,
    routerdConfig: { portForwards: N_FORWARDS, firewallRules: N_FIREWALL, kernelRuleLines: kernelRules, ipsets, applyRequestMs: round(put.ms, 1) },
    iperf: `iperf3 -c ${LAB_ADDR.internetHost} -t ${IPERF_SECONDS} -O 1 -J from vm1; server -B ${LAB_ADDR.internetHost} in the internet namespace; all sides in one lab, switched every round`,
    truncatedByTimeBudget: truncated,
  }
  notes.push(`throughput: ${ours.length} rounds of ${IPERF_SECONDS} s runs in one lab; medians routerd-10k ${medOurs.toFixed(1)}, routerd-base ${medBase.toFixed(1)}, ` +
    `MASQUERADE-only ${medPeer.toFixed(1)} Gbit/s; single runs spread ${Math.min(...ours, ...peer, ...base).toFixed(1)}–${Math.max(...ours, ...peer, ...base).toFixed(1)} Gbit/s (one stream, 2 cores)`)
  results.push({
    name: 'forwarding_throughput_10k_rules', unit: 'Gbit/s', ours: round(medOurs, 3),
    peer: 'the same lab router reset and configured by hand: MASQUERADE only, no routerd', peer_value: round(medPeer, 3),
    ratio: round(medOurs / medPeer, 3), target: 'ratio >= 0.9', pass: medOurs / medPeer >= 0.9,
  })
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench-core needs root (network namespaces)')
  cleanupOnSignals()
  const started = performance.now()
  const lab = await Lab.create(LAB_PREFIX)
  onCleanup(`lab ${lab.id}`, () => lab.destroy())
  log(`lab ${lab.id} up; starting routerd in ${lab.ns.rtr}`)
  const daemon = daemonCommand(ROOT)
  log(`routerd: ${daemon.source}`)
  const profiling = PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`]
  const routerd = await Routerd.start(lab, daemon.command, { nodeArgs: profiling })
  await benchApply(lab, routerd)
  await benchAddOne(lab, routerd)
  await benchThroughput(lab, routerd)
  const exitCode = await routerd.stop()
  if (exitCode !== 0) log(`routerd exited with ${exitCode} on SIGTERM: ${routerd.process.output().slice(-1000)}`)

  const mb = (m: ReturnType<Routerd['memory']>) => ({ vmRss: round(m.rssMb, 1), vmHwm: round(m.hwmMb, 1), rssAnon: round(m.anonMb, 1), rssFile: round(m.fileMb, 1) })
  const rss = details['routerd_rss_mb_10k_rules'] as { memoryMb: unknown }
  const at = (k: string) => memoryCheckpoints[k]
  notes.push(`rss: ${at('atStart')?.rssMb.toFixed(0)} MB idle at start (${at('atStart')?.fileMb.toFixed(0)} MB of it file-backed: the node binary and libraries), ` +
    `${at('rightAfterFirst10kApply')?.rssMb.toFixed(0)} MB at the answer to the first 10k apply, ${at('afterFirst10kApply')?.rssMb.toFixed(0)} MB ${SETTLE_AFTER_APPLY_MS / 1000} s later, ` +
    `${at('after10kApplyRepetitions')?.rssMb.toFixed(0)} MB after ${APPLY_REPS} apply repetitions`)
  rss.memoryMb = Object.fromEntries(Object.entries(memoryCheckpoints).map(([k, m]) => [k, mb(m)]))
  const order = ['apply_10k_port_forwards', 'add_one_rule_at_10k_p50_ms', 'forwarding_throughput_10k_rules', 'routerd_rss_mb_10k_rules']
  results.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name))
  const doc = {
    suite: 'core',
    target: 'apply_10k_port_forwards ratio <= 1.2; add_one_rule_at_10k_p50_ms ratio <= 2.5 (to the kernel minimum); forwarding_throughput_10k_rules ratio >= 0.9; routerd_rss_mb_10k_rules <= 80 MB',
    machine: await machine(),
    daemon: daemon.source,
    revision: await revision(ROOT),
    ...(PROFILE_DIR === undefined ? {} : { profiled: 'routerd ran with --cpu-prof: timings are inflated' }),
    generatedAt: new Date().toISOString(),
    durationS: 0,
    results,
    notes,
    details,
  }
  doc.durationS = round((performance.now() - started) / 1000, 1)
  writeResults(RESULTS, doc)
}

await runSuite('bench-core', main)
