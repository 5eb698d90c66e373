import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LAB_ADDR, labRouterConfig } from '../../../src/lab/lab.ts'
import { RouterdProcess } from '../../helpers/routerd-process.ts'

const root = process.getuid?.() === 0

/**
 * A guest sends DNS queries from UDP source port 0 (a raw socket), interleaved with ordinary
 * queries of two other clients (other source ports). routerd is stopped (SIGSTOP) while they
 * are sent and resumed by the script, so all of them wait in the socket buffer and are read
 * and answered in one batch: the batch holds the port-0 queries in front of the others.
 * Prints {"a": replies to client a, "b": replies to client b}.
 */
const GUEST_SCRIPT = `
import json, os, signal, socket, struct, sys
router, pid, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def query(qid):
    name = b''.join(bytes([len(l)]) + l for l in [b'data-server', b'cloud', b'internal']) + b'\\0'
    return struct.pack('!HHHHHH', qid, 0x0100, 1, 0, 0, 0) + name + struct.pack('!HH', 1, 1)
raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP)
def send_from_port0(payload):
    # UDP header: source port 0, destination 53, length, no checksum (allowed over IPv4).
    raw.sendto(struct.pack('!HHHH', 0, 53, 8 + len(payload), 0) + payload, (router, 0))
a = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); a.bind(('0.0.0.0', 0))
b = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); b.bind(('0.0.0.0', 0))
try:
    for i in range(rounds):
        send_from_port0(query(0x7000 + i))
        a.sendto(query(0x1000 + i), (router, 53))
        send_from_port0(query(0x7100 + i))
        b.sendto(query(0x2000 + i), (router, 53))
finally:
    os.kill(pid, signal.SIGCONT)
counts = {}
for name, s in (('a', a), ('b', b)):
    s.settimeout(3)
    n = 0
    try:
        while n < rounds:
            s.recv(2048); n += 1
    except socket.timeout:
        pass
    counts[name] = n
print(json.dumps(counts))
`

const ROUNDS = 20

for (const path of ['native', 'node:dgram'] as const) {
  describe.skipIf(!root)(`DNS queries from UDP source port 0 (${path} path)`, () => {
    let r: RouterdProcess
    beforeAll(async () => {
      r = await RouterdProcess.create({}, path === 'node:dgram' ? { ROUTERD_UDP_BATCH: 'off' } : {})
      await r.put(labRouterConfig())
    })
    afterAll(async () => {
      await r?.close()
    })

    it('are dropped and counted; the other clients of the same batch are answered; routerd lives on', async () => {
      const pid = r.daemon?.pid ?? -1
      const before = await r.metric('routerd_dns_dropped_total', { reason: 'port0' })
      process.kill(pid, 'SIGSTOP')
      let out
      try {
        out = await r.lab.exec(r.lab.ns.vm2, '/usr/bin/python3', ['-c', GUEST_SCRIPT, LAB_ADDR.router, String(pid), String(ROUNDS)], { timeoutMs: 30_000 })
      } finally {
        try { process.kill(pid, 'SIGCONT') } catch { /* gone: the assertions below say so */ }
      }
      expect(JSON.parse(out.stdout)).toEqual({ a: ROUNDS, b: ROUNDS })
      expect(() => process.kill(pid, 0)).not.toThrow()
      expect((await r.api('GET', '/healthz')).status).toBe(200)
      expect(await r.metric('routerd_dns_dropped_total', { reason: 'port0' }) - before).toBe(2 * ROUNDS)
    })
  })
}
