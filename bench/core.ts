#!/usr/bin/env node
import { mkdirSync, writeFileSync } from 'node:fs'
import { cpus, release } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { binary, run } from '../src/kernel/exec.ts'
import { Lab, LAB_ADDR } from '../src/lab/lab.ts'
import type { RouterConfig } from '../src/model/config.ts'
import { validateConfig } from '../src/model/parse.ts'
import { planIptables } from '../src/plan/iptables.ts'
import { renderRouter } from '../src/render/index.ts'
import { formatTable } from '../src/render/iptables/table.ts'
import { cleanupOnSignals, onCleanup, runAll } from './lib/cleanup.ts'
import { baseConfig, FORWARD_IP, labFacts, portForward, withForwards } from './lib/configs.ts'
import { acceptedFrom, iperfRun, startIperfServer } from './lib/iperf.ts'
import { Routerd } from './lib/routerd.ts'
import { ScratchNs, type TimedStep } from './lib/scratch.ts'
import { bounded, median, percentile, round, summary } from './lib/stats.ts'

/**
 * `make bench-core`: routerd against plain kernel tools, measured in the same run.
 *
 *   apply_10k_port_forwards           PUT /v1/config with 10,000 forwards (from the base config) vs
 *                                     iptables-restore of the same rendered tables into an empty namespace
 *   add_one_rule_at_10k_p50_ms        PUT /v1/config/portForwards/<new> with 10,000 present vs
 *                                     one `iptables -A` into a 10,000-rule chain
 *   forwarding_throughput_10k_rules   iperf3 vm1 → internet through routerd (10k forwards + 1k firewall
 *                                     rules) vs the same lab router with only MASQUERADE, configured by hand
 *   routerd_rss_mb_10k_rules          VmRSS of routerd with the 10k forwards applied
 *
 * Writes bench/results/core.json. Every loop is bounded in count and time; every namespace and
 * process is removed at the end, also on failure or interruption.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const MAIN_JS = join(ROOT, 'dist', 'main-router.js')
const RESULTS = join(ROOT, 'bench', 'results', 'core.json')

const N_FORWARDS = 10_000
const N_FIREWALL = 1_000
const APPLY_REPS = 5
const APPLY_BUDGET_MS = 240_000
const ADD_SAMPLES = 50
const ADD_BUDGET_MS = 90_000
const PEER_ADD_SAMPLES = 30
const IPERF_RUNS = 3
const IPERF_SECONDS = 5
const IPERF_BUDGET_MS = 150_000

interface Result {
  name: string
  unit: string
  ours: number
  peer: string | null
  peer_value: number | null
  ratio: number | null
  target: string
  pass: boolean
}

const results: Result[] = []
const details: Record<string, unknown> = {}

function log(message: string): void {
  process.stderr.write(`[bench-core] ${message}\n`)
}

function checked(doc: Record<string, unknown>): RouterConfig {
  const r = validateConfig(doc, labFacts())
  if (!r.ok) throw new Error(`bench config invalid: ${JSON.stringify(r.diagnostics.slice(0, 5))}`)
  return r.config
}

function restoreText(doc: Record<string, unknown>): string {
  return renderRouter(checked(doc), labFacts()).tables.map(formatTable).join('')
}

/** iptables-save reduced to comparable lines: "<table> <chain decl or rule>", counters and comments dropped. */
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

async function iptablesSave(ns: string, table?: string): Promise<string> {
  return (await run(binary('iptables-save'), table === undefined ? [] : ['-t', table], { netns: ns })).stdout
}

// ---------------------------------------------------------------------------------------------
// 1 + 4: whole-document apply of 10k forwards, and the daemon's memory afterwards.

