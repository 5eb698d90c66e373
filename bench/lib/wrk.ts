import type { Lab } from '../../src/lab/lab.ts'

/** wrk (Debian's 4.1) from a lab namespace, and its report parsed. */

export interface WrkOptions {
  seconds: number
  connections: number
  threads: number
  /** Extra request headers, "Name: value". */
  headers?: readonly string[]
}

export interface WrkReport {
  requestsPerS: number
  requests: number
  /** Answers with a status outside 200-399 (wrk's "Non-2xx or 3xx responses"). */
  non2xx: number
  socketErrors: { connect: number; read: number; write: number; timeout: number }
  /** Latency percentiles (wrk --latency), ms. */
  latencyMs: { p50: number; p99: number }
}

const UNIT_MS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 }

function duration(text: string | undefined): number {
  const m = /^([\d.]+)(us|ms|s|m)$/.exec(text ?? '')
  return m === null ? NaN : Number(m[1]) * (UNIT_MS[m[2] as string] as number)
}

/** Pure. Parses wrk's report; throws with its output when there is no rate. */
export function parseWrk(stdout: string): WrkReport {
  const rate = /Requests\/sec:\s+([\d.]+)/.exec(stdout)
  const requests = /(\d+) requests in /.exec(stdout)
  if (rate === null || requests === null) throw new Error(`wrk printed no rate: ${stdout.slice(-1500)}`)
  const errors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(stdout)
  const n = (i: number) => Number(errors?.[i] ?? 0)
  return {
    requestsPerS: Number(rate[1]),
    requests: Number(requests[1]),
    non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0),
    socketErrors: { connect: n(1), read: n(2), write: n(3), timeout: n(4) },
    latencyMs: { p50: duration(/^\s+50%\s+(\S+)/m.exec(stdout)?.[1]), p99: duration(/^\s+99%\s+(\S+)/m.exec(stdout)?.[1]) },
  }
}

/** Runs wrk in namespace `ns` against `url` and parses its report. */
export async function runWrk(lab: Lab, ns: string, url: string, o: WrkOptions): Promise<WrkReport> {
  const args = ['-t', String(o.threads), '-c', String(o.connections), '-d', `${o.seconds}s`, '--latency', '--timeout', '5s']
  for (const h of o.headers ?? []) args.push('-H', h)
  const r = await lab.exec(ns, 'wrk', [...args, url], { timeoutMs: (o.seconds + 30) * 1000 })
  return parseWrk(r.stdout)
}
