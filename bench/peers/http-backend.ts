import { join } from 'node:path'
import { binary, run } from '../../src/core/exec.ts'
import type { StartedProcess } from '../../src/core/exec.ts'
import type { Lab } from '../../src/lab/lab.ts'
import { waitTcpListen } from '../lib/listen.ts'

/** Compiles http-backend.c (beside this file's source in `peers`) into `dir`; the binary's path. */
export async function buildHttpBackend(peers: string, dir: string): Promise<string> {
  const out = join(dir, 'http-backend')
  await run(binary('gcc'), ['-O2', '-Wall', '-o', out, join(peers, 'http-backend.c')])
  return out
}

/** The backend in namespace `ns` on `listen`:`port`, answering "<name>\n". Resolves once it listens. */
export async function startHttpBackend(lab: Lab, ns: string, o: { binary: string; listen: string; port: number; name: string }): Promise<StartedProcess> {
  const p = lab.start(ns, o.binary, [o.listen, String(o.port), o.name])
  await waitTcpListen(lab, ns, [`${o.listen}:${o.port}`], true, p)
  return p
}