async function benchApply(lab: Lab, routerd: Routerd): Promise<void> {
  const baseBody = JSON.stringify(baseConfig())
  const big = withForwards(N_FORWARDS)
  const bigBody = JSON.stringify(big)
  const baseText = restoreText(baseConfig())
  const fullText = restoreText(big)
  const ruleLines = fullText.split('\n').filter((l) => l.startsWith('-A ')).length
  log(`apply: body ${(bigBody.length / 1e6).toFixed(2)} MB, rendered ${ruleLines} rule lines`)

  const ours: number[] = []
  const oursApplyMs: number[] = []
  const oursStages: { ipset: number; iptables: number; net: number }[] = []
  const peer: number[] = []
  let verified: unknown = 'not run'
  let lastReport: any
  const { truncated } = await bounded(APPLY_REPS, APPLY_BUDGET_MS, async (i) => {
    // Ours: from the base config (no forwards) to 10k, request sent until the answer.
    await routerd.api.ok('PUT', '/v1/config', baseBody)
    const r = await routerd.api.ok('PUT', '/v1/config', bigBody)
    ours.push(r.ms)
    lastReport = r.body?.report
    const status = (await routerd.api.ok('GET', '/v1/status')).body
    const applied = routerd.appliedLines().at(-1)
    if (applied !== undefined) oursApplyMs.push(applied.ms)
    if (status?.lastApply?.durationsMs) oursStages.push(status.lastApply.durationsMs)

    // Peer: the same rendered tables by one iptables-restore into a fresh namespace holding the base rules.
    const ns = await ScratchNs.create()
    try {
      const steps: TimedStep[] = [
        { tool: 'iptables-restore', args: ['-w', '5'], stdin: baseText, timed: false },
        { tool: 'iptables-restore', args: ['-w', '5'], stdin: fullText, timed: true },
      ]
      const [ms] = await ns.timeSteps(steps)
      peer.push(ms as number)
      if (i === 0) {
        // Both namespaces must now hold the same rules: the peer restored what routerd applied.
        const a = comparableSave(await iptablesSave(lab.ns.rtr))
        const b = comparableSave(await iptablesSave(ns.name))
        const onlyOurs = a.filter((l) => !b.includes(l)).length
        const onlyPeer = b.filter((l) => !a.includes(l)).length
        verified = { routerdLines: a.length, peerLines: b.length, identical: a.length === b.length && a.every((l, k) => l === b[k]), onlyRouterd: onlyOurs, onlyPeer }
        if (!(verified as { identical: boolean }).identical) log(`WARNING: peer and routerd rule sets differ: ${JSON.stringify(verified)}`)
      }
    } finally {
      await ns.destroy()
    }
    log(`apply rep ${i + 1}: routerd ${ours.at(-1)?.toFixed(0)} ms (apply ${oursApplyMs.at(-1)} ms), iptables-restore ${peer.at(-1)?.toFixed(0)} ms`)
  })

  const mem = routerd.memory()
  const medOurs = median(ours)
  const medPeer = median(peer)

  // Where the request time goes outside the kernel apply: the same pure steps, timed in this process.
  const inProcess = timePureSteps(baseConfig(), big, bigBody)

  details['apply_10k_port_forwards'] = {
    routerdRequestMs: summary(ours),
    routerdApplyMsFromLog: summary(oursApplyMs),
    routerdStageMsMedian: oursStages.length === 0 ? null : {
      ipset: round(median(oursStages.map((s) => s.ipset))),
      iptables: round(median(oursStages.map((s) => s.iptables))),
      net: round(median(oursStages.map((s) => s.net))),
    },
    lastReport,
    peerRestoreMs: summary(peer),
    peerCommand: 'iptables-restore -w 5 < rendered tables (fresh namespace, base rules restored first, untimed)',
    renderedRuleLines: ruleLines,
    bodyBytes: bigBody.length,
    sameRulesCheck: verified,
    inProcessEstimateMs: inProcess,
    truncatedByTimeBudget: truncated,
  }
  results.push({
    name: 'apply_10k_port_forwards', unit: 'ms', ours: round(medOurs, 1),
    peer: 'iptables-restore (nf_tables) of the same rendered rules', peer_value: round(medPeer, 1),
    ratio: round(medOurs / medPeer, 3), target: 'ratio <= 1.2', pass: medOurs / medPeer <= 1.2,
  })

  details['routerd_rss_mb_10k_rules'] = { vmRssMb: round(mem.rssMb, 1), vmHwmMb: round(mem.hwmMb, 1), pid: routerd.process.pid, when: 'right after the last 10k apply' }
  results.push({
    name: 'routerd_rss_mb_10k_rules', unit: 'MB', ours: round(mem.rssMb, 1),
    peer: null, peer_value: null, ratio: null, target: 'ours <= 80 MB', pass: mem.rssMb <= 80,
  })
}

