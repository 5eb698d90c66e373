import Type, { type Static } from 'typebox'
import { daemonConfigSchema, loadDaemonConfig } from '../core/daemon-config.ts'
import { ROLE_NAMES } from './model/roles.ts'

/** routerd's own settings: the base every daemon has, and the router's. */
export const RouterdConfig = daemonConfigSchema({
  /** What this instance is for (model/roles.ts); default router. */
  role: Type.Optional(Type.Union(ROLE_NAMES.map((r) => Type.Literal(r)))),
  driftCheckSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86400 })),
  /** Manage this network namespace instead of our own (the lab runs the daemon beside the router). */
  netns: Type.Optional(Type.String({ pattern: '^[A-Za-z0-9_.-]{1,64}$' })),
  /** Extra TCP ports opened on the control interface besides the API's own (e.g. 3922 for SSH). */
  controlPorts: Type.Optional(Type.Array(Type.Integer({ minimum: 1, maximum: 65535 }))),
  /**
   * A config document (JSON) taken as the first generation when the store holds none: the one
   * systemvm-boot translates from the boot line. Ignored once a config is stored.
   */
  initialConfigFile: Type.Optional(Type.String({ minLength: 1 })),
})
export type RouterdConfig = Static<typeof RouterdConfig>

export function loadRouterdConfig(path: string): RouterdConfig {
  return loadDaemonConfig(RouterdConfig, path)
}
