package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/p2p/enode"
)

// maxGeneratedPayload is the largest payload `send` generates, in bytes:
// RLPx's frame-size field is 24 bits (go-ethereum's maxUint24).
const maxGeneratedPayload = 1<<24 - 1

// maxSendCount bounds `send`'s repeat count (tests send a few thousand).
const maxSendCount = 100_000

// command is one stdin line; which fields matter depends on Cmd.
type command struct {
	Cmd string `json:"cmd"`
	// Tag is echoed in the command's result event, so a test can match
	// results of concurrent commands.
	Tag string `json:"tag"`
	// Node is an enode URL or ENR (loopback only).
	Node string `json:"node"`
	// ID is a peer's 128-hex public key.
	ID      string `json:"id"`
	Proto   string `json:"proto"`
	Code    uint64 `json:"code"`
	Payload string `json:"payload"`
	Size    int    `json:"size"`
	Seed    uint64 `json:"seed"`
	Count   int    `json:"count"`
	Zeros   bool   `json:"zeros"`
	Reason  int    `json:"reason"`
	Text    string `json:"text"`
}

func (h *harness) run(cmd command) {
	result, err := h.dispatch(cmd)
	if err != nil {
		h.out.emit(map[string]any{"event": "error", "cmd": cmd.Cmd, "tag": cmd.Tag, "message": err.Error()})
		return
	}
	if result != nil {
		if cmd.Tag != "" {
			result["tag"] = cmd.Tag
		}
		h.out.emit(result)
	}
}

func (h *harness) dispatch(cmd command) (map[string]any, error) {
	switch cmd.Cmd {
	case "add_peer", "remove_peer", "add_trusted", "remove_trusted":
		n, err := parseLoopbackNode(cmd.Node)
		if err != nil {
			return nil, err
		}
		switch cmd.Cmd {
		case "add_peer":
			h.srv.AddPeer(n)
		case "remove_peer":
			h.srv.RemovePeer(n)
		case "add_trusted":
			h.srv.AddTrustedPeer(n)
		case "remove_trusted":
			h.srv.RemoveTrustedPeer(n)
		}
		return map[string]any{"event": "ok", "cmd": cmd.Cmd}, nil
	case "send":
		return h.send(cmd)
	case "disconnect":
		p := h.peerByPubkey(cmd.ID)
		if p == nil {
			return nil, fmt.Errorf("no peer %s", cmd.ID)
		}
		p.Disconnect(p2p.DiscReason(cmd.Reason))
		return map[string]any{"event": "ok", "cmd": cmd.Cmd}, nil
	case "peers":
		return h.peers(), nil
	case "nodes":
		return h.nodes(), nil
	case "lookup":
		return h.lookup()
	case "requestenr", "ping", "resolve":
		return h.discv4Request(cmd)
	case "demo_broadcast":
		return h.demo.broadcast(cmd.Text)
	default:
		return nil, fmt.Errorf("unknown command %q", cmd.Cmd)
	}
}

// send writes Count (default 1) messages to a test-protocol session. The
// payload is Payload (hex) or, with Size, Size bytes generated from Seed+i
// for the i-th message (see generatePayload), or Size zero bytes with Zeros.
func (h *harness) send(cmd command) (map[string]any, error) {
	h.mu.Lock()
	s := h.sessions[sessionKey{cmd.ID, cmd.Proto}]
	h.mu.Unlock()
	if s == nil {
		return nil, fmt.Errorf("no %s session with %s", cmd.Proto, cmd.ID)
	}
	count := cmd.Count
	if count == 0 {
		count = 1
	}
	if count < 0 || count > maxSendCount {
		return nil, fmt.Errorf("count %d outside 1..%d", count, maxSendCount)
	}
	if cmd.Size < 0 || cmd.Size > maxGeneratedPayload {
		return nil, fmt.Errorf("size %d outside 0..%d", cmd.Size, maxGeneratedPayload)
	}
	var fixed []byte
	if cmd.Size == 0 {
		var err error
		if fixed, err = hex.DecodeString(strings.TrimPrefix(cmd.Payload, "0x")); err != nil {
			return nil, fmt.Errorf("payload: %v", err)
		}
	}
	var last []byte
	for i := 0; i < count; i++ {
		payload := fixed
		if cmd.Size > 0 && cmd.Zeros {
			payload = make([]byte, cmd.Size)
		} else if cmd.Size > 0 {
			payload = generatePayload(cmd.Size, cmd.Seed+uint64(i))
		}
		msg := p2p.Msg{Code: cmd.Code, Size: uint32(len(payload)), Payload: bytes.NewReader(payload)}
		if err := s.rw.WriteMsg(msg); err != nil {
			return nil, fmt.Errorf("message %d of %d: %v", i, count, err)
		}
		last = payload
	}
	sum := sha256.Sum256(last)
	return map[string]any{
		"event": "sent", "id": cmd.ID, "proto": cmd.Proto, "code": cmd.Code,
		"count": count, "len": len(last), "sha256": hex.EncodeToString(sum[:]),
	}, nil
}

