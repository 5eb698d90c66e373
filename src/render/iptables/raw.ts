import { CHAIN } from '../names.ts'
import { TableBuilder, type RenderedTable } from './table.ts'

/** raw: owned so nothing foreign lingers there; holds only the drift canary for now. */
export function renderRaw(): RenderedTable {
  const tb = new TableBuilder('raw')
  tb.add(CHAIN.canary, '-j', 'RETURN')
  return tb.table
}
