#!/usr/bin/env node
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { binary, run, startProcess, type StartedProcess } from '../src/core/exec.ts'
import { Daemon } from '../src/lab/daemon.ts'
import type { SecGroupDocument, SecurityGroupRule, SgPort } from '../src/router/secgroup/model.ts'
import { formatIpsets } from '../src/router/render/ipset.ts'
import { ebtablesText, iptablesText, nfacctText, remoteSet, renderSecGroups, type RenderedSecGroups } from '../src/router/secgroup/render.ts'
import { RouterdApi } from './lib/api.ts'
import { cleanupOnSignals, onCleanup } from './lib/cleanup.ts'
import { machine, revision, runSuite, writeResults, type Result } from './lib/report.ts'
import { ScratchNs, type TimedStep } from './lib/scratch.ts'
import { median, round, sleep, summary } from './lib/stats.ts'

/**
 * `make bench-secgroup`: routerd in role secgroup against the kernel tools and CloudStack's way,
 * in the same run, on a hypervisor host namespace with a bridge (bridge netfilter on).
 *
 *   sg_apply_1000_ports               PUT /v1/config of 1,000 ports x 10 rules in 20 groups onto a host
 *                                     holding none of ours, vs ipset restore + iptables-restore +
 *                                     ip6tables-restore + ebtables-restore + nfacct restore of the same rendered text
 *                                     (run one after the other) into a fresh namespace (ratio)
 *   sg_member_change_p50_ms           PUT of a VM's port, its groups now with the host's group of 1,000
 *                                     members (a group the others' rules name as their remote group):
 *                                     the API call until the answer (the set has it: checked), p50.
 *                                     Also measured, in the notes: a new VM port joining it (its
 *                                     chains and the dispatch trees written as well)
 *   sg_rule_add_p50_ms_vs_cloudstack  PUT of one rule for one VM (its own group) with the 1,000 ports
 *                                     present, vs CloudStack's security_group.py way for the same VM
 *                                     on the same host: flush the VM's chain, then one `iptables`
 *                                     process per rule of it (ratio of p50s)
 *   sg_forwarding_throughput          iperf3 between two VMs across the bridge with the 1,000-port
 *                                     rule set vs a twin host's bridge with no rules, in pairs (median of the pairs' ratios)
 *
 * Writes bench/results/secgroup.json. Every namespace and process is removed at the end, also on
 * failure or interruption.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
/**
 * BENCH_ROUTERD_CPU_PROF=<dir>: diagnosis only. routerd runs with --cpu-prof (its profile lands in
 * <dir> when it stops) and the results go to <dir>/secgroup.json, bench/results is left alone.
 */
const PROFILE_DIR = process.env['BENCH_ROUTERD_CPU_PROF']
const RESULTS = PROFILE_DIR === undefined ? join(ROOT, 'bench', 'results', 'secgroup.json') : join(PROFILE_DIR, 'secgroup.json')
const N_PORTS = 1000
const N_GROUPS = 20
const APPLY_REPS = 5
const CHANGE_SAMPLES = 40
const RULE_SAMPLES = 30
const PEER_RULE_SAMPLES = 15
const IPERF_RUNS = 10
const IPERF_SECONDS = 3
/** The group every port is in: a remote group of 1,000 members (one set per family). */
const ALL = 'all'
/** The VM whose rules sg_rule_add edits: alone in its own group, as CloudStack's rules are per VM. */
const SOLO = 'solo'

const results: Result[] = []
const notes: string[] = []
const details: Record<string, unknown> = {}

function log(message: string): void {
  process.stderr.write(`[bench-secgroup] ${message}\n`)
}

const hex = (n: number) => (n & 0xff).toString(16).padStart(2, '0')
const mac = (i: number) => `52:54:00:${hex((i + 1) >> 16)}:${hex((i + 1) >> 8)}:${hex(i + 1)}`
/** 10.20.0.1 and up: every port its own address in the bridge's 10/8. */
const ipv4 = (i: number) => `10.${20 + ((i + 1) >> 16)}.${((i + 1) >> 8) & 0xff}.${(i + 1) & 0xff}`