// generatePayload returns n bytes: SHA-256(seed_le64 || i_le64) for
// i = 0, 1, … concatenated (incompressible, reproducible by the tests).
func generatePayload(n int, seed uint64) []byte {
	out := make([]byte, 0, n+sha256.Size)
	var block [16]byte
	binary.LittleEndian.PutUint64(block[:8], seed)
	for i := uint64(0); len(out) < n; i++ {
		binary.LittleEndian.PutUint64(block[8:], i)
		sum := sha256.Sum256(block[:])
		out = append(out, sum[:]...)
	}
	return out[:n]
}

func (h *harness) peers() map[string]any {
	list := []map[string]any{}
	for _, p := range h.srv.Peers() {
		caps := []string{}
		for _, c := range p.Caps() {
			caps = append(caps, c.String())
		}
		info := p.Info()
		list = append(list, map[string]any{
			"id": pubkeyHex(p.Node().Pubkey()), "name": p.Fullname(), "caps": caps,
			"inbound": p.Inbound(), "trusted": info.Network.Trusted, "static": info.Network.Static,
		})
	}
	return map[string]any{"event": "peers", "peers": list}
}

// nodes lists the node ids (128 hex) in the discv4 and discv5 tables.
func (h *harness) nodes() map[string]any {
	v4, v5 := []string{}, []string{}
	if d := h.srv.DiscoveryV4(); d != nil {
		for _, b := range d.TableBuckets() {
			for _, n := range b {
				v4 = append(v4, pubkeyHex(n.Node.Pubkey()))
			}
		}
	}
	if d := h.srv.DiscoveryV5(); d != nil {
		for _, n := range d.AllNodes() {
			if pub := n.Pubkey(); pub != nil {
				v5 = append(v5, pubkeyHex(pub))
			}
		}
	}
	return map[string]any{"event": "nodes", "v4": v4, "v5": v5}
}

// lookup runs one discv4 lookup for a random target and returns what it found.
func (h *harness) lookup() (map[string]any, error) {
	d := h.srv.DiscoveryV4()
	if d == nil {
		return nil, fmt.Errorf("discv4 is off")
	}
	target, err := crypto.GenerateKey()
	if err != nil {
		return nil, err
	}
	found := []string{}
	for _, n := range d.LookupPubkey(&target.PublicKey) {
		found = append(found, pubkeyHex(n.Pubkey()))
	}
	return map[string]any{"event": "lookup", "nodes": found}, nil
}

// discv4Request pings, requests the ENR of, or resolves a node over discv4.
func (h *harness) discv4Request(cmd command) (map[string]any, error) {
	d := h.srv.DiscoveryV4()
	if d == nil {
		return nil, fmt.Errorf("discv4 is off")
	}
	n, err := parseLoopbackNode(cmd.Node)
	if err != nil {
		return nil, err
	}
	switch cmd.Cmd {
	case "ping":
		pong, err := d.Ping(n)
		if err != nil {
			return nil, err
		}
		return map[string]any{"event": "pong", "enr_seq": pong.ENRSeq}, nil
	case "requestenr":
		rec, err := d.RequestENR(n)
		if err != nil {
			return nil, err
		}
		return nodeEvent("enr", rec), nil
	default:
		return nodeEvent("resolved", d.Resolve(n)), nil
	}
}

func nodeEvent(name string, n *enode.Node) map[string]any {
	return map[string]any{
		"event": name, "enr": n.String(), "seq": n.Seq(),
		"id": pubkeyHex(n.Pubkey()), "ip": n.IP().String(), "tcp": n.TCP(), "udp": n.UDP(),
	}
}
