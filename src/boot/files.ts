import type { BootPlan, HostSetup } from './plan.ts'

/**
 * Pure. What a boot plan writes on the VM before any daemon starts: the host's own files, the
 * daemons' configs, routerd's first document, and a marker per daemon the role runs (the units
 * start only where their marker is, `ConditionPathExists=`). systemvm-boot (shell/main.ts)
 * writes them, each atomically; the boot line is read anew at every boot, so they follow it.
 *
 * Not here, because they are not pure: each daemon's API token (made once, random, kept across
 * boots) and the running host name.
 */

export interface BootFile {
  path: string
  content: string
  mode: number
}

/** Where the files go; tests render under a directory of their own. */
export interface BootPaths {
  etc: string
  run: string
  root: string
}

export const BOOT_PATHS: BootPaths = { etc: '/etc', run: '/run', root: '/root' }

export const SSH_PORT = 3922

/** The routerd config file the image's unit reads, and the initial document beside it. */
export const ROUTERD_CONFIG = 'systemvm/routerd.json'
export const ROUTERD_INITIAL = 'systemvm/routerd-initial.json'
export const STORAGED_CONFIG = 'systemvm/storaged.json'

/** Pure. The files of a plan without problems (a plan with problems writes nothing). */
export function bootFiles(plan: BootPlan, paths: BootPaths = BOOT_PATHS): BootFile[] {
  if (plan.problems.length > 0 || plan.host === undefined) return []
  const etc = (rel: string) => `${paths.etc}/${rel}`
  const files: BootFile[] = [...hostFiles(plan.host, paths)]
  const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`
  if (plan.routerd !== undefined) {
    files.push(
      { path: etc(ROUTERD_CONFIG), content: json({ ...plan.routerd.daemonConfig, initialConfigFile: etc(ROUTERD_INITIAL) }), mode: 0o644 },
      { path: etc(ROUTERD_INITIAL), content: json(plan.routerd.initialDocument), mode: 0o644 },
      { path: `${paths.run}/systemvm/routerd.enabled`, content: `${plan.routerd.daemonConfig.role}\n`, mode: 0o644 },
    )
  }
  if (plan.storaged !== undefined) {
    files.push(
      { path: etc(STORAGED_CONFIG), content: json(plan.storaged.daemonConfig), mode: 0o644 },
      { path: `${paths.run}/systemvm/storaged.enabled`, content: 'secstorage\n', mode: 0o644 },
    )
  }
  return files
}

/** Where the IPv6 filter goes (systemvm-boot restores it with ip6tables-restore). */
export const IP6TABLES_RULES = 'systemvm/ip6tables.rules'

/**
 * Pure. IPv6 until routerd owns it: nothing reaches the VM or passes through it over IPv6 but on
 * the control link (and loopback), so a daemon bound to `::` is not reachable from a guest or
 * the public side. Whole table replaced: only this file writes ip6tables on the VM.
 */
export function ip6tablesRules(host: HostSetup): string {
  return [
    '*filter',
    ':INPUT DROP [0:0]',
    ':FORWARD DROP [0:0]',
    ':OUTPUT ACCEPT [0:0]',
    '-A INPUT -i lo -j ACCEPT',
    `-A INPUT -i ${host.ssh.link} -j ACCEPT`,
    'COMMIT',
    '',
  ].join('\n')
}

function hostFiles(host: HostSetup, paths: BootPaths): BootFile[] {
  const files: BootFile[] = [
    { path: `${paths.etc}/hostname`, content: `${host.hostname}\n`, mode: 0o644 },
    { path: `${paths.etc}/hosts`, content: `127.0.0.1\tlocalhost\n127.0.1.1\t${host.hostname}\n::1\tlocalhost ip6-localhost ip6-loopback\n`, mode: 0o644 },
    { path: `${paths.etc}/resolv.conf`, content: host.resolvers.map((r) => `nameserver ${r}\n`).join(''), mode: 0o644 },
    { path: `${paths.run}/${IP6TABLES_RULES}`, content: ip6tablesRules(host), mode: 0o644 },
    {
      // sshd only on the control link, key only (CloudStack reaches its system VMs on 3922 there).
      path: `${paths.etc}/ssh/sshd_config.d/systemvm.conf`,
      content: [
        `Port ${host.ssh.port}`,
        `ListenAddress ${host.ssh.address}`,
        'HostKey /etc/ssh/ssh_host_ed25519_key',
        'PermitRootLogin prohibit-password',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        '',
      ].join('\n'),
      mode: 0o644,
    },
  ]
  if (host.authorizedKey !== undefined) {
    files.push({ path: `${paths.root}/.ssh/authorized_keys`, content: Buffer.from(host.authorizedKey, 'base64').toString('utf8'), mode: 0o600 })
  }
  return files
}

/**
 * Pure. The `ip -batch` lines of the routes the image sets itself (HostSetup.routes: a dhcpsrvr's
 * default route), with the addresses of the links they go through. routerd takes those links
 * over with the same addresses, and leaves routes it did not make alone.
 */
export function hostRoutesBatch(plan: BootPlan): string {
  if (plan.host === undefined || plan.host.routes.length === 0) return ''
  const lines: string[] = []
  for (const link of plan.host.links) {
    lines.push(`link set dev ${link.name} up`, `address replace ${link.address} dev ${link.name}`)
  }
  for (const route of plan.host.routes) lines.push(`route replace ${route.destination} via ${route.via} dev ${route.link}`)
  return `${lines.join('\n')}\n`
}