function port(i: number, extraGroups: string[] = [ALL]): SgPort {
  return { id: `vm-${i}`, device: `vnet${i}`, mac: mac(i), ipv4: [ipv4(i)], ipv6: [`2001:db8:20::${(i + 1).toString(16)}`], groups: [`g${i % N_GROUPS}`, ...extraGroups] }
}

/** The VM that joins and leaves the big group (one port more than N_PORTS, in its own group only). */
const JOINER = N_PORTS

/** Ten rules per group, of every kind a group holds: tcp and udp ranges, icmp types, CIDRs, remote groups, egress. */
function groupRules(g: number): SecurityGroupRule[] {
  const group = `g${g}`
  const rule = (n: number, r: Omit<SecurityGroupRule, 'id' | 'group'>): SecurityGroupRule => ({ id: `${group}-r${n}`, group, ...r })
  return [
    rule(0, { direction: 'ingress', protocol: 'tcp', ports: { start: 22 }, cidrs: ['192.0.2.0/24', '2001:db8:ff::/48'] }),
    rule(1, { direction: 'ingress', protocol: 'tcp', ports: { start: 80 }, cidrs: ['0.0.0.0/0', '::/0'] }),
    rule(2, { direction: 'ingress', protocol: 'tcp', ports: { start: 443 }, cidrs: ['0.0.0.0/0', '::/0'] }),
    rule(3, { direction: 'ingress', protocol: 'tcp', ports: { start: 8000 + g, end: 8100 + g }, cidrs: [`10.${100 + g}.0.0/16`] }),
    rule(4, { direction: 'ingress', protocol: 'udp', ports: { start: 53 }, cidrs: ['10.0.0.0/8'] }),
    rule(5, { direction: 'ingress', protocol: 'icmp', icmpType: 8 }),
    rule(6, { direction: 'ingress', protocol: 'icmpv6', icmpType: 128, icmpCode: 0 }),
    // iperf3 between members of the host's big group, and a port range from the group's own.
    rule(7, { direction: 'ingress', protocol: 'tcp', ports: { start: 5201 }, remoteGroup: ALL }),
    rule(8, { direction: 'ingress', protocol: 'tcp', ports: { start: 9000, end: 9099 }, remoteGroup: group }),
    rule(9, { direction: 'egress', protocol: 'all', cidrs: ['0.0.0.0/0', '::/0'] }),
  ]
}

function document(ports = N_PORTS): SecGroupDocument {
  return {
    ports: [...Array.from({ length: ports }, (_, i) => port(i, i === 7 ? [ALL, SOLO] : [ALL])), port(JOINER, [])],
    securityGroups: [...Array.from({ length: N_GROUPS }, (_, g) => ({ id: `g${g}` })), { id: ALL }, { id: SOLO }],
    securityGroupRules: Array.from({ length: N_GROUPS }, (_, g) => groupRules(g)).flat(),
  }
}

const EMPTY: SecGroupDocument = { ports: [], securityGroups: [], securityGroupRules: [] }

/** A hypervisor host: a namespace with a bridge, bridge netfilter on, and two VMs on veth "taps" (vnet0, vnet1). */
async function createHost(): Promise<{ host: ScratchNs; vms: ScratchNs[] }> {
  const host = await ScratchNs.create('svmbenchsg')
  const ip = (ns: string, ...args: string[]) => run(binary('ip'), ['-n', ns, ...args])
  await ip(host.name, 'link', 'add', 'br0', 'type', 'bridge')
  await ip(host.name, 'link', 'set', 'br0', 'up')
  await host.exec('sysctl', ['-q', '-w', 'net.bridge.bridge-nf-call-iptables=1', 'net.bridge.bridge-nf-call-ip6tables=1', 'net.bridge.bridge-nf-call-arptables=1'])
  const vms: ScratchNs[] = []
  for (const i of [0, 1]) {
    const vm = await ScratchNs.create('svmbenchsgvm')
    const p = port(i)
    await ip(host.name, 'link', 'add', p.device, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vm.name)
    await ip(host.name, 'link', 'set', p.device, 'master', 'br0', 'up')
    await ip(vm.name, 'link', 'set', 'eth0', 'address', p.mac, 'up')
    await ip(vm.name, 'addr', 'add', `${p.ipv4[0]}/8`, 'dev', 'eth0')
    vms.push(vm)
  }
  return { host, vms }
}

