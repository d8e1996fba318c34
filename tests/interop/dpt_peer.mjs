// An ethereumjs DPT (discv4) node driven by JSON lines (see README.md for the protocol).
//
// Usage:
//   node dpt_peer.mjs --key <64 hex> [--port N] [--tcp-port N]
//                     [--bootnode <128 hex id>@127.0.0.1:<udp port>] [--refresh-ms N]
//                     [--no-find-neighbours]
// The key may also come from the environment variable DPT_PEER_KEY.
//
// Containment: the UDP socket binds 127.0.0.1 only, DNS discovery is off (and
// its resolver is pointed at 127.0.0.1 in case anything ever asks), and the
// socket's send() drops any datagram not addressed to loopback, so addresses
// learned from Neighbors packets can never cause traffic off the machine.

import * as dgram from 'node:dgram'

import { DPT } from '@ethereumjs/devp2p'

import {
  EXIT_FLUSH_MS,
  bytesToHex,
  emit,
  emitError,
  hexToBytes,
  isLoopback,
  log,
  parseArgs,
  parsePort,
  readCommands,
  requireLoopback,
} from './jsonl.mjs'

/** Secp256k1 private key length, in bytes. */
const PRIVATE_KEY_LEN = 32
/** Node id length, in bytes. */
const NODE_ID_LEN = 64
/** Loopback host everything binds to and advertises. */
const LOOPBACK = '127.0.0.1'

let args
try {
  args = parseArgs(process.argv.slice(2), {
    values: ['key', 'port', 'tcp-port', 'bootnode', 'refresh-ms', 'timeout-ms'],
    flags: ['no-find-neighbours'],
  })
} catch (err) {
  log(err.message)
  emitError(err.message)
  process.exit(2)
}

const keyHex = args.key ?? process.env.DPT_PEER_KEY
if (keyHex === undefined) {
  emitError('missing --key (or DPT_PEER_KEY)')
  process.exit(2)
}
const privateKey = hexToBytes(keyHex, '--key', PRIVATE_KEY_LEN)
const requestedPort = parsePort(args.port ?? '0', '--port')
const tcpPort = args['tcp-port'] !== undefined ? parsePort(args['tcp-port'], '--tcp-port') : null

/** A UDP socket that refuses to send anywhere but loopback. */
function createLoopbackSocket() {
  const socket = dgram.createSocket({ type: 'udp4' })
  const send = socket.send.bind(socket)
  socket.send = (msg, offset, length, port, address, ...rest) => {
    if (!isLoopback(address)) {
      log(`dropping datagram to non-loopback ${address}:${port}`)
      return
    }
    return send(msg, offset, length, port, address, ...rest)
  }
  return socket
}

const dpt = new DPT(privateKey, {
  // udpPort is filled in once bound; ethereumjs puts this endpoint in Ping's `from`.
  endpoint: { address: LOOPBACK, udpPort: null, tcpPort },
  createSocket: createLoopbackSocket,
  shouldFindNeighbours: args['no-find-neighbours'] !== true,
  shouldGetDnsPeers: false,
  dnsNetworks: [],
  dnsAddr: LOOPBACK,
  refreshInterval: args['refresh-ms'] !== undefined ? Number(args['refresh-ms']) : undefined,
  timeout: args['timeout-ms'] !== undefined ? Number(args['timeout-ms']) : undefined,
})
const selfId = bytesToHex(dpt.id)

function peerJson(peer) {
  return {
    id: peer.id ? bytesToHex(peer.id) : null,
    address: peer.address,
    udpPort: peer.udpPort ?? null,
    tcpPort: peer.tcpPort ?? null,
  }
}

dpt.events.on('peer:added', (peer) => emit({ event: 'peer_added', ...peerJson(peer) }))
dpt.events.on('peer:removed', (peer) => emit({ event: 'peer_removed', ...peerJson(peer) }))
dpt.events.on('error', (err) => emitError(err?.message ?? err))

/** Parses the peer fields of a bootstrap/add_peer command. */
function peerArg(cmd, what) {
  const address = cmd.address ?? LOOPBACK
  requireLoopback(address, `${what}.address`)
  const peer = { address, udpPort: parsePort(cmd.udpPort, `${what}.udpPort`) }
  if (cmd.id !== undefined && cmd.id !== null) peer.id = hexToBytes(cmd.id, `${what}.id`, NODE_ID_LEN)
  if (cmd.tcpPort !== undefined && cmd.tcpPort !== null) {
    peer.tcpPort = parsePort(cmd.tcpPort, `${what}.tcpPort`)
  }
  return peer
}

/** Parses `<id hex>@<ip>:<udp port>` (an `enode://` prefix is accepted). */
function parseBootnode(spec) {
  const match = /^(?:enode:\/\/)?([0-9a-fA-F]{128})@([0-9.]+):(\d+)$/.exec(spec)
  if (match === null) throw new Error(`--bootnode: expected <id>@<ip>:<port>, got ${spec}`)
  return peerArg({ id: match[1], address: match[2], udpPort: Number(match[3]) }, '--bootnode')
}

let exiting = false
function shutdown(code) {
  if (exiting) return
  exiting = true
  try {
    dpt.destroy()
  } catch (err) {
    log(`destroy: ${err.message}`)
  }
  setTimeout(() => process.exit(code), EXIT_FLUSH_MS)
}

async function onCommand(cmd) {
  switch (cmd.cmd) {
    case 'bootstrap':
      // DPT.bootstrap reports failures through the `error` event itself.
      await dpt.bootstrap(peerArg(cmd, 'bootstrap'))
      break
    case 'add_peer': {
      const peer = await dpt.addPeer(peerArg(cmd, 'add_peer'))
      emit({ event: 'add_peer_ok', ...peerJson(peer) })
      break
    }
    case 'peers':
      emit({ event: 'peers', peers: dpt.getPeers().map(peerJson) })
      break
    case 'exit':
      shutdown(0)
      break
    default:
      throw new Error(`unknown command ${cmd.cmd}`)
  }
}

process.on('unhandledRejection', (err) => emitError(`unhandled rejection: ${err?.message ?? err}`))
process.on('uncaughtException', (err) => {
  emitError(`uncaught exception: ${err?.stack ?? err}`)
  process.exit(1)
})

const bootnode = args.bootnode !== undefined ? parseBootnode(args.bootnode) : null

readCommands(onCommand, () => shutdown(0))

dpt.events.once('listening', () => {
  const port = dpt._server._socket.address().port
  dpt._server._endpoint.udpPort = port
  log(`listening on udp ${LOOPBACK}:${port} as ${selfId}`)
  emit({ event: 'ready', port, id: selfId })
  if (bootnode !== null) dpt.bootstrap(bootnode)
})
dpt.bind(requestedPort, LOOPBACK)
