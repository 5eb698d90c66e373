import { schemaDiagnostics } from '../core/schema.ts'
import { RouterdConfig } from '../router/daemon-config.ts'
import { validateConfig } from '../router/model/parse.ts'
import { StoragedConfig } from '../storage/daemon-config.ts'
import type { BootKeys } from './cmdline.ts'
import { BOOT_PROBLEM_CODES, KeyReader, type BootProblem } from './keys.ts'
import type { BootPlan } from './plan.ts'
import { translateRouter } from './router.ts'
import { translateSecstorage } from './secstorage.ts'

/**
 * Pure. Turns the boot line's keys into the daemons' configs, routerd's first document and the
 * image's own setup, or into the list of everything wrong with it (each problem naming its key).
 * A line with any problem yields no config at all: the boot fails rather than guess.
 *
 * @example
 * translateBootLine(parseBootLine('type=dhcpsrvr name=r-7-VM eth0ip=10.1.1.2 …')).routerd?.daemonConfig.role // 'dhcpsrvr'
 */
export function translateBootLine(keys: BootKeys): BootPlan {
  const r = new KeyReader(keys)
  const type = r.raw('type')
  const typed = type === undefined ? {} : { type }
  if (type === undefined) return { problems: [{ code: BOOT_PROBLEM_CODES.missing, key: 'type', message: 'type is missing: it names the role (router, dhcpsrvr or secstorage)' }] }
  let parts: Omit<BootPlan, 'type' | 'problems'>
  switch (type) {
    case 'router':
    case 'dhcpsrvr':
      parts = translateRouter(r, type)
      break
    case 'secstorage':
      parts = translateSecstorage(r)
      break
    case 'vpcrouter':
      return { ...typed, problems: [{ code: BOOT_PROBLEM_CODES.role, key: 'type', message: 'type=vpcrouter is refused: this appliance has no VPC yet (roles: router, dhcpsrvr, secstorage)' }] }
    case 'consoleproxy':
      return { ...typed, problems: [{ code: BOOT_PROBLEM_CODES.role, key: 'type', message: 'type=consoleproxy is refused: the console proxy is not part of this appliance (roles: router, dhcpsrvr, secstorage)' }] }
    default:
      return { ...typed, problems: [{ code: BOOT_PROBLEM_CODES.role, key: 'type', message: `type=${type} is not a role of this appliance (roles: router, dhcpsrvr, secstorage)` }] }
  }
  if (r.problems.length > 0) return { ...typed, problems: r.problems }
  const problems = outputProblems(parts)
  return problems.length > 0 ? { ...typed, problems } : { ...typed, ...parts, problems: [] }
}

/**
 * The translation checked by the daemons' own schemas and routerd's document checks, so that a
 * line the daemons would refuse fails here, at boot, with the rest of the problems.
 */
function outputProblems(parts: Omit<BootPlan, 'type' | 'problems'>): BootProblem[] {
  const out: BootProblem[] = []
  const push = (where: string, d: { path: string; code: string; message: string }) =>
    out.push({ code: BOOT_PROBLEM_CODES.output, key: 'type', message: `${where}${d.path}: ${d.message} (${d.code})` })
  if (parts.routerd !== undefined) {
    const { daemonConfig, initialDocument } = parts.routerd
    for (const d of schemaDiagnostics(RouterdConfig, daemonConfig)) push('routerd config', d)
    const valid = validateConfig(initialDocument, undefined, daemonConfig.role)
    if (!valid.ok) for (const d of valid.diagnostics) if (d.severity === 'error') push('routerd document', d)
  }
  if (parts.storaged !== undefined) for (const d of schemaDiagnostics(StoragedConfig, parts.storaged.daemonConfig)) push('storaged config', d)
  return out
}
