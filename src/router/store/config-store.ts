import { DocumentStore, type OpenedStore as DocumentOpened, type StoredState as DocumentState } from '../../core/store/document-store.ts'
import { COLLECTION_NAMES, emptyConfig, type RouterConfig } from '../model/config.ts'

/** routerd's desired state on disk: the shared document store (core/store/document-store.ts) holding the router config. */

export type StoredState = DocumentState<RouterConfig>
export type OpenedStore = DocumentOpened<RouterConfig>
export type { StagedSnapshot, StoreProblem } from '../../core/store/document-store.ts'

export class ConfigStore extends DocumentStore<RouterConfig> {
  constructor(dir: string) {
    super(dir, { collections: COLLECTION_NAMES, empty: emptyConfig })
  }
}
