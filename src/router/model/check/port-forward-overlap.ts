import type { PortForward } from '../config.ts'
import type { DomainCheck } from './domain.ts'
import type { Push } from './diagnostics.ts'
import type { ConfigIndex } from './index.ts'

/**
 * Port forwards on one public IP and protocol must not share a public port. The whole check
 * sorts each (ip, protocol) group by start port and sweeps it, O(n log n): a forward starting
 * at or below the furthest end seen so far overlaps the forward reaching that end ("reach"),
 * and is reported against it. Checking a few forwards finds the same reach by a linear scan of
 * their group, without sorting.
 */

/** Above this many selected forwards, one sweep is cheaper than a scan per forward. */
const SCANS_BEFORE_SWEEP = 16

interface Span { index: number; start: number; end: number }

/** The public port span of a forward, or undefined when its range is reversed (reported elsewhere). */
function spanOf(r: PortForward, index: number): Span | undefined {
  const end = r.publicPorts.end ?? r.publicPorts.start
  return end < r.publicPorts.start ? undefined : { index, start: r.publicPorts.start, end }
}

/** Whether the span starting at `start`, of the forward at `index`, comes before `than` in the sweep: by start port, then (the sort is stable) by position. */
function sortsBefore(start: number, index: number, than: Span): boolean {
  return start < than.start || (start === than.start && index < than.index)
}

function report(ix: ConfigIndex, push: Push, span: Span, reach: number): void {
  const r = ix.config.portForwards[span.index]
  push(`/portForwards/${span.index}/publicPorts`, 'ERR_PORT_FORWARD_OVERLAP', `${r?.protocol} ${r?.publicIp}:${span.start}-${span.end} overlaps /portForwards/${reach}`)
}

/** Every overlap of the document (or only those of the forwards `reported` accepts), in sweep order. */
function sweep(ix: ConfigIndex, push: Push, reported: (index: number) => boolean): void {
  const spans: (Span & { key: string })[] = []
  ix.scan('portForwards', (r, i) => {
    const end = r.publicPorts.end ?? r.publicPorts.start
    if (end >= r.publicPorts.start) spans.push({ index: i, start: r.publicPorts.start, end, key: `${r.publicIp}/${r.protocol}` })
  })
  spans.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.start - b.start))
  let reach: (typeof spans)[number] | undefined
  for (const span of spans) {
    if (reach !== undefined && reach.key === span.key && span.start <= reach.end && reported(span.index)) report(ix, push, span, reach.index)
    if (reach === undefined || reach.key !== span.key || span.end > reach.end) reach = span
  }
}

/**
 * Calls `fn` with the span of every other forward of the group of `r` (same ip and protocol)
 * whose range is not reversed. Plain numbers, no objects: this runs over every forward.
 */
function eachInGroup(ix: ConfigIndex, r: PortForward, index: number, fn: (start: number, end: number, j: number) => void): void {
  ix.scan('portForwards', (other, j) => {
    if (j === index || other.publicIp !== r.publicIp || other.protocol !== r.protocol) return
    const start = other.publicPorts.start
    const end = other.publicPorts.end ?? start
    if (end >= start) fn(start, end, j)
  })
}

/** The reach of the forward at `index` as the sweep finds it, when the forward overlaps it. */
function overlappedBy(ix: ConfigIndex, index: number): { span: Span; reach: Span } | undefined {
  const r = ix.config.portForwards[index]
  const span = r === undefined ? undefined : spanOf(r, index)
  if (r === undefined || span === undefined) return undefined
  let reach: Span | undefined
  eachInGroup(ix, r, index, (start, end, j) => {
    if (!sortsBefore(start, j, span)) return
    // The sweep keeps the first span (in its order) reaching the furthest end.
    if (reach === undefined || end > reach.end || (end === reach.end && sortsBefore(start, j, reach))) reach = { index: j, start, end }
  })
  return reach !== undefined && span.start <= reach.end ? { span, reach } : undefined
}

export const portForwardOverlap: DomainCheck = {
  check(ix, push, only) {
    if (only.whole) {
      sweep(ix, push, () => true)
      return
    }
    const picked = only.positions(ix.config, 'portForwards')
    if (picked.length > SCANS_BEFORE_SWEEP) {
      const selected = new Set(picked)
      sweep(ix, push, (index) => selected.has(index))
      return
    }
    for (const index of picked) {
      const found = overlappedBy(ix, index)
      if (found !== undefined) report(ix, push, found.span, found.reach.index)
    }
  },
  /**
   * The forwards the sweep reports against the edited one: those after it (in sweep order)
   * starting at or below its end, up to the first forward that reaches further (or as far,
   * from before it); none when such a forward sorts before it. In a document that was valid
   * before the edit, these and the edited forward are all that can overlap now.
   */
  affected(ix, edit, picks) {
    if (edit.collection !== 'portForwards' || edit.after === undefined) return
    const me = spanOf(edit.after, edit.index)
    if (me === undefined) return
    let blocked = false
    let firstBlocker: Span | undefined
    const candidates: Span[] = []
    eachInGroup(ix, edit.after, me.index, (start, end, j) => {
      const before = sortsBefore(start, j, me)
      if (end > me.end || (end === me.end && before)) {
        if (before) blocked = true
        else if (firstBlocker === undefined || sortsBefore(start, j, firstBlocker)) firstBlocker = { index: j, start, end }
      }
      if (!before && start <= me.end) candidates.push({ index: j, start, end })
    })
    if (blocked) return
    for (const o of candidates) if (firstBlocker === undefined || !sortsBefore(firstBlocker.start, firstBlocker.index, o)) picks.item('portForwards', o.index)
  },
}
