#!/usr/bin/env node
// The lab's guest-side helper (tests, `make demo`), run by node inside lab namespaces. Each
// server answers with what it saw of the client, so the source address after NAT can be checked:
//   peer.mjs serve tcp 8080[-8090]   HTTP; body "<client ip> <local port>\n"
//   peer.mjs serve udp 5000[-5010] [ADDR]  datagram reply (bind ADDR on a multi-homed host: the reply must
//                                    come from the address the client asked) "<client ip> <local port>"
//   peer.mjs ask udp HOST PORT [FROM [SPORT]] prints the reply; exit 1 after 2 s without one
//   peer.mjs ask tcp HOST PORT FROM SPORT  one HTTP GET from FROM:SPORT; prints the body, or "error <code>"
//                                    (exit 1); the connection ends with a reset, so the same source port can
//                                    be used again at once (no TIME_WAIT on this side)
//   peer.mjs sink udp PORT           prints "from <source ip>" for every datagram received, answers nothing
//   peer.mjs send udp HOST PORT FROM sends one datagram from FROM and exits (no answer expected)
//   peer.mjs named tcp|udp PORT NAME  a backend that says who it is: "<NAME> <client ip>" (HTTP body,
//                                    keep-alive allowed, plus " xff=<X-Forwarded-For> proto=<X-Forwarded-Proto>"
//                                    behind a proxy; or datagram reply)
//   peer.mjs proxied tcp PORT NAME   a backend behind the PROXY protocol v2: reads the header first, then one
//                                    HTTP request, and answers "<NAME> proxy=<src ip>:<port>-><dst ip>:<port>"
//                                    (or proxy=local for a health check); a connection without the
//                                    header is closed, and "rejected" printed
//   peer.mjs keep tcp URL SECONDS    one kept-alive HTTP connection asking every 100 ms; prints each
//                                    answer; exit 1 at the first failure or on a new connection
//   peer.mjs keep udp HOST PORT SECONDS FROM  one UDP flow (fixed source port) asking every 100 ms;
//                                    prints each answer; exit 1 when an answer is missing for 1 s
import { request, createServer, Agent } from 'node:http'
import { createSocket } from 'node:dgram'
import { connect, createServer as createTcpServer } from 'node:net'

