import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { binary, run, startProcess, type StartedProcess } from '../../src/core/exec.ts'

/**
 * nfs-ganesha serving one directory over NFSv3 and NFSv4 (VFS FSAL, TCP), inside a network
 * namespace, for tests: this machine's kernel has no NFS client or server, so clients are
 * libnfs's `nfs-ls`/`nfs-cat` here, or a QEMU guest's kernel (its user-mode network reaches the
 * namespace's loopback when QEMU runs in the same namespace).
 *
 * NFSv3 needs a portmapper: ganesha will not start with v3 unless it can register NFS and MOUNT
 * (nfs-ganesha#1285, ceph PR 69192). rpcbind, though, takes a lock file and a unix socket at
 * fixed paths under /run (`/run/rpcbind.lock`, `/run/rpcbind.sock`): two of them would meet there,
 * and a ganesha would register with whichever rpcbind owns the socket, whatever its namespace.
 * So each instance gets a private mount namespace (persisted on a file in its temp dir, so that
 * two processes can enter it) with a fresh tmpfs on /run; rpcbind and ganesha both run there
 * (nsenter into that mount namespace and the test's network namespace) and meet on that
 * socket. Nothing outside the temp dir is written: ganesha's recovery dir and krb5 cache are
 * in it, and what it writes under /run anyway (libblkid's cache) lands in the private tmpfs.
 */

export interface GaneshaOptions {
  /** The network namespace (an `ip netns` name) ganesha and its rpcbind run in. */
  netns: string
  /** The directory served. Never removed and recreated while served (handles would go stale). */
  exportDir: string
  /** The path clients mount: the NFSv3 MOUNT path and the NFSv4 pseudo path (default `/export`). */
  exportPath?: string
  /** The address clients reach it at (default: the namespace's first global IPv4 address). */
  address?: string
  /** Ports inside the namespace (defaults 2049 and 20048); rpcbind on 111 tells clients. */
  nfsPort?: number
  mountPort?: number
  /** How long it may take to serve (default 30 s). */
  readyTimeoutMs?: number
}

export interface Ganesha {
  address: string
  exportPath: string
  ports: { nfs: number; mount: number }
  /** The rpcbind and ganesha processes (to adopt into a lab, which kills them if stop() never runs). */
  processes: readonly StartedProcess[]
  /** Pure. The libnfs URL of `path` under the export (a directory ends in `/`), NFS version `version`. */
  url(path?: string, version?: 3 | 4): string
  /** ganesha's log so far (its own file, then what it wrote on stdout/stderr). */
  log(): string
  /** SIGTERM (then SIGKILL after 10 s) to ganesha, then rpcbind; the mount namespace and temp dir go. Safe to call twice. */
  stop(): Promise<void>
}

const READY_POLL_MS = 200
const PORTMAPPER_PORT = 111

/** Pure. ganesha's whole configuration: one export, NFSv3 and v4 over TCP, nothing system-wide. */
export function renderGaneshaConfig(o: { exportDir: string; exportPath: string; nfsPort: number; mountPort: number; stateDir: string }): string {
  const q = (s: string) => JSON.stringify(s)
  return `# --- core: v3 and v4 over TCP only; no NLM, rquota or UDP (nothing here locks or asks quotas) ---
NFS_CORE_PARAM {
  Protocols = 3, 4;
  NFS_Port = ${o.nfsPort};
  MNT_Port = ${o.mountPort};
  Enable_NLM = false;
  Enable_RQUOTA = false;
  Enable_UDP = false;
  # The v3 MOUNT path is the pseudo path, so v3 and v4 clients name the export alike.
  mount_path_pseudo = true;
}
# --- no Kerberos; its credential cache in the temp dir rather than /var/run/ganesha ---
NFS_KRB5 { Active_krb5 = false; CCacheDir = ${q(join(o.stateDir, 'krb5'))}; }
# --- v4 state: no grace period (a fresh server has no clients to wait for), recovery dir in the temp dir ---
NFSv4 { Graceless = true; RecoveryBackend = fs; RecoveryRoot = ${q(join(o.stateDir, 'recovery'))}; }
# --- the export ---
EXPORT {
  Export_Id = 1;
  Path = ${q(o.exportDir)};
  Pseudo = ${q(o.exportPath)};
  Protocols = 3, 4;
  Transports = TCP;
  Access_Type = RW;
  Squash = No_Root_Squash;
  SecType = sys;
  # The tests write the directory behind ganesha's back (storaged's path driver stands in for
  # the mount): attributes are never served from cache, so a changed directory is read again.
  Attr_Expiration_Time = 0;
  FSAL { Name = VFS; }
}
`
}