async function startRouterd(host: ScratchNs): Promise<{ daemon: Daemon; api: RouterdApi }> {
  const nodeArgs = PROFILE_DIR === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`]
  const daemon = await Daemon.launch({ name: 'routerd', netns: host.name, nodeArgs, config: { role: 'secgroup', driftCheckSeconds: 0, logLevel: 'warn' }, timeoutMs: 60_000 })
  onCleanup(`routerd in ${daemon.dir}`, async () => { await daemon.stop(10_000); await daemon.close() })
  return { daemon, api: new RouterdApi(daemon.socket, daemon.token) }
}

/** The restores a plain script would run for a rendering: sets, then the three tables with their jumps. */
function peerSteps(r: RenderedSecGroups, timed: boolean): TimedStep[] {
  const withHooks = (text: string, tool: string, table: 'filter' | 'raw' = 'filter') =>
    text.replace(/COMMIT\n$/, r.hooks.filter((h) => h.tool === tool && h.table === table).map((h) => `-I ${h.chain} 1 ${h.rule}\n`).join('') + 'COMMIT\n')
  const family = (chains: RenderedSecGroups['ipv4'], tool: string) => withHooks(iptablesText(chains), tool) + withHooks(iptablesText(r.raw, 'raw'), tool, 'raw')
  return [
    { tool: 'ipset', args: ['restore'], stdin: formatIpsets(r.sets), timed },
    { tool: 'nfacct', args: ['restore'], stdin: nfacctText(r.counters), timed },
    { tool: 'iptables-restore', args: ['-w', '5', '--noflush'], stdin: family(r.ipv4, 'iptables'), timed },
    { tool: 'ip6tables-restore', args: ['-w', '5', '--noflush'], stdin: family(r.ipv6, 'ip6tables'), timed },
    { tool: 'ebtables-restore', args: ['--noflush'], stdin: withHooks(ebtablesText(r.ebtables), 'ebtables'), timed },
  ]
}

async function benchApply(api: RouterdApi, rendered: RenderedSecGroups, body: string): Promise<void> {
  log(`apply: ${N_PORTS} ports x 10 rules, ${N_GROUPS} groups, ${APPLY_REPS} times from none of ours`)
  const ours: number[] = []
  for (let i = 0; i < APPLY_REPS; i++) {
    await api.ok('PUT', '/v1/config', JSON.stringify(EMPTY))
    await sleep(500)
    ours.push((await api.ok('PUT', '/v1/config', body)).ms)
  }
  const peer: number[] = []
  for (let i = 0; i < APPLY_REPS; i++) {
    const scratch = await ScratchNs.create('svmbenchsgp')
    const ms = await scratch.timeSteps(peerSteps(rendered, true))
    peer.push(ms.reduce((a, b) => a + b, 0))
    await scratch.destroy()
  }
  const rules = [...rendered.ipv4, ...rendered.ipv6, ...rendered.ebtables].reduce((n, [, r]) => n + r.length, 0)
  const ratio = round(median(ours) / median(peer))
  details['apply'] = { ours: summary(ours), peer: summary(peer), rules, chains: rendered.ipv4.length + rendered.ipv6.length + rendered.ebtables.length }
  results.push({ name: 'sg_apply_1000_ports', unit: 'ratio', ours: round(median(ours), 1), peer: 'ipset, nfacct, iptables/ip6tables/ebtables-restore of the same text', peer_value: round(median(peer), 1), ratio, target: '<= 1.2', pass: ratio <= 1.2 })
  notes.push(`sg_apply_1000_ports: ${rules} rules in ${rendered.ipv4.length + rendered.ipv6.length + rendered.ebtables.length} chains; routerd ${round(median(ours), 1)} ms (API, check, render, plan, the restores: sets and counters, then the three tables side by side) vs ${round(median(peer), 1)} ms for the five restores one after the other`)
}

async function benchMemberChange(api: RouterdApi, host: ScratchNs): Promise<void> {
  log(`member change: a VM joining and leaving the ${N_PORTS}-member group, ${CHANGE_SAMPLES} times; a new VM port joining it, ${CHANGE_SAMPLES} times`)
  const set = remoteSet(ALL, 4)
  const inSet = (ip: string) => host.exec('ipset', ['test', set, ip]).then(() => true, () => false)
  const joiner = port(JOINER, [])
  const join: number[] = []
  for (let i = 0; i < CHANGE_SAMPLES; i++) {
    join.push((await api.ok('PUT', `/v1/config/ports/${joiner.id}`, JSON.stringify({ ...joiner, groups: [...joiner.groups, ALL] }))).ms)
    if (!await inSet(joiner.ipv4[0] as string)) throw new Error(`${set} lacks ${joiner.ipv4[0]} after the API answered`)
    await api.ok('PUT', `/v1/config/ports/${joiner.id}`, JSON.stringify(joiner))
    if (await inSet(joiner.ipv4[0] as string)) throw new Error(`${set} still has ${joiner.ipv4[0]} after it left`)
  }
  const added: number[] = []
  for (let i = 0; i < CHANGE_SAMPLES; i++) {
    const p = port(N_PORTS + 1 + i)
    added.push((await api.ok('PUT', `/v1/config/ports/${p.id}`, JSON.stringify(p))).ms)
    if (!await inSet(p.ipv4[0] as string)) throw new Error(`${set} lacks ${p.ipv4[0]} after the API answered`)
    await api.ok('DELETE', `/v1/config/ports/${p.id}`)
  }
  const p50 = round(median(join), 1)
  details['memberChange'] = { join: summary(join), newPort: summary(added) }
  results.push({ name: 'sg_member_change_p50_ms', unit: 'ms', ours: p50, peer: null, peer_value: null, ratio: null, target: '<= 20', pass: p50 <= 20 })
  notes.push(`sg_member_change_p50_ms: a VM joining the group: ${p50} ms (one ipset add per family); a new VM port joining it: ${round(median(added), 1)} ms p50 (its chains and counters made, one leaf inserted in each dispatch tree: one transaction per table)`)
}

async function benchRuleAdd(api: RouterdApi, host: ScratchNs, doc: SecGroupDocument): Promise<void> {
  log(`rule add: one rule for one VM with ${N_PORTS} ports present, ${RULE_SAMPLES} times; CloudStack's loop ${PEER_RULE_SAMPLES} times`)
  const ms: number[] = []
  let last: SecurityGroupRule | undefined
  for (let i = 0; i < RULE_SAMPLES; i++) {
    const rule: SecurityGroupRule = { id: `solo-${i}`, group: SOLO, direction: 'ingress', protocol: 'tcp', ports: { start: 10_000 + i }, cidrs: ['198.51.100.0/24'] }
    ms.push((await api.ok('PUT', `/v1/config/securityGroupRules/${rule.id}`, JSON.stringify(rule))).ms)
    await api.ok('DELETE', `/v1/config/securityGroupRules/${rule.id}`)
    last = rule
  }
  // The peer rebuilds the same VM's ingress chain as routerd renders it with the rule in, the way
  // security_group.py does: the chain flushed, then one iptables process per rule, on this host
  // (the same 1,000 ports' rules in place), in a chain of its own beside ours.
  const rendered = renderSecGroups({ ...doc, securityGroupRules: [...doc.securityGroupRules, last as SecurityGroupRule] })
  const vm = port(7)
  const chain = rendered.ipv4.find(([name, rules]) => name.startsWith('SVM-SGI-') && rules.some((r) => r.includes(`svm:sg-drop:${vm.id}:`)))
  if (chain === undefined) throw new Error(`no ingress chain rendered for ${vm.id}`)
  const csChain = 'cs-i-2-7-VM'
  await host.exec('iptables', ['-w', '-N', csChain])
  const steps: TimedStep[] = [
    { tool: 'iptables', args: ['-w', '-F', csChain], timed: true },
    ...chain[1].map((rule): TimedStep => ({ tool: 'iptables', args: ['-w', '-A', csChain, ...splitRule(rule)], timed: true })),
  ]
  const peer: number[] = []
  for (let i = 0; i < PEER_RULE_SAMPLES; i++) peer.push((await host.timeSteps(steps)).reduce((a, b) => a + b, 0))
  await host.exec('iptables', ['-w', '-F', csChain])
  await host.exec('iptables', ['-w', '-X', csChain])
  const ratio = round(median(ms) / median(peer))
  details['ruleAdd'] = { ours: summary(ms), peer: summary(peer), peerProcesses: steps.length }
  results.push({ name: 'sg_rule_add_p50_ms_vs_cloudstack', unit: 'ratio', ours: round(median(ms), 1), peer: `security_group.py's loop: flush + ${steps.length - 1} iptables processes`, peer_value: round(median(peer), 1), ratio, target: '<= 0.2', pass: ratio <= 0.2 })
}

