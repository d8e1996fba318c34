package main

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/p2p"
)

// maxReportedPayload is the largest payload a `message` event carries as hex,
// in bytes; larger ones are reported by length and SHA-256 only.
const maxReportedPayload = 4096

// maxProtocolLength bounds a test protocol's message space on the command line.
const maxProtocolLength = 1024

// testProtocol builds a protocol from "name/version/length" that reports
// every message it reads and sends what the `send` command asks for.
func (h *harness) testProtocol(spec string) (p2p.Protocol, error) {
	parts := strings.Split(spec, "/")
	if len(parts) != 3 {
		return p2p.Protocol{}, fmt.Errorf("want name/version/length, got %q", spec)
	}
	name := parts[0]
	version, err := strconv.ParseUint(parts[1], 10, 32)
	if err != nil {
		return p2p.Protocol{}, fmt.Errorf("version of %q: %v", spec, err)
	}
	length, err := strconv.ParseUint(parts[2], 10, 64)
	if err != nil || length == 0 || length > maxProtocolLength {
		return p2p.Protocol{}, fmt.Errorf("length of %q: want 1..%d", spec, maxProtocolLength)
	}
	return p2p.Protocol{
		Name:    name,
		Version: uint(version),
		Length:  length,
		Run: func(p *p2p.Peer, rw p2p.MsgReadWriter) error {
			return h.runTestSession(p, rw, name, uint(version), length)
		},
	}, nil
}

func (h *harness) runTestSession(p *p2p.Peer, rw p2p.MsgReadWriter, name string, version uint, length uint64) error {
	id := pubkeyHex(p.Node().Pubkey())
	key := sessionKey{id, name}
	h.mu.Lock()
	h.sessions[key] = &session{peer: p, rw: rw, version: version, length: length}
	h.mu.Unlock()
	defer func() {
		h.mu.Lock()
		delete(h.sessions, key)
		h.mu.Unlock()
	}()
	h.out.emit(map[string]any{"event": "proto_started", "id": id, "proto": name, "version": version})
	for {
		msg, err := rw.ReadMsg()
		if err != nil {
			h.out.emit(map[string]any{"event": "proto_ended", "id": id, "proto": name, "error": err.Error()})
			return err
		}
		data, err := io.ReadAll(io.LimitReader(msg.Payload, maxGeneratedPayload))
		if err != nil {
			return err
		}
		sum := sha256.Sum256(data)
		e := map[string]any{
			"event": "message", "id": id, "proto": name, "version": version,
			"code": msg.Code, "len": len(data), "sha256": hex.EncodeToString(sum[:]),
		}
		if len(data) <= maxReportedPayload {
			e["payload"] = hex.EncodeToString(data)
		}
		h.out.emit(e)
	}
}
