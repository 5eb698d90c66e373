import { fileURLToPath } from 'node:url'

/**
 * How the lab (tests, demo) starts routerd: the bundle with the node flags the appliance unit
 * uses (appliance/routerd.service), so what is tested is what ships.
 */
export const ROUTERD_NODE_FLAGS = ['--max-semi-space-size=1', '--expose-gc'] as const

/** The environment the unit adds (its Environment= lines). */
export const ROUTERD_ENV: Readonly<Record<string, string>> = { MALLOC_MMAP_THRESHOLD_: '65536' }

/** The environment routerd runs with: this process's plus the unit's. */
export function routerdEnv(): NodeJS.ProcessEnv {
  return { ...process.env, ...ROUTERD_ENV }
}

/** Absolute path of the routerd bundle built by `make build`. */
export const ROUTERD_BUNDLE = fileURLToPath(new URL('../../dist/routerd.mjs', import.meta.url))

/** argv (after node itself) that runs routerd with this daemon config. */
export function routerdArgs(configFile: string, bundle = ROUTERD_BUNDLE): string[] {
  return [...ROUTERD_NODE_FLAGS, bundle, '--config', configFile]
}