/** A rule's restore text as argv (our rules quote only comments, which have no spaces). */
function splitRule(rule: string): string[] {
  return rule.split(' ').map((a) => a.replace(/^"(.*)"$/, '$1'))
}

async function iperf(vms: ScratchNs[], server: StartedProcess): Promise<number> {
  const r = await vms[1]!.exec('iperf3', ['-c', port(0).ipv4[0] as string, '-t', String(IPERF_SECONDS), '-O', '1', '-J'], { timeoutMs: (IPERF_SECONDS + 20) * 1000 })
  const report = JSON.parse(r.stdout)
  const bps = report.end?.sum_received?.bits_per_second
  if (typeof bps !== 'number') throw new Error(`iperf3: ${report.error ?? 'no result'} ${server.output().slice(-300)}`)
  return bps / 1e9
}

async function startIperfServer(vms: ScratchNs[]): Promise<StartedProcess> {
  const server = startProcess(binary('iperf3'), ['-s', '-B', port(0).ipv4[0] as string], { netns: vms[0]!.name })
  onCleanup('iperf3 server', () => { server.kill('SIGKILL') })
  for (let i = 0; i < 100 && !server.output().includes('Server listening'); i++) await sleep(50)
  return server
}

/**
 * iperf3 on the ruled host and on a twin host (the same bridge, taps and VMs, no rules at all),
 * by pairs run back to back, in turn twin first and ruled first: this machine's speed drifts by
 * ±10 % over minutes, and a pair's ratio sees the same moment twice. The result is the median of
 * the pairs' ratios (the medians of each side are in details).
 */
