/**
 * The daemons' settings that do not come from the boot line; they match appliance/routerd.json
 * and appliance/storaged.json (a test holds them equal), whose `listen.host` the boot line
 * replaces with the control address.
 */

export const ROUTERD_PORT = 8443
export const STORAGED_PORT = 8444
export const SSH_PORT = 3922

export const ROUTERD_DEFAULTS = {
  tokenFile: '/etc/systemvm/routerd.token',
  stateDir: '/var/lib/routerd',
  driftCheckSeconds: 30,
  controlPorts: [SSH_PORT],
  logLevel: 'info',
} as const

export const STORAGED_DEFAULTS = {
  tokenFile: '/etc/systemvm/storaged.token',
  stateDir: '/var/lib/storaged',
  mountRoot: '/mnt/SecStorage',
  maxConcurrentJobs: 4,
  healthCheckSeconds: 30,
  logLevel: 'info',
} as const
