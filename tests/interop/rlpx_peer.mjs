// An ethereumjs RLPx node driven by JSON lines (see README.md for the protocol).
//
// Usage:
//   node rlpx_peer.mjs --key <64 hex> [--port N | --no-listen] [--client-id S]
//                      [--cap name/version/length]... [--timeout-ms N] [--max-peers N]
// The key may also come from the environment variable RLPX_PEER_KEY.
//
// ethereumjs only ships sub-protocol classes for eth and snap, but its Peer
// instantiates whatever `constructor` a capability object names
// (`new SubProtocol(version, peer, send)`) and later calls
// `protocol._handleMessage(code, payload)`. So a custom capability is a small
// class of our own with those two entry points (see `customCapability`). We do
// NOT extend ethereumjs's `Protocol` base class: it arms a 5 s "no STATUS"
// timer that disconnects with TIMEOUT, which only makes sense for eth.

import { DISCONNECT_REASON, RLPx } from '@ethereumjs/devp2p'
import * as snappy from 'snappyjs'

import {
  EXIT_FLUSH_MS,
  bytesToHex,
  emit,
  emitError,
  hexToBytes,
  log,
  parseArgs,
  parsePort,
  readCommands,
  requireLoopback,
} from './jsonl.mjs'

/** Secp256k1 private key length, in bytes. */
const PRIVATE_KEY_LEN = 32
/** Node id (uncompressed public key without the 0x04 prefix) length, in bytes. */
const NODE_ID_LEN = 64
/** Base protocol version from which every message after Hello is snappy-compressed (devp2p spec, v5). */
const SNAPPY_PROTOCOL_VERSION = 5
/** Largest capability message-space we accept on the command line (base protocol uses 16; eth uses 17). */
const MAX_CAP_LENGTH = 1024
/** Default capability offered when no --cap is given. */
const DEFAULT_CAP = 'tst/1/8'

function parseCapability(spec) {
  const parts = spec.split('/')
  if (parts.length !== 3) throw new Error(`--cap: expected name/version/length, got ${spec}`)
  const [name, versionStr, lengthStr] = parts
  const version = Number(versionStr)
  const length = Number(lengthStr)
  if (!/^[a-z0-9]{1,8}$/.test(name)) throw new Error(`--cap: bad name ${name}`)
  if (!Number.isInteger(version) || version < 0 || version > 255) {
    throw new Error(`--cap: bad version ${versionStr}`)
  }
  if (!Number.isInteger(length) || length < 1 || length > MAX_CAP_LENGTH) {
    throw new Error(`--cap: bad length ${lengthStr}`)
  }
  return customCapability(name, version, length)
}

/**
 * Builds an ethereumjs capability descriptor whose protocol object reports
 * every received message as a `message` event and can send raw payloads.
 * Payloads are opaque bytes (not necessarily RLP): the test decides.
 */
function customCapability(name, version, length) {
  class CustomProtocol {
    constructor(negotiatedVersion, peer, send) {
      this.capName = name
      this.capVersion = negotiatedVersion
      this.capLength = length
      this._peer = peer
      this._send = send
    }

    /** Called by ethereumjs with the code relative to our offset and the (decompressed) payload. */
    _handleMessage(code, payload) {
      emit({
        event: 'message',
        id: bytesToHex(this._peer.getId()),
        cap: name,
        code,
        payload: bytesToHex(payload),
      })
    }

    /** Sends `payload` as message `code` of this capability, compressing as ethereumjs's own eth does. */
    sendMessage(code, payload) {
      if (!Number.isInteger(code) || code < 0 || code >= length) {
        throw new Error(`code ${code} outside ${name}'s message space of ${length}`)
      }
      const hello = this._peer.getHelloMessage()
      const data =
        hello !== null && hello.protocolVersion >= SNAPPY_PROTOCOL_VERSION
          ? snappy.compress(payload)
          : payload
      this._send(code, data)
    }
  }
  // ethereumjs logs sub-protocols by constructor name.
  Object.defineProperty(CustomProtocol, 'name', { value: `Custom_${name}${version}` })
  return { name, version, length, constructor: CustomProtocol }
}

let args
try {
  args = parseArgs(process.argv.slice(2), {
    values: ['key', 'port', 'client-id', 'timeout-ms', 'max-peers'],
    flags: ['no-listen'],
    repeatable: ['cap'],
  })
} catch (err) {
  log(err.message)
  emitError(err.message)
  process.exit(2)
}

const keyHex = args.key ?? process.env.RLPX_PEER_KEY
if (keyHex === undefined) {
  emitError('missing --key (or RLPX_PEER_KEY)')
  process.exit(2)
}
const privateKey = hexToBytes(keyHex, '--key', PRIVATE_KEY_LEN)
const listen = args['no-listen'] !== true
const requestedPort = parsePort(args.port ?? '0', '--port')
const capabilities = (args.cap.length > 0 ? args.cap : [DEFAULT_CAP]).map(parseCapability)
const clientId = args['client-id'] ?? 'ethereumjs-interop/rlpx_peer'

