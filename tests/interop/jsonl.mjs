// JSON-lines plumbing shared by rlpx_peer.mjs and dpt_peer.mjs.
//
// stdout carries ONLY event objects, one JSON object per line. Everything a
// human might want to read (ethereumjs `debug` output, our own diagnostics)
// goes to stderr, so the Rust driver can parse stdout without filtering.

import * as net from 'node:net'
import * as readline from 'node:readline'

/** Longest stdin command line we accept, in characters (a send of a 1 MiB payload is ~2 MiB of hex). */
const MAX_COMMAND_CHARS = 4 * 1024 * 1024

/** Writes one event object as a single JSON line on stdout. */
export function emit(event) {
  process.stdout.write(`${JSON.stringify(event)}\n`)
}

/** Reports a failure as an `error` event; never throws. */
export function emitError(message) {
  emit({ event: 'error', message: String(message) })
}

/** Writes a diagnostic line to stderr. */
export function log(...parts) {
  process.stderr.write(`[${process.argv[1]?.split('/').pop()}] ${parts.join(' ')}\n`)
}

/**
 * Parses `--name value` / `--flag` style arguments.
 * `repeatable` names collect every occurrence into an array.
 * Unknown options are an error: a typo must not silently change a test.
 */
export function parseArgs(argv, { values, flags = [], repeatable = [] }) {
  const out = {}
  for (const name of repeatable) out[name] = []
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]
    if (!arg.startsWith('--')) throw new Error(`unexpected argument: ${arg}`)
    const name = arg.slice(2)
    if (flags.includes(name)) {
      out[name] = true
    } else if (values.includes(name) || repeatable.includes(name)) {
      if (i + 1 >= argv.length) throw new Error(`missing value for ${arg}`)
      const value = argv[++i]
      if (repeatable.includes(name)) out[name].push(value)
      else out[name] = value
    } else {
      throw new Error(`unknown option: ${arg}`)
    }
  }
  return out
}

/** Decodes hex (optional 0x prefix) into bytes, or throws naming `what`. */
export function hexToBytes(hex, what, expectedLen) {
  if (typeof hex !== 'string') throw new Error(`${what}: expected a hex string`)
  const clean = hex.startsWith('0x') ? hex.slice(2) : hex
  if (clean.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(clean)) {
    throw new Error(`${what}: not valid hex`)
  }
  const bytes = Uint8Array.from(Buffer.from(clean, 'hex'))
  if (expectedLen !== undefined && bytes.length !== expectedLen) {
    throw new Error(`${what}: expected ${expectedLen} bytes, got ${bytes.length}`)
  }
  return bytes
}

/** Lower-case hex without prefix. */
export function bytesToHex(bytes) {
  return Buffer.from(bytes).toString('hex')
}

/** Parses a TCP/UDP port; 0 is allowed (the OS picks). */
export function parsePort(value, what) {
  const port = Number(value)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`${what}: not a port number: ${value}`)
  }
  return port
}

/**
 * The harness must never send traffic off the machine: every address we are
 * told to contact has to be an IPv4 loopback address (127.0.0.0/8) or ::1.
 */
export function isLoopback(address) {
  if (net.isIPv4(address)) return address.split('.')[0] === '127'
  if (net.isIPv6(address)) return address === '::1'
  return false
}

/** Throws unless `address` is a loopback IP literal (no host names: no DNS). */
export function requireLoopback(address, what) {
  if (!isLoopback(address)) {
    throw new Error(`${what}: refusing non-loopback address ${JSON.stringify(address)}`)
  }
}

/**
 * Reads JSON-line commands from stdin and hands each parsed object to
 * `onCommand`. Malformed lines become `error` events. When stdin closes,
 * `onClose` runs (the scripts shut down then).
 */
export function readCommands(onCommand, onClose) {
  const rl = readline.createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY })
  rl.on('line', (line) => {
    if (line.trim() === '') return
    if (line.length > MAX_COMMAND_CHARS) {
      emitError(`command line longer than ${MAX_COMMAND_CHARS} characters`)
      return
    }
    let cmd
    try {
      cmd = JSON.parse(line)
    } catch (err) {
      emitError(`bad command JSON: ${err.message}`)
      return
    }
    if (cmd === null || typeof cmd !== 'object' || typeof cmd.cmd !== 'string') {
      emitError('command must be an object with a string "cmd"')
      return
    }
    Promise.resolve()
      .then(() => onCommand(cmd))
      .catch((err) => emitError(`${cmd.cmd}: ${err?.message ?? err}`))
  })
  rl.on('close', onClose)
}

/** Grace period before exiting, so queued socket writes (Disconnect frames) flush, in ms. */
export const EXIT_FLUSH_MS = 200
