import type { CollectionItem, CollectionName } from '../config.ts'
import type { Push } from './diagnostics.ts'
import type { ConfigIndex } from './index.ts'
import type { Picks, Selection } from './selection.ts'

/**
 * The contract of a domain check (public IPs, port forwards, static routes, …): it reports the
 * problems of the selected items, and it knows which of its items an edit elsewhere can change,
 * because it knows what its items refer to and conflict with.
 */

/** One item edit: where the item is (for a removal, where it was) and its two versions. */
export type Edit = {
  [C in CollectionName]: {
    collection: C
    index: number
    /** The version replaced or removed; undefined for an addition (or when the caller does not know it). */
    before: CollectionItem<C> | undefined
    /** The version now at `index`; undefined for a removal. */
    after: CollectionItem<C> | undefined
  }
}[CollectionName]

export interface DomainCheck {
  /** Reports the problems of the selected items, each exactly as the whole-document check does. */
  check(ix: ConfigIndex, push: Push, only: Selection): void
  /** Picks the items whose problems in this domain `edit` can change (besides the edited item itself). */
  affected(ix: ConfigIndex, edit: Edit, picks: Picks): void
}

/** The distinct values `value` takes on the versions of the edited item, when the edit is in `collection`. */
export function editedValues<C extends CollectionName, V>(edit: Edit, collection: C, value: (item: CollectionItem<C>) => V | undefined): V[] {
  if (edit.collection !== collection) return []
  const out: V[] = []
  for (const version of [edit.before, edit.after]) {
    if (version === undefined) continue
    const v = value(version as CollectionItem<C>)
    if (v !== undefined && !out.includes(v)) out.push(v)
  }
  return out
}
