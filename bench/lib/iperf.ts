import type { StartedProcess } from '../../src/core/exec.ts'
import { LAB_ADDR, type Lab } from '../../src/lab/lab.ts'
import { sleep } from './stats.ts'

/** iperf3 between the lab's namespaces: server on the internet host, client in a VM. */

const PORT = '5201'

export async function startIperfServer(lab: Lab): Promise<StartedProcess> {
  const p = lab.start(lab.ns.inet, 'iperf3', ['-s', '-B', LAB_ADDR.internetHost, '-p', PORT, '--forceflush'])
  for (let i = 0; i < 100 && !p.output().includes('Server listening'); i++) await sleep(50)
  if (!p.output().includes('Server listening')) throw new Error(`iperf3 server did not start: ${p.output()}`)
  return p
}

export interface IperfRun { gbps: number; retransmits: number | null; localHost: string | null }

/** One TCP stream vm1 → internet host, `seconds` long (first second omitted), JSON report. */
export async function iperfRun(lab: Lab, seconds: number): Promise<IperfRun> {
  const args = ['-c', LAB_ADDR.internetHost, '-p', PORT, '-t', String(seconds), '-O', '1', '-J']
  const r = await lab.exec(lab.ns.vm1, 'iperf3', args, { timeoutMs: (seconds + 20) * 1000, okCodes: [0, 1] })
  let report: any
  try { report = JSON.parse(r.stdout) } catch { throw new Error(`iperf3 gave no JSON: ${r.stderr || r.stdout.slice(0, 500)}`) }
  if (report.error !== undefined) throw new Error(`iperf3: ${report.error}`)
  const bps = report.end?.sum_received?.bits_per_second
  if (typeof bps !== 'number') throw new Error('iperf3 report has no end.sum_received.bits_per_second')
  return {
    gbps: bps / 1e9,
    retransmits: typeof report.end?.sum_sent?.retransmits === 'number' ? report.end.sum_sent.retransmits : null,
    localHost: report.start?.connected?.[0]?.local_host ?? null,
  }
}

/** The client addresses the server reported ("Accepted connection from A, port P"). */
export function acceptedFrom(server: StartedProcess): string[] {
  return [...new Set([...server.output().matchAll(/Accepted connection from ([0-9.]+)/g)].map((m) => m[1] as string))]
}