/** The namespace's first global IPv4 address, or undefined. */
async function readNamespaceAddress(netns: string): Promise<string | undefined> {
  const out = await run(binary('ip'), ['-n', netns, '-j', '-4', 'address', 'show', 'scope', 'global'])
  const links = JSON.parse(out.stdout) as { addr_info?: { local?: string }[] }[]
  return links.flatMap((l) => l.addr_info ?? []).map((a) => a.local).find((a) => a !== undefined)
}

/** The pids listening on TCP `port` in `netns`. */
async function readListeners(netns: string, port: number): Promise<number[]> {
  const out = await run(binary('ss'), ['-Hltnp', 'sport', '=', `:${port}`], { netns })
  return [...out.stdout.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]))
}

const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** SIGTERM, then SIGKILL if it has not exited after `graceMs`; resolves once it has exited. */
async function terminate(p: StartedProcess, graceMs: number): Promise<void> {
  p.kill('SIGTERM')
  const exited = await Promise.race([p.exited.then(() => true), delay(graceMs).then(() => false)])
  if (!exited) {
    p.kill('SIGKILL')
    await p.exited
  }
}

/**
 * Starts rpcbind and ganesha in `netns` serving `exportDir`, and resolves once `nfs-ls` lists
 * the export over NFSv3 from inside the namespace. On any failure everything it made is removed
 * and the error carries ganesha's log.
 */
