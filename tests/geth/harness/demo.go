package main

// demo/1 as the Rust stack defines it (src/demo.rs), written here against
// go-ethereum's p2p package so that mixed networks gossip across
// implementations: Status [version, network_id, name] first, Gossip
// [origin, seq, text] relayed once per keccak256 of its encoding, Ping/Pong
// echoing the request id. New peers get the recent gossip replayed.

import (
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/rlp"
)

const (
	demoName    = "demo"
	demoVersion = 1
	demoLength  = 4

	demoStatusMsg = 0
	demoGossipMsg = 1
	demoPingMsg   = 2
	demoPongMsg   = 3

	// The Rust side's limits (src/demo.rs): status timeout, remembered
	// hashes, replayed messages, per-peer queue.
	demoStatusTimeout = 5 * time.Second
	demoSeenCapacity  = 4096
	demoRecent        = 256
	demoPeerQueue     = 512
)

type demoStatus struct {
	Version   uint64
	NetworkID uint64
	Name      []byte
	Rest      []rlp.RawValue `rlp:"tail"`
}

type demoGossip struct {
	Origin []byte
	Seq    uint64
	Text   []byte
	Rest   []rlp.RawValue `rlp:"tail"`
}

type demoOut struct {
	code    uint64
	payload []byte
}

// demo is the state shared by all demo sessions.
type demo struct {
	h *harness

	mu        sync.Mutex
	seen      map[[32]byte]bool
	seenOrder [][32]byte
	recent    [][]byte
	peers     map[string]chan demoOut
	seq       uint64
}

func newDemo(h *harness) *demo {
	return &demo{h: h, seen: make(map[[32]byte]bool), peers: make(map[string]chan demoOut)}
}

func (d *demo) protocol(networkID uint64, name string) p2p.Protocol {
	return p2p.Protocol{
		Name:    demoName,
		Version: demoVersion,
		Length:  demoLength,
		Run: func(p *p2p.Peer, rw p2p.MsgReadWriter) error {
			return d.session(p, rw, networkID, name)
		},
	}
}

func (d *demo) session(p *p2p.Peer, rw p2p.MsgReadWriter, networkID uint64, name string) error {
	id := pubkeyHex(p.Node().Pubkey())
	if err := d.handshake(rw, networkID, name); err != nil {
		d.h.out.emit(map[string]any{"event": "demo_failed", "id": id, "error": err.Error()})
		return err
	}
	queue := make(chan demoOut, demoPeerQueue)
	d.mu.Lock()
	d.peers[id] = queue
	for _, g := range d.recent {
		queue <- demoOut{demoGossipMsg, g}
	}
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		delete(d.peers, id)
		d.mu.Unlock()
	}()
	d.h.out.emit(map[string]any{"event": "demo_peer", "id": id})

	writeErr := make(chan error, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case m := <-queue:
				if err := p2p.Send(rw, m.code, rlp.RawValue(m.payload)); err != nil {
					writeErr <- err
					return
				}
			case <-stop:
				return
			}
		}
	}()
	for {
		msg, err := rw.ReadMsg()
		if err != nil {
			return err
		}
		var payload rlp.RawValue
		if err := msg.Decode(&payload); err != nil {
			return err
		}
		switch msg.Code {
		case demoGossipMsg:
			if err := d.receive(id, payload); err != nil {
				return err
			}
		case demoPingMsg:
			d.enqueue(id, demoOut{demoPongMsg, payload})
		case demoPongMsg:
		default:
			return fmt.Errorf("unexpected demo message %d", msg.Code)
		}
		select {
		case err := <-writeErr:
			return err
		default:
		}
	}
}

func (d *demo) handshake(rw p2p.MsgReadWriter, networkID uint64, name string) error {
	sent := make(chan error, 1)
	go func() {
		sent <- p2p.Send(rw, demoStatusMsg, &demoStatus{Version: demoVersion, NetworkID: networkID, Name: []byte(name)})
	}()
	type result struct {
		status demoStatus
		err    error
	}
	got := make(chan result, 1)
	go func() {
		msg, err := rw.ReadMsg()
		if err != nil {
			got <- result{err: err}
			return
		}
		var s demoStatus
		if msg.Code != demoStatusMsg {
			err = fmt.Errorf("first message has code %d, want Status", msg.Code)
		} else {
			err = msg.Decode(&s)
		}
		got <- result{s, err}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			return r.err
		}
		if r.status.Version != demoVersion || r.status.NetworkID != networkID {
			return p2p.DiscUselessPeer
		}
	case <-time.After(demoStatusTimeout):
		return p2p.DiscReadTimeout
	}
	return <-sent
}

// receive delivers and relays a gossip message seen for the first time.
func (d *demo) receive(from string, payload []byte) error {
	var g demoGossip
	if err := rlp.DecodeBytes(payload, &g); err != nil {
		return err
	}
	if !d.remember(payload) {
		return nil
	}
	d.h.out.emit(map[string]any{
		"event": "demo_delivered", "from": from,
		"origin": hex.EncodeToString(g.Origin), "seq": g.Seq, "text": string(g.Text),
	})
	d.mu.Lock()
	for id, q := range d.peers {
		if id != from {
			select {
			case q <- demoOut{demoGossipMsg, payload}:
			default: // slow peer: drop, as the Rust side does
			}
		}
	}
	d.mu.Unlock()
	return nil
}

// remember records a gossip encoding; false when it was seen before.
func (d *demo) remember(payload []byte) bool {
	h := crypto.Keccak256Hash(payload)
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seen[h] {
		return false
	}
	d.seen[h] = true
	d.seenOrder = append(d.seenOrder, h)
	if len(d.seenOrder) > demoSeenCapacity {
		delete(d.seen, d.seenOrder[0])
		d.seenOrder = d.seenOrder[1:]
	}
	d.recent = append(d.recent, payload)
	if len(d.recent) > demoRecent {
		d.recent = d.recent[1:]
	}
	return true
}

func (d *demo) enqueue(id string, m demoOut) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if q := d.peers[id]; q != nil {
		select {
		case q <- m:
		default:
		}
	}
}

// broadcast originates a gossip message and sends it to every demo peer.
func (d *demo) broadcast(text string) (map[string]any, error) {
	d.mu.Lock()
	d.seq++
	seq := d.seq
	d.mu.Unlock()
	payload, err := rlp.EncodeToBytes(&demoGossip{
		Origin: crypto.FromECDSAPub(&d.h.key.PublicKey)[1:], Seq: seq, Text: []byte(text),
	})
	if err != nil {
		return nil, err
	}
	d.remember(payload)
	d.mu.Lock()
	n := 0
	for _, q := range d.peers {
		select {
		case q <- demoOut{demoGossipMsg, payload}:
			n++
		default:
		}
	}
	d.mu.Unlock()
	return map[string]any{"event": "demo_sent", "seq": seq, "peers": n}, nil
}
