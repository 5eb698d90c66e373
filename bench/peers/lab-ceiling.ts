import { join } from 'node:path'
import { binary, run } from '../../src/core/exec.ts'
import type { StartedProcess } from '../../src/core/exec.ts'
import type { Lab } from '../../src/lab/lab.ts'
import { waitTcpListen } from '../lib/listen.ts'

/** Compiles lab-ceiling.c (beside this file's source in `peers`) into `dir`; the binary's path. */
export async function buildLabCeiling(peers: string, dir: string): Promise<string> {
  const out = join(dir, 'lab-ceiling')
  await run(binary('gcc'), ['-O2', '-Wall', '-o', out, join(peers, 'lab-ceiling.c')])
  return out
}

/** The lab-ceiling server in namespace `ns` on `listen`:`port`, answering `body`. Resolves once it listens. */
export async function startLabCeiling(lab: Lab, ns: string, o: { binary: string; listen: string; port: number; body: string }): Promise<StartedProcess> {
  const p = lab.start(ns, o.binary, [o.listen, String(o.port), o.body])
  await waitTcpListen(lab, ns, [`${o.listen}:${o.port}`], true, p)
  return p
}