/** Median wall time of the daemon's pure steps for the 10k document, run here (same Node, same code). */
function timePureSteps(base: Record<string, unknown>, big: Record<string, unknown>, bigBody: string): Record<string, number> {
  const facts = labFacts()
  const baseTables = renderRouter(checked(base), facts).tables
  const parse: number[] = []
  const validate: number[] = []
  const render: number[] = []
  const plan: number[] = []
  const persist: number[] = []
  for (let i = 0; i < 5; i++) {
    let t = performance.now()
    JSON.parse(bigBody)
    parse.push(performance.now() - t)
    t = performance.now()
    const v = validateConfig(big, facts)
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
// 2: one forward added through the item API with 10k present.

async function benchAddOne(lab: Lab, routerd: Routerd): Promise<void> {
  const ours: number[] = []
  const applyMs: number[] = []
  const iptMs: number[] = []
  const checks: Record<string, boolean> = {}
  const verify = async (id: string) => {
    const [nat, mangle] = await Promise.all([iptablesSave(lab.ns.rtr, 'nat'), iptablesSave(lab.ns.rtr, 'mangle')])
    // iptables-save quotes comments: --comment "svm:pf:<id>".
    const tagged = (l: string) => l.includes(`--comment "svm:pf:${id}"`) || l.includes(`--comment svm:pf:${id} `)
    const ok = nat.split('\n').some((l) => tagged(l) && l.includes('-j DNAT')) && mangle.split('\n').some((l) => tagged(l) && l.includes('-j ACCEPT'))
    checks[id] = ok
    if (!ok) throw new Error(`port forward ${id} is not in the kernel after the API answered`)
  }
  const { truncated } = await bounded(ADD_SAMPLES, ADD_BUDGET_MS, async (i) => {
    const id = `pf-add-${i}`
    const port = 20_000 + i
    const r = await routerd.api.ok('PUT', `/v1/config/portForwards/${id}`, JSON.stringify(portForward(id, port)))
    ours.push(r.ms)
    const applied = routerd.appliedLines().at(-1)
    if (applied !== undefined && applied.generation === r.body?.generation) applyMs.push(applied.ms)
    const d = r.body?.report?.durationsMs
    if (typeof d?.iptables === 'number') iptMs.push(d.iptables)
    // Checked right after the answer (untimed): the API answers only after the kernel has the rule.
    if (i === 0 || i === 1) await verify(id)
  })
  await verify(`pf-add-${ours.length - 1}`)
  const p50 = median(ours)

  // Peer: the same single DNAT rule by `iptables -A` into a chain already holding 10k rules.
  const ns = await ScratchNs.create()
  let peer: number[]
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
    peer = await ns.timeSteps(steps)
  } finally {
    await ns.destroy()
  }
  const peerP50 = median(peer)
  log(`add one: routerd p50 ${p50.toFixed(1)} ms (n=${ours.length}), iptables -A p50 ${peerP50.toFixed(1)} ms`)
  details['add_one_rule_at_10k_p50_ms'] = {
    routerdRequestMs: { ...summary(ours), p99: round(percentile(ours, 99)) },
    routerdApplyMsFromLog: applyMs.length > 0 ? summary(applyMs) : null,
    routerdIptablesStageMs: iptMs.length > 0 ? summary(iptMs) : null,
    kernelCheckedAfterAnswer: checks,
    peerIptablesAppendMs: summary(peer),
    peerCommand: 'iptables -w 5 -t nat -A BENCH-FLAT … -j DNAT (chain of 10,000 DNAT rules, fresh namespace)',
    truncatedByTimeBudget: truncated,
  }
  results.push({
    name: 'add_one_rule_at_10k_p50_ms', unit: 'ms', ours: round(p50, 1),
    peer: 'iptables -A of one rule into a 10k-rule chain', peer_value: round(peerP50, 1),
    ratio: round(p50 / peerP50, 3), target: 'ours <= 50 ms', pass: p50 <= 50,
  })
}

// ---------------------------------------------------------------------------------------------
// 3: forwarding throughput through routerd's rule layout vs a MASQUERADE-only router.

async function configureMasqueradeOnly(lab: Lab): Promise<void> {
  const rtr = lab.ns.rtr
  const ip = (...args: string[]) => lab.exec(rtr, 'ip', args)
  await ip('link', 'set', 'eth1', 'up')
  await ip('link', 'set', 'eth2', 'up')
  await ip('address', 'add', `${LAB_ADDR.router}/24`, 'dev', 'eth1')
  await ip('address', 'add', '203.0.113.10/24', 'dev', 'eth2')
  await ip('route', 'add', 'default', 'via', LAB_ADDR.public0Gateway)
  await lab.exec(rtr, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1'])
  await lab.exec(rtr, 'iptables', ['-w', '5', '-t', 'nat', '-A', 'POSTROUTING', '-o', 'eth2', '-j', 'MASQUERADE'])
}

async function benchThroughput(lab: Lab, routerd: Routerd): Promise<void> {
  const doc = withForwards(N_FORWARDS, N_FIREWALL)
  const put = await routerd.api.ok('PUT', '/v1/config', JSON.stringify(doc))
  const kernelRules = (await iptablesSave(lab.ns.rtr)).split('\n').filter((l) => l.startsWith('-A ')).length
  const ipsets = (await run(binary('ipset'), ['list', '-n'], { netns: lab.ns.rtr })).stdout.split('\n').filter((l) => l !== '').length
  log(`throughput: routerd applied ${N_FORWARDS} forwards + ${N_FIREWALL} firewall rules in ${put.ms.toFixed(0)} ms (${kernelRules} rules, ${ipsets} ipsets)`)

  const peerLab = await Lab.create('svmb')
  onCleanup(`lab ${peerLab.id}`, () => peerLab.destroy())
  await configureMasqueradeOnly(peerLab)
  const oursServer = await startIperfServer(lab)
  const peerServer = await startIperfServer(peerLab)

  const ours: number[] = []
  const peer: number[] = []
  const retrans: { ours: (number | null)[]; peer: (number | null)[] } = { ours: [], peer: [] }
  // Interleaved so that machine noise falls on both sides alike.
  const { truncated } = await bounded(IPERF_RUNS, IPERF_BUDGET_MS, async (i) => {
    const a = await iperfRun(lab, IPERF_SECONDS)
    const b = await iperfRun(peerLab, IPERF_SECONDS)
    ours.push(a.gbps)
    peer.push(b.gbps)
    retrans.ours.push(a.retransmits)
    retrans.peer.push(b.retransmits)
    log(`iperf3 run ${i + 1}: routerd ${a.gbps.toFixed(2)} Gbit/s, MASQUERADE-only ${b.gbps.toFixed(2)} Gbit/s`)
  })
  const medOurs = median(ours)
  const medPeer = median(peer)
  details['forwarding_throughput_10k_rules'] = {
    routerdGbps: summary(ours, 3),
    peerGbps: summary(peer, 3),
    retransmits: retrans,
    // Both routers source-NAT to 203.0.113.10: the server must have seen only that address.
    serverSawClientsFrom: { routerd: acceptedFrom(oursServer), peer: acceptedFrom(peerServer) },
    routerdConfig: { portForwards: N_FORWARDS, firewallRules: N_FIREWALL, kernelRuleLines: kernelRules, ipsets, applyRequestMs: round(put.ms, 1) },
    iperf: `iperf3 -c ${LAB_ADDR.internetHost} -t ${IPERF_SECONDS} -O 1 -J from vm1; server -B ${LAB_ADDR.internetHost} in the internet namespace`,
    truncatedByTimeBudget: truncated,
  }
  results.push({
    name: 'forwarding_throughput_10k_rules', unit: 'Gbit/s', ours: round(medOurs, 3),
    peer: 'same lab router, hand-configured MASQUERADE only (no routerd)', peer_value: round(medPeer, 3),
    ratio: round(medOurs / medPeer, 3), target: 'ratio >= 0.9', pass: medOurs / medPeer >= 0.9,
  })
}

// ---------------------------------------------------------------------------------------------

function printTable(): void {
  const rows = [
    ['name', 'unit', 'ours', 'peer_value', 'ratio', 'target', 'pass'],
    ...results.map((r) => [r.name, r.unit, String(r.ours), r.peer_value === null ? '-' : String(r.peer_value), r.ratio === null ? '-' : String(r.ratio), r.target, r.pass ? 'yes' : 'NO']),
  ]
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => row[c]!.length)))
  const line = (row: string[]) => row.map((cell, c) => (c >= 2 && c <= 4 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join('  ')
  process.stdout.write(`\n${line(rows[0]!)}\n${widths.map((w) => '-'.repeat(w)).join('  ')}\n`)
  for (const row of rows.slice(1)) process.stdout.write(`${line(row)}\n`)
  for (const r of results) if (r.peer !== null) process.stdout.write(`  peer of ${r.name}: ${r.peer}\n`)
}

async function machine(): Promise<string> {
  const ipt = await run(binary('iptables'), ['--version']).then((r) => r.stdout.trim(), () => 'iptables ?')
  return `${cpus().length} cores (${cpus()[0]?.model ?? '?'}), kernel ${release()}, node ${process.version}, ${ipt}`
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench-core needs root (network namespaces)')
  cleanupOnSignals()
  const started = performance.now()
  const lab = await Lab.create('svmb')
  onCleanup(`lab ${lab.id}`, () => lab.destroy())
  log(`lab ${lab.id} up; starting routerd in ${lab.ns.rtr}`)
  const routerd = await Routerd.start(lab, MAIN_JS)
  await benchApply(lab, routerd)
  await benchAddOne(lab, routerd)
  await benchThroughput(lab, routerd)

  const order = ['apply_10k_port_forwards', 'add_one_rule_at_10k_p50_ms', 'forwarding_throughput_10k_rules', 'routerd_rss_mb_10k_rules']
  results.sort((a, b) => order.indexOf(a.name) - order.indexOf(b.name))
  const doc = {
    suite: 'core',
    target: 'apply_10k_port_forwards ratio <= 1.2; add_one_rule_at_10k_p50_ms <= 50 ms; forwarding_throughput_10k_rules ratio >= 0.9; routerd_rss_mb_10k_rules <= 80 MB',
    machine: await machine(),
    generatedAt: new Date().toISOString(),
    durationS: 0,
    results,
    details,
  }
  doc.durationS = round((performance.now() - started) / 1000, 1)
  mkdirSync(dirname(RESULTS), { recursive: true })
  writeFileSync(RESULTS, JSON.stringify(doc, null, 2) + '\n')
  printTable()
  process.stdout.write(`\nwrote ${RESULTS} (${doc.durationS} s)\n`)
}

let failed = false
try {
  await main()
} catch (err) {
  failed = true
  process.stderr.write(`bench-core failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`)
} finally {
  await runAll()
}
process.exit(failed ? 1 : 0)
