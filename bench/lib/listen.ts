import type { StartedProcess } from '../../src/core/exec.ts'
import type { Lab } from '../../src/lab/lab.ts'
import { sleep } from './stats.ts'

/** Pure. The "ip:port" listeners of `ss -Htln` output. */
export function tcpListeners(ssOutput: string): Set<string> {
  return new Set(ssOutput.split('\n').map((l) => l.trim().split(/\s+/)[3]).filter((a): a is string => a !== undefined && a !== ''))
}

/**
 * Until every address ("ip:port") has a TCP listener in namespace `ns` (present) or none has (not
 * present), polling ss for up to `timeoutMs`. `process`, when given, is the server expected to
 * open them: its exit ends the wait early with its output.
 */
export async function waitTcpListen(lab: Lab, ns: string, addresses: readonly string[], present: boolean, process?: StartedProcess, timeoutMs = 15_000): Promise<void> {
  let exited = false
  void process?.exited.then(() => { exited = true })
  const until = performance.now() + timeoutMs
  while (performance.now() < until) {
    const listening = tcpListeners((await lab.exec(ns, 'ss', ['-Htln'])).stdout)
    if (addresses.every((a) => listening.has(a) === present)) return
    if (exited) throw new Error(`the server exited before listening on ${addresses.join(', ')}: ${process?.output().slice(-1500)}`)
    await sleep(50)
  }
  throw new Error(`${addresses.join(', ')}: still ${present ? 'not listening' : 'listening'} after ${timeoutMs} ms${process === undefined ? '' : `: ${process.output().slice(-1500)}`}`)
}
