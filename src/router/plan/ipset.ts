import { ipsetCreateArgs, ipsetCreateLine, type IpSetSpec } from '../render/ipset.ts'
import { IPSET_SWAP_SUFFIX } from '../render/names.ts'

/**
 * Pure. Plans ipset changes as `ipset restore` lines, each with the line that undoes it.
 * `before` runs ahead of iptables: new sets are created and filled; a set with a few changed
 * members is edited in place (one item among 10,000 is one line, deletions first: fail
 * closed); a set with many is rebuilt under a temporary name and swapped in (atomic for every
 * rule using it). All creates come before edits and swaps, so a bad member fails before
 * anything live changed. Creates come first of all, so the caller can make the (empty) sets
 * exist, then fill them while iptables-restore runs. `after` runs once iptables no longer references them: it destroys
 * sets that are gone and the temporaries that hold the swapped-out members (kept until then so
 * a swap can be undone).
 */

export interface IpsetPlan {
  /** The first `creates` lines create (empty) sets; the rest fill and edit them. */
  creates: number
  before: string[]
  /** undo[i] reverses before[i] ('' when nothing is needed); run in reverse order. */
  undo: string[]
  after: string[]
}

/** Up to this many member changes a set is edited in place. */
const IN_PLACE_LIMIT = 256

/**
 * Pure. Members to delete and to add (order of either list does not matter). Members keep their
 * order from one rendering to the next (items keep theirs), so the lists are first walked side
 * by side, stepping over single insertions and deletions; only if they fall out of step are
 * they compared as sets. An item edit among 10,000 thus costs a walk, not two hash sets.
 */
function memberDiff(have: readonly string[], want: readonly string[]): { del: string[]; add: string[] } {
  const del: string[] = []
  const add: string[] = []
  let i = 0
  let j = 0
  while (i < have.length && j < want.length) {
    if (have[i] === want[j]) { i++; j++ }
    else if (have[i + 1] === want[j]) del.push(have[i++] as string)
    else if (have[i] === want[j + 1]) add.push(want[j++] as string)
    else if (have[i + 1] === want[j + 1]) { del.push(have[i++] as string); add.push(want[j++] as string) }
    else return setDiff(have, want)
  }
  while (i < have.length) del.push(have[i++] as string)
  while (j < want.length) add.push(want[j++] as string)
  // A member may have moved rather than gone (e.g. one item deleted, another added elsewhere).
  if (del.length > 0 && add.length > 0) {
    const added = new Set(add)
    const removed = new Set(del)
    return { del: del.filter((e) => !added.has(e)), add: add.filter((e) => !removed.has(e)) }
  }
  return { del, add }
}

function setDiff(have: readonly string[], want: readonly string[]): { del: string[]; add: string[] } {
  const had = new Set(have)
  const wanted = new Set(want)
  return { del: have.filter((e) => !wanted.has(e)), add: want.filter((e) => !had.has(e)) }
}

/** `current`: set name → members as the kernel (or the last apply) has them. */
export function planIpsets(current: ReadonlyMap<string, readonly string[]>, desired: readonly IpSetSpec[], owned: (name: string) => boolean): IpsetPlan {
  const creates: [string, string][] = []
  const fills: [string, string][] = []
  const edits: [string, string][] = []
  const swaps: [string, string][] = []
  const after: string[] = []
  for (const s of desired) {
    const have = current.get(s.name)
    const want = s.entries
    if (have === want) continue
    if (s.kernelFilled === true) {
      if (have === undefined) creates.push([ipsetCreateLine(s), `destroy ${s.name}`])
      continue
    }
    if (have !== undefined) {
      const { del, add } = memberDiff(have, want)
      if (del.length === 0 && add.length === 0) continue
      if (del.length + add.length <= IN_PLACE_LIMIT) {
        for (const e of del) edits.push([`del ${s.name} ${e}`, `add ${s.name} ${e}`])
        for (const e of add) edits.push([`add ${s.name} ${e}`, `del ${s.name} ${e}`])
        continue
      }
    }
    const target = have === undefined ? s.name : s.name + IPSET_SWAP_SUFFIX
    creates.push([ipsetCreateLine(s, target), `destroy ${target}`])
    for (const e of want) fills.push([`add ${target} ${e}`, ''])
    if (have !== undefined) {
      swaps.push([`swap ${target} ${s.name}`, `swap ${target} ${s.name}`])
      after.push(`destroy ${target}`)
    }
  }
  const wanted = new Set(desired.map((s) => s.name))
  for (const name of current.keys()) if (owned(name) && !wanted.has(name)) after.push(`destroy ${name}`)
  const steps = [...creates, ...fills, ...edits, ...swaps]
  return { creates: creates.length, before: steps.map(([line]) => line), undo: steps.map(([, undo]) => undo), after }
}

/**
 * Pure. A set's type and options as compared between the kernel and a rendering: the `create`
 * line after the name, without what the kernel chooses or grows by itself (hashsize,
 * bucketsize, initval).
 */
export function setOptions(createArgs: string): string {
  const tokens = createArgs.trim().split(/\s+/)
  const kept: string[] = []
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === 'hashsize' || tokens[i] === 'bucketsize' || tokens[i] === 'initval') i++
    else kept.push(tokens[i] as string)
  }
  return kept.join(' ')
}

/** Pure. The options a rendered set is created with, in setOptions() form. */
export function desiredSetOptions(s: IpSetSpec): string {
  return setOptions(ipsetCreateArgs(s))
}

/**
 * Pure. Owned sets the kernel has under a desired name but with another type or other options
 * (e.g. left by an older version). They can neither be swapped (the kernel wants the same type)
 * nor edited: they are destroyed and created anew. `kernel`: set name → create arguments.
 */
export function mismatchedSets(kernel: ReadonlyMap<string, string>, desired: readonly IpSetSpec[]): string[] {
  const out: string[] = []
  for (const s of desired) {
    const have = kernel.get(s.name)
    if (have !== undefined && setOptions(have) !== desiredSetOptions(s)) out.push(s.name)
  }
  return out
}

/** Pure. The lines that undo the first `applied` lines of a plan's `before`, last first. */
export function undoIpsets(plan: IpsetPlan, applied: number): string[] {
  return plan.undo.slice(0, applied).reverse().filter((line) => line !== '')
}
