import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ApplianceError } from '../core/errors.ts'

/**
 * Where the lab finds the files of the checkout it runs from: the units in appliance/, the
 * bundles in dist/, and its guest-side helper src/lab/peer.mjs. The lab's code itself runs from
 * several places (src/lab under vitest, dist/lab after `make build`, build/bench/src/lab for the
 * benchmarks), so the root is found by walking up to the directory that holds appliance/ and
 * package.json rather than by a fixed number of "..".
 */

let root: string | undefined

/** The checkout's root directory (found once). Throws ERR_LAB_CHECKOUT outside a checkout. */
export function checkoutRoot(): string {
  if (root !== undefined) return root
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'appliance')) && existsSync(join(dir, 'package.json'))) return (root = dir)
    if (dirname(dir) === dir) throw new ApplianceError('ERR_LAB_CHECKOUT', `no checkout (a directory with appliance/ and package.json) above ${fileURLToPath(import.meta.url)}`)
  }
}

/**
 * The lab's guest-side helper (servers and clients run inside lab namespaces; see its header).
 * Plain JavaScript run by node as it is, so it is taken from the source tree: tsc does not copy
 * .mjs files, and reading it from src/ works the same for dist/lab/demo.js, the tests and the
 * benchmarks' build without a copy step to keep in sync.
 */
export function peerScript(): string {
  return join(checkoutRoot(), 'src', 'lab', 'peer.mjs')
}
