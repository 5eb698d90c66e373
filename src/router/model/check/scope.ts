import type { CollectionItem, CollectionName } from '../config.ts'
import type { DomainCheck, Edit } from './domain.ts'
import type { ConfigIndex } from './index.ts'
import { Picks, type Selection } from './selection.ts'

/**
 * An item-scoped check: the edited item and every item whose diagnostics the edit can change
 * (what it conflicts with, and what refers to it), each checked as the whole-document check
 * would. For a document that had no errors before the edit this finds exactly the errors the
 * whole check finds after it, at the cost of the related collections only.
 */
export interface CheckScope {
  collection: CollectionName
  /** Position of the edited item in the checked config; for a removal, the position it had. */
  index: number
  /** The version the edit replaced or removed: what referred to it may be broken now. */
  previous?: CollectionItem<CollectionName> | undefined
  /** The item was removed (`previous`), the checked config no longer holds it. */
  removed?: boolean | undefined
}

/** Pure. The items `scope` selects, asking every domain what the edit can change in it. */
export function selectAffected(ix: ConfigIndex, scope: CheckScope, domains: readonly DomainCheck[]): Selection {
  const after = scope.removed === true ? undefined : ix.config[scope.collection][scope.index]
  const edit = { collection: scope.collection, index: scope.index, before: scope.previous, after } as Edit
  const picks = new Picks()
  if (after !== undefined) picks.item(scope.collection, scope.index)
  for (const domain of domains) domain.affected(ix, edit, picks)
  return picks.selection()
}