export async function startGanesha(options: GaneshaOptions): Promise<Ganesha> {
  const exportPath = options.exportPath ?? '/export'
  if (!/^(\/[A-Za-z0-9._-]+)+$/.test(exportPath)) throw new Error(`export path ${exportPath}: absolute, plain names only`)
  if (!statSync(options.exportDir, { throwIfNoEntry: false })?.isDirectory()) throw new Error(`export ${options.exportDir}: not a directory`)
  const ports = { nfs: options.nfsPort ?? 2049, mount: options.mountPort ?? 20048 }
  const dir = mkdtempSync(join(tmpdir(), 'ganesha-'))
  const mountNs = join(dir, 'mntns')
  const logFile = join(dir, 'ganesha.log')
  const processes: StartedProcess[] = []
  let rpcbind: StartedProcess | undefined
  let ganesha: StartedProcess | undefined
  let mountNsMade = false
  let stopping: Promise<void> | undefined
  let address = options.address ?? ''

  const log = () => `${existsSync(logFile) ? readFileSync(logFile, 'utf8') : ''}${ganesha?.output() ?? ''}`
  const url = (path = '', version: 3 | 4 = 3) => `nfs://${address}${exportPath}/${path.replace(/^\/+/, '')}?version=${version}`

  const stop = () => {
    stopping ??= (async () => {
      const problems: string[] = []
      const attempt = async (what: string, step: () => Promise<unknown>) => {
        try { await step() } catch (err) { problems.push(`${what}: ${(err as Error).message}`) }
      }
      // ganesha first: on SIGTERM it unregisters from rpcbind and shuts its FSAL down (0–2 s here).
      const [nfsd, portmapper] = [ganesha, rpcbind]
      if (nfsd !== undefined) await attempt('ganesha', () => terminate(nfsd, 10_000))
      if (portmapper !== undefined) await attempt('rpcbind', () => terminate(portmapper, 5_000))
      // The bind mount is the mount namespace's last reference once its processes are gone.
      if (mountNsMade) {
        await attempt('umount', () => run(binary('umount'), ['-n', mountNs]).catch(() => run(binary('umount'), ['-n', '-l', mountNs])))
      }
      await attempt('rm', async () => rmSync(dir, { recursive: true, force: true }))
      if (problems.length > 0) throw new Error(`stopping ganesha in ${options.netns}: ${problems.join('; ')}`)
    })()
    return stopping
  }

  try {
    if (address === '') address = (await readNamespaceAddress(options.netns)) ?? '127.0.0.1'
    // A second rpcbind in the namespace would keep running without port 111 and a second
    // ganesha would be checked through the first one's portmapper: one instance per namespace.
    for (const port of [PORTMAPPER_PORT, ports.nfs, ports.mount]) {
      if ((await readListeners(options.netns, port)).length > 0) throw new Error(`something already listens on ${options.netns}:${port} (one ganesha per namespace)`)
    }
    writeFileSync(join(dir, 'ganesha.conf'), renderGaneshaConfig({ exportDir: options.exportDir, exportPath, nfsPort: ports.nfs, mountPort: ports.mount, stateDir: dir }))
    // A persistent mount namespace (bound on the file `mntns`) whose /run is a fresh tmpfs. `-n`:
    // no utab entry under the machine's /run/mount.
    writeFileSync(mountNs, '')
    await run(binary('unshare'), [`--mount=${mountNs}`, '--propagation', 'private', binary('true')])
    mountNsMade = true
    await run(binary('mount'), ['-n', '-N', mountNs, '-t', 'tmpfs', '-o', 'mode=0755,size=4m', 'ganesha-run', '/run'])
    // nsenter opens both namespace files before it enters either, so /run/netns is read from
    // the machine's /run, not the tmpfs; it then execs: the pid is the server's own.
    const enter = [`--mount=${mountNs}`, `--net=/run/netns/${options.netns}`]
    const server = rpcbind = startProcess(binary('nsenter'), [...enter, binary('rpcbind'), '-f'])
    processes.push(server)
    // ganesha registers through rpcbind's unix socket (in the private /run); clients ask it on 111.
    const socket = `/proc/${server.pid}/root/run/rpcbind.sock`
    for (let i = 0; !(existsSync(socket) && (await readListeners(options.netns, PORTMAPPER_PORT)).includes(server.pid)); i++) {
      if (i >= 100) throw new Error(`rpcbind did not listen in 5 s: ${server.output()}`)
      await delay(50)
    }
    const nfsd = ganesha = startProcess(binary('nsenter'), [...enter, binary('ganesha.nfsd'), '-F',
      '-f', join(dir, 'ganesha.conf'), '-L', logFile, '-p', join(dir, 'ganesha.pid'), '-N', 'NIV_EVENT'])
    processes.push(nfsd)
    let gone = false
    void nfsd.exited.then(() => { gone = true })
    const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000)
    for (;;) {
      if (gone) throw new Error('ganesha exited while starting')
      const served = await run(binary('nfs-ls'), [url('', 3)], { netns: options.netns, timeoutMs: 5_000 }).then(() => true, () => false)
      if (served && (await readListeners(options.netns, ports.nfs)).includes(nfsd.pid)) break
      if (Date.now() > deadline) throw new Error(`ganesha did not serve ${url('', 3)} in time`)
      await delay(READY_POLL_MS)
    }
  } catch (err) {
    // Each of the readiness probes' connections logs a line when it closes: left out.
    const text = log().split('\n').filter((l) => !l.includes('svc_vc_wait')).slice(-40).join('\n')
    await stop().catch(() => undefined)
    throw new Error(text.trim() === '' ? (err as Error).message : `${(err as Error).message}\n--- ganesha log ---\n${text}`, { cause: err })
  }
  return { address, exportPath, ports, processes, url, log, stop }
}