const rlpx = new RLPx(privateKey, {
  clientId: new TextEncoder().encode(clientId),
  capabilities,
  // Set to the real port once listening (ethereumjs puts it in Hello); null = empty port field.
  listenPort: null,
  timeout: args['timeout-ms'] !== undefined ? Number(args['timeout-ms']) : undefined,
  maxPeers: args['max-peers'] !== undefined ? Number(args['max-peers']) : undefined,
})
const selfId = bytesToHex(rlpx.id)

/** Connected peers by hex node id. */
const peers = new Map()

rlpx.events.on('peer:added', (peer) => {
  const id = bytesToHex(peer.getId())
  peers.set(id, peer)
  // Pings/pongs are handled inside ethereumjs's Peer without events; wrap the
  // handlers on this instance so the test can observe them.
  const handlePong = peer._handlePong.bind(peer)
  peer._handlePong = () => {
    handlePong()
    emit({ event: 'pong', id })
  }
  const handlePing = peer._handlePing.bind(peer)
  peer._handlePing = () => {
    emit({ event: 'ping', id })
    handlePing()
  }
  const hello = peer.getHelloMessage()
  emit({
    event: 'peer_added',
    id,
    client_id: hello.clientId,
    caps: hello.capabilities.map((c) => `${c.name}/${c.version}`),
    protocol_version: hello.protocolVersion,
    port: hello.port,
  })
})

rlpx.events.on('peer:removed', (peer, reason, disconnectWe) => {
  const id = bytesToHex(peer.getId())
  peers.delete(id)
  emit({
    event: 'peer_removed',
    id,
    reason: reason ?? null,
    disconnect_we: disconnectWe === true,
  })
})

rlpx.events.on('peer:error', (peer, err) => {
  const id = peer.getId()
  emit({ event: 'error', id: id ? bytesToHex(id) : null, message: String(err?.message ?? err) })
})
rlpx.events.on('error', (err) => emitError(err?.message ?? err))

/** The peer a command addresses: by `id`, or the only connected one. */
function targetPeer(cmd) {
  if (cmd.id !== undefined) {
    const peer = peers.get(String(cmd.id).replace(/^0x/, '').toLowerCase())
    if (peer === undefined) throw new Error(`no connected peer ${cmd.id}`)
    return peer
  }
  if (peers.size !== 1) throw new Error(`need "id": ${peers.size} peers connected`)
  return peers.values().next().value
}

function integer(value, what) {
  if (!Number.isInteger(value) || value < 0) throw new Error(`${what}: expected a non-negative integer`)
  return value
}

let exiting = false
function shutdown(code) {
  if (exiting) return
  exiting = true
  try {
    rlpx.destroy() // sends Disconnect(CLIENT_QUITTING) to connected peers
  } catch (err) {
    log(`destroy: ${err.message}`)
  }
  setTimeout(() => process.exit(code), EXIT_FLUSH_MS)
}

async function onCommand(cmd) {
  switch (cmd.cmd) {
    case 'connect': {
      const id = hexToBytes(cmd.id, 'connect.id', NODE_ID_LEN)
      const host = cmd.host ?? '127.0.0.1'
      requireLoopback(host, 'connect.host')
      const port = parsePort(cmd.port, 'connect.port')
      await rlpx.connect({ id, address: host, tcpPort: port })
      break
    }
    case 'send': {
      const peer = targetPeer(cmd)
      const protocols = peer.getProtocols()
      const protocol =
        cmd.cap !== undefined ? protocols.find((p) => p.capName === cmd.cap) : protocols[0]
      if (protocol === undefined) throw new Error(`capability ${cmd.cap} not shared with peer`)
      protocol.sendMessage(integer(cmd.code, 'send.code'), hexToBytes(cmd.payload ?? '', 'send.payload'))
      break
    }
    case 'ping':
      targetPeer(cmd)._sendPing()
      break
    case 'disconnect': {
      const reason =
        cmd.reason !== undefined ? integer(cmd.reason, 'disconnect.reason') : DISCONNECT_REASON.DISCONNECT_REQUESTED
      targetPeer(cmd).disconnect(reason)
      break
    }
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

readCommands(onCommand, () => shutdown(0))

if (listen) {
  rlpx.events.once('listening', () => {
    const port = rlpx._server.address().port
    rlpx._listenPort = port
    log(`listening on 127.0.0.1:${port} as ${selfId}`)
    emit({ event: 'ready', port, id: selfId })
  })
  rlpx.listen(requestedPort, '127.0.0.1')
} else {
  emit({ event: 'ready', port: null, id: selfId })
}