const [mode, proto, a, b, from, sport] = process.argv.slice(2)
if (mode === 'serve') {
  const [lo, hi] = a.split('-').map(Number)
  for (let port = lo; port <= (hi ?? lo); port++) {
    if (proto === 'tcp') {
      createServer((req, res) => res.end(`${req.socket.remoteAddress} ${port}\n`)).listen(port, b ?? '0.0.0.0')
    } else {
      const s = createSocket('udp4')
      s.on('message', (_msg, rinfo) => s.send(`${rinfo.address} ${port}`, rinfo.port, rinfo.address))
      s.bind(port, b ?? '0.0.0.0')
    }
  }
  process.stdout.write('ready\n')
} else if (mode === 'ask' && proto === 'tcp') {
  const fail = (code) => {
    process.stdout.write(`error ${code}\n`)
    process.exit(1)
  }
  const timer = setTimeout(() => fail('timeout'), 3000)
  const socket = connect({ host: a, port: Number(b), localAddress: from, localPort: Number(sport) })
  let got = ''
  socket.on('connect', () => socket.write(`GET / HTTP/1.1\r\nHost: ${a}\r\n\r\n`))
  socket.on('data', (bytes) => {
    got += bytes.toString('latin1')
    const end = got.indexOf('\r\n\r\n')
    const length = /^content-length: *(\d+)/im.exec(got)
    if (end < 0 || length === null || got.length < end + 4 + Number(length[1])) return
    clearTimeout(timer)
    process.stdout.write(got.slice(end + 4, end + 4 + Number(length[1])))
    socket.resetAndDestroy()
  })
  socket.on('error', (err) => fail(err.code))
} else if (mode === 'ask' && proto === 'udp') {
  const s = createSocket('udp4')
  const timer = setTimeout(() => process.exit(1), 2000)
  s.on('message', (msg) => { clearTimeout(timer); process.stdout.write(`${msg}\n`); process.exit(0) })
  if (from || sport) s.bind({ address: from || '0.0.0.0', port: Number(sport ?? 0) }, () => s.send('ping', Number(b), a))
  else s.send('ping', Number(b), a)
} else if (mode === 'sink' && proto === 'udp') {
  const s = createSocket('udp4')
  s.on('message', (_msg, rinfo) => process.stdout.write(`from ${rinfo.address}\n`))
  s.bind(Number(a), () => process.stdout.write('ready\n'))
} else if (mode === 'send' && proto === 'udp') {
  const s = createSocket('udp4')
  s.on('error', (err) => { process.stderr.write(`${err.message}\n`); process.exit(1) })
  s.bind({ address: from, port: 0 }, () => s.send('spoof', Number(b), a, (err) => {
    if (err) { process.stderr.write(`${err.message}\n`); process.exit(1) }
    s.close()
  }))
} else if (mode === 'named') {
  const port = Number(a)
  if (proto === 'tcp') {
    createServer((req, res) => {
      // Behind a proxy, also what it said of the client.
      const xff = req.headers['x-forwarded-for']
      const proxied = xff === undefined ? '' : ` xff=${xff} proto=${req.headers['x-forwarded-proto'] ?? '-'}`
      res.end(`${b} ${req.socket.remoteAddress}${proxied}\n`)
    }).listen(port, '0.0.0.0', () => process.stdout.write('ready\n'))
  } else {
    const s = createSocket('udp4')
    s.on('message', (_msg, rinfo) => s.send(`${b} ${rinfo.address}`, rinfo.port, rinfo.address))
    s.bind(port, '0.0.0.0', () => process.stdout.write('ready\n'))
  }
} else if (mode === 'proxied' && proto === 'tcp') {
  const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex')
  const address = (buf, at) => `${buf[at]}.${buf[at + 1]}.${buf[at + 2]}.${buf[at + 3]}`
  createTcpServer((socket) => {
    let data = Buffer.alloc(0)
    let proxy
    socket.on('error', () => {})
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk])
      if (proxy === undefined) {
        if (data.length < 16) return
        if (!data.subarray(0, 12).equals(SIGNATURE) || data[12] >> 4 !== 2) {
          process.stdout.write('rejected\n')
          socket.destroy()
          return
        }
        const length = data.readUInt16BE(14)
        if (data.length < 16 + length) return
        // Command 1 (PROXY) over TCP/IPv4 (0x11) carries the addresses; command 0 (LOCAL) none.
        proxy = (data[12] & 0xf) === 1 && data[13] === 0x11
          ? `${address(data, 16)}:${data.readUInt16BE(24)}->${address(data, 20)}:${data.readUInt16BE(26)}`
          : 'local'
        data = data.subarray(16 + length)
      }
      if (!data.includes('\r\n\r\n')) return
      const body = `${b} proxy=${proxy}\n`
      socket.end(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`)
    })
  }).listen(Number(a), '0.0.0.0', () => process.stdout.write('ready\n'))
} else if (mode === 'keep' && proto === 'tcp') {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  let sockets = 0
  const seen = new WeakSet()
  const end = Date.now() + Number(b) * 1000
  const ask = () => {
    const req = request(a, { agent }, (res) => {
      let body = ''
      res.on('data', (c) => { body += c })
      res.on('end', () => {
        process.stdout.write(body)
        if (Date.now() > end) process.exit(0)
        setTimeout(ask, 100)
      })
    })
    req.on('socket', (sock) => {
      if (!seen.has(sock)) { seen.add(sock); sockets++ }
      if (sockets > 1) { process.stderr.write('a second connection was opened\n'); process.exit(1) }
    })
    req.on('error', (err) => { process.stderr.write(`${err.message}\n`); process.exit(1) })
    req.setTimeout(2000, () => { process.stderr.write('no answer within 2 s\n'); process.exit(1) })
    req.end()
  }
  ask()
} else if (mode === 'keep' && proto === 'udp') {
  const [host, port, seconds, source] = [a, Number(b), Number(from), sport]
  const s = createSocket('udp4')
  const end = Date.now() + seconds * 1000
  let last = Date.now()
  s.on('message', (msg) => { last = Date.now(); process.stdout.write(`${msg}\n`) })
  s.bind({ address: source, port: 0 }, () => {
    const tick = setInterval(() => {
      if (Date.now() - last > 1000) { process.stderr.write('no answer for 1 s\n'); process.exit(1) }
      if (Date.now() > end) { clearInterval(tick); process.exit(0) }
      s.send('ping', port, host)
    }, 100)
  })
} else {
  process.stderr.write('usage: peer.mjs serve tcp|udp PORT[-PORT] | ask udp HOST PORT | sink udp PORT | send udp HOST PORT FROM | named tcp|udp PORT NAME | proxied tcp PORT NAME | keep tcp URL SECONDS | keep udp HOST PORT SECONDS FROM\n')
  process.exit(2)
}