async function benchForwarding(api: RouterdApi, ruled: { vms: ScratchNs[]; server: StartedProcess }, bare: { vms: ScratchNs[]; server: StartedProcess }, body: string): Promise<void> {
  log(`forwarding: iperf3 vnet1 -> vnet0 across the bridge, with the ${N_PORTS}-port rule set and on a twin host with no rules, ${IPERF_RUNS} pairs of ${IPERF_SECONDS} s runs back to back, in turn twin first and ruled first`)
  await api.ok('PUT', '/v1/config', body)
  const withRules: number[] = []
  const without: number[] = []
  for (let i = 0; i < IPERF_RUNS; i++) {
    if (i % 2 === 0) without.push(await iperf(bare.vms, bare.server))
    withRules.push(await iperf(ruled.vms, ruled.server))
    if (i % 2 === 1) without.push(await iperf(bare.vms, bare.server))
  }
  const pairs = withRules.map((gbps, i) => gbps / (without[i] as number))
  const ratio = round(median(pairs))
  details['forwarding'] = { ruledGbps: summary(withRules), bareGbps: summary(without), pairRatios: summary(pairs, 3), ratioOfMedians: round(median(withRules) / median(without)) }
  results.push({ name: 'sg_forwarding_throughput', unit: 'ratio', ours: round(median(withRules), 2), peer: 'a twin host: the same bridge, no rules (Gbit/s)', peer_value: round(median(without), 2), ratio, target: '>= 0.9', pass: ratio >= 0.9 })
}

async function main(): Promise<void> {
  cleanupOnSignals()
  const started = performance.now()
  const doc = document()
  const body = JSON.stringify(doc)
  const rendered = renderSecGroups(doc)
  const { host, vms } = await createHost()
  const twin = await createHost()
  const ruled = { vms, server: await startIperfServer(vms) }
  const bare = { vms: twin.vms, server: await startIperfServer(twin.vms) }
  const { api } = await startRouterd(host)
  await benchApply(api, rendered, body)
  await benchMemberChange(api, host)
  await benchRuleAdd(api, host, doc)
  await benchForwarding(api, ruled, bare, body)
  writeResults(RESULTS, {
    results, notes, durationS: round((performance.now() - started) / 1000, 1),
    ...{ revision: await revision(ROOT), machine: await machine(), details },
  } as never)
}

void runSuite('bench-secgroup', main)
