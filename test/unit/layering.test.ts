import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

/**
 * The layout is the architecture (README "Layout"):
 * - src/core is shared by every daemon and imports nothing above it;
 * - src/router and src/storage (each daemon) never import each other;
 * - src/cli talks to the daemons only through their API contracts;
 * - nothing in src imports the lab, the benchmarks or the tests (src/lab is the lab);
 * - the functional core (model, render, plan, the protocol code of each service) imports
 *   nothing with side effects and never reads `process`;
 * - src/boot (the boot line translator) reads only the daemons' schemas and models, is pure but
 *   for its shell (boot/shell: reading the line, writing the files), and no daemon imports it;
 * - only src/core/exec.ts spawns processes.
 */
const src = new URL('../../src/', import.meta.url).pathname
const SIDE_EFFECTS = /from '(node:(child_process|fs|net|dgram|http|https|os)|undici)'/
/**
 * In a service folder, the files that do I/O (service.ts wires a service to the daemon and may
 * run tools through core/exec.ts; probe.ts makes health checks; manager.ts runs a helper process
 * such as HAProxy and runtime-api.ts speaks to it); the rest is pure protocol code.
 */
const SERVICE_SHELL = /\/(server|[a-z]+-store|forwarder|tcp|index|routes|guest-http|tls|probe|service|manager|runtime-api)\.ts$/

function files(dir: string): string[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? files(path) : path.endsWith('.ts') ? [path] : []
  })
}

/** Each file's relative imports, as paths under src (or outside it, starting with ../). */
function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8')
  return [...text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)'/g)].map((m) => relative(src, resolve(dirname(file), m[1] as string)))
}

const under = (dir: string) => files(join(src, dir)).map((f) => ({ file: relative(src, f), imports: imports(f) }))
const breaking = (dir: string, allowed: (target: string) => boolean) =>
  under(dir).flatMap(({ file, imports: targets }) => targets.filter((t) => !allowed(t)).map((t) => `${file} → ${t}`))

describe('layering', () => {
  it('core imports nothing above it', () => {
    expect(breaking('core', (t) => t.startsWith('core/'))).toEqual([])
  })

  it('router and storage never import each other, and no daemon imports the cli or the lab', () => {
    expect(breaking('router', (t) => t.startsWith('core/') || t.startsWith('router/'))).toEqual([])
    // src/storage (storaged) comes with its issue; its rule holds from the first file.
    expect(breaking('storage', (t) => t.startsWith('core/') || t.startsWith('storage/'))).toEqual([])
  })

  it('boot imports only core, itself and the daemons\' schemas and models, and nothing imports boot', () => {
    const allowed = (t: string) => t.startsWith('core/') || t.startsWith('boot/') || t.startsWith('router/model/') || t.startsWith('storage/model/')
      || t === 'router/daemon-config.ts' || t === 'storage/daemon-config.ts'
    expect(breaking('boot', allowed)).toEqual([])
    const intoBoot = files(src).filter((f) => !relative(src, f).startsWith('boot/'))
      .flatMap((f) => imports(f).filter((t) => t.startsWith('boot/')).map((t) => `${relative(src, f)} → ${t}`))
    expect(intoBoot).toEqual([])
  })

  it('the cli talks to the daemons only through their API contracts', () => {
    expect(breaking('cli', (t) => t.startsWith('core/') || t.startsWith('cli/') || /^(router|storage)\/api\/contract\.ts$/.test(t))).toEqual([])
  })

  it('nothing in src imports the benchmarks or the tests, and only the lab imports the lab', () => {
    const outside = files(src).flatMap((f) => imports(f).filter((t) => t.startsWith('..')).map((t) => `${relative(src, f)} → ${t}`))
    expect(outside).toEqual([])
    const lab = files(src).filter((f) => !relative(src, f).startsWith('lab/'))
      .flatMap((f) => imports(f).filter((t) => t.startsWith('lab/')).map((t) => `${relative(src, f)} → ${t}`))
    expect(lab).toEqual([])
  })

  it('the functional core imports nothing with side effects and does not touch process', () => {
    const pure = [
      ...['router/model', 'router/render', 'router/plan'].flatMap((d) => files(join(src, d))),
      ...files(join(src, 'router/services')).filter((f) => !SERVICE_SHELL.test(f)),
      ...['core/ipv4.ts', 'core/bytes.ts', 'core/memo.ts'].map((f) => join(src, f)),
      // The boot line translator; boot/shell (systemvm-boot) reads the line and writes the files.
      ...files(join(src, 'boot')).filter((f) => !f.includes('/boot/shell/')),
    ]
    const offenders = pure.filter((f) => {
      const text = readFileSync(f, 'utf8')
      return SIDE_EFFECTS.test(text) || /\bprocess\./.test(text) || imports(f).some((t) => t.startsWith('router/kernel/') || t === 'core/exec.ts')
    })
    expect(offenders.map((f) => relative(src, f))).toEqual([])
  })

  it('the import graph has no cycle (type imports included)', () => {
    const graph = new Map(files(src).map((f) => [relative(src, f), imports(f).filter((t) => !t.startsWith('..'))]))
    const state = new Map<string, 'open' | 'done'>()
    const cycles: string[] = []
    const visit = (file: string, path: string[]): void => {
      if (state.get(file) === 'done') return
      if (state.get(file) === 'open') { cycles.push([...path.slice(path.indexOf(file)), file].join(' → ')); return }
      state.set(file, 'open')
      for (const next of graph.get(file) ?? []) visit(next, [...path, file])
      state.set(file, 'done')
    }
    for (const file of graph.keys()) visit(file, [])
    expect(cycles).toEqual([])
  })

  it('only core/exec.ts spawns processes', () => {
    const spawning = files(src).filter((f) => /from 'node:child_process'/.test(readFileSync(f, 'utf8')))
    expect(spawning.map((f) => relative(src, f))).toEqual(['core/exec.ts'])
  })
})
