// Command harness runs go-ethereum's p2p.Server as an independent peer for
// the Rust interop tests (tests/interop_geth). It prints its enode URL as the
// first stdout line, then JSON lines (events); it reads JSON-line commands on
// stdin. Closing stdin or {"cmd":"exit"} stops the server and exits 0.
//
// Everything binds 127.0.0.1 and NetRestrict is 127.0.0.0/8: addresses
// learned from the network outside loopback are never contacted. See
// tests/geth/README.md for the flags, events and commands.
package main

import (
	"bufio"
	"crypto/ecdsa"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/log"
	"github.com/ethereum/go-ethereum/p2p"
	"github.com/ethereum/go-ethereum/p2p/enode"
	"github.com/ethereum/go-ethereum/p2p/netutil"
)

// maxCommandLine is the longest stdin command accepted, in bytes. Commands
// carry at most a few enode URLs or a short hex payload; large payloads are
// generated from (size, seed) instead.
const maxCommandLine = 1 << 20

// loopbackOnly is the NetRestrict of every harness node: tests stay on this
// machine.
const loopbackOnly = "127.0.0.0/8"

// listFlag collects a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var (
		keyHex      = flag.String("key", "", "secp256k1 private key, 64 hex characters (required)")
		port        = flag.Int("port", 0, "TCP and UDP port on 127.0.0.1 (0: the OS picks)")
		name        = flag.String("name", "geth-harness", "client id in Hello")
		maxPeers    = flag.Int("maxpeers", 50, "p2p.Config.MaxPeers")
		noDiscovery = flag.Bool("nodiscover", false, "no discv4/discv5")
		noV5        = flag.Bool("no-v5", false, "discv4 only")
		noDial      = flag.Bool("nodial", false, "p2p.Config.NoDial")
		demoNet     = flag.Uint64("demo", 0, "run demo/1 with this network id (0: off)")
		verbosity   = flag.Int("verbosity", 0, "go-ethereum log level on stderr (0 off … 5 trace)")
		protos      listFlag
		bootnodes   listFlag
		bootnodesV5 listFlag
		static      listFlag
		trusted     listFlag
	)
	flag.Var(&protos, "proto", "test protocol name/version/length (repeatable)")
	flag.Var(&bootnodes, "bootnode", "discv4 bootstrap node, enode URL (repeatable)")
	flag.Var(&bootnodesV5, "bootnodev5", "discv5 bootstrap node, ENR (repeatable)")
	flag.Var(&static, "static", "static node, enode URL (repeatable)")
	flag.Var(&trusted, "trusted", "trusted node, enode URL (repeatable)")
	flag.Parse()

	if *verbosity > 0 {
		log.SetDefault(log.NewLogger(log.NewTerminalHandlerWithLevel(os.Stderr, log.FromLegacyLevel(*verbosity), false)))
	}
	key, err := parseKey(*keyHex)
	if err != nil {
		fatal(2, "--key: %v", err)
	}
	restrict, err := netutil.ParseNetlist(loopbackOnly)
	if err != nil {
		fatal(1, "netlist: %v", err)
	}
	out := newEmitter(os.Stdout)
	h := newHarness(out, key)

	cfg := p2p.Config{
		PrivateKey:  key,
		MaxPeers:    *maxPeers,
		Name:        *name,
		ListenAddr:  fmt.Sprintf("127.0.0.1:%d", *port),
		NoDiscovery: *noDiscovery,
		DiscoveryV4: !*noDiscovery,
		DiscoveryV5: !*noDiscovery && !*noV5,
		NetRestrict: restrict,
		NoDial:      *noDial,
	}
	for _, spec := range protos {
		p, err := h.testProtocol(spec)
		if err != nil {
			fatal(2, "--proto: %v", err)
		}
		cfg.Protocols = append(cfg.Protocols, p)
	}
	if *demoNet != 0 {
		cfg.Protocols = append(cfg.Protocols, h.demo.protocol(*demoNet, *name))
	}
	if cfg.BootstrapNodes, err = parseNodes(bootnodes, "--bootnode"); err != nil {
		fatal(2, "%v", err)
	}
	if cfg.BootstrapNodesV5, err = parseNodes(bootnodesV5, "--bootnodev5"); err != nil {
		fatal(2, "%v", err)
	}
	if cfg.StaticNodes, err = parseNodes(static, "--static"); err != nil {
		fatal(2, "%v", err)
	}
	if cfg.TrustedNodes, err = parseNodes(trusted, "--trusted"); err != nil {
		fatal(2, "%v", err)
	}

	srv := &p2p.Server{Config: cfg}
	h.srv = srv
	events := make(chan *p2p.PeerEvent, 256)
	sub := srv.SubscribeEvents(events)
	if err := srv.Start(); err != nil {
		fatal(1, "start: %v", err)
	}
	// The first stdout line is the enode URL, alone.
	fmt.Fprintln(os.Stdout, srv.Self().URLv4())
	h.out.emit(map[string]any{
		"event": "ready",
		"id":    pubkeyHex(&key.PublicKey),
		"enr":   srv.Self().String(),
		"tcp":   srv.Self().TCP(),
		"udp":   srv.Self().UDP(),
	})

	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case ev := <-events:
				h.peerEvent(ev)
			case <-sub.Err():
				return
			}
		}
	}()

	h.readCommands(os.Stdin)
	srv.Stop()
	sub.Unsubscribe()
	<-done
	h.out.emit(map[string]any{"event": "stopped"})
}

func fatal(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "harness: "+format+"\n", args...)
	os.Exit(code)
}

func parseKey(s string) (*ecdsa.PrivateKey, error) {
	if s == "" {
		return nil, fmt.Errorf("missing")
	}
	return crypto.HexToECDSA(strings.TrimPrefix(s, "0x"))
}

func parseNodes(urls []string, what string) ([]*enode.Node, error) {
	var nodes []*enode.Node
	for _, u := range urls {
		for _, part := range strings.Split(u, ",") {
			if part == "" {
				continue
			}
			n, err := parseLoopbackNode(part)
			if err != nil {
				return nil, fmt.Errorf("%s %q: %v", what, part, err)
			}
			nodes = append(nodes, n)
		}
	}
	return nodes, nil
}

// parseLoopbackNode parses an enode URL or ENR and refuses any address
// outside loopback.
func parseLoopbackNode(s string) (*enode.Node, error) {
	n, err := enode.Parse(enode.ValidSchemes, s)
	if err != nil {
		return nil, err
	}
	if ip := n.IP(); ip != nil && !ip.IsLoopback() {
		return nil, fmt.Errorf("address %v is not loopback", ip)
	}
	return n, nil
}

func pubkeyHex(pub *ecdsa.PublicKey) string {
	return hex.EncodeToString(crypto.FromECDSAPub(pub)[1:])
}

// emitter writes one JSON object per line to stdout, from any goroutine.
type emitter struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func newEmitter(f *os.File) *emitter { return &emitter{enc: json.NewEncoder(f)} }

func (e *emitter) emit(v map[string]any) {
	e.mu.Lock()
	defer e.mu.Unlock()
	_ = e.enc.Encode(v)
}

func (e *emitter) errorf(format string, args ...any) {
	e.emit(map[string]any{"event": "error", "message": fmt.Sprintf(format, args...)})
}

// harness holds the server and the sessions of the test protocols.
type harness struct {
	out  *emitter
	key  *ecdsa.PrivateKey
	srv  *p2p.Server
	demo *demo

	mu       sync.Mutex
	sessions map[sessionKey]*session
}

type sessionKey struct {
	peer  string // 128 hex public key
	proto string // name
}

type session struct {
	peer    *p2p.Peer
	rw      p2p.MsgReadWriter
	version uint
	length  uint64
}

func newHarness(out *emitter, key *ecdsa.PrivateKey) *harness {
	h := &harness{out: out, key: key, sessions: make(map[sessionKey]*session)}
	h.demo = newDemo(h)
	return h
}

// peerEvent reports go-ethereum's PeerEvents; a drop carries the disconnect
// reason's code when the error is one.
func (h *harness) peerEvent(ev *p2p.PeerEvent) {
	e := map[string]any{"peer_id": ev.Peer.String(), "local": ev.LocalAddress, "remote": ev.RemoteAddress}
	switch ev.Type {
	case p2p.PeerEventTypeAdd:
		e["event"] = "peer_added"
		if p := h.peerByID(ev.Peer); p != nil {
			e["id"] = pubkeyHex(p.Node().Pubkey())
			e["name"] = p.Fullname()
			caps := []string{}
			for _, c := range p.Caps() {
				caps = append(caps, c.String())
			}
			e["caps"] = caps
			e["inbound"] = p.Inbound()
		}
	case p2p.PeerEventTypeDrop:
		e["event"] = "peer_dropped"
		e["error"] = ev.Error
		if code, ok := discReasonCode(ev.Error); ok {
			e["reason"] = code
		}
	default:
		return
	}
	h.out.emit(e)
}

func (h *harness) peerByID(id enode.ID) *p2p.Peer {
	for _, p := range h.srv.Peers() {
		if p.ID() == id {
			return p
		}
	}
	return nil
}

// peerByPubkey finds a connected peer by its 128-hex public key.
func (h *harness) peerByPubkey(id string) *p2p.Peer {
	for _, p := range h.srv.Peers() {
		if pubkeyHex(p.Node().Pubkey()) == id {
			return p
		}
	}
	return nil
}

// discReasonCode maps go-ethereum's text of a disconnect reason back to its code.
func discReasonCode(text string) (int, bool) {
	for code := 0; code <= int(p2p.DiscSubprotocolError); code++ {
		r := p2p.DiscReason(code)
		if s := r.String(); !strings.HasPrefix(s, "unknown") && s == text {
			return code, true
		}
	}
	return 0, false
}

func isLoopback(addr string) bool {
	ip := net.ParseIP(addr)
	return ip != nil && ip.IsLoopback()
}

// readCommands runs stdin's commands until EOF or exit.
func (h *harness) readCommands(f *os.File) {
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), maxCommandLine)
	for sc.Scan() {
		var cmd command
		if err := json.Unmarshal(sc.Bytes(), &cmd); err != nil {
			h.out.errorf("bad command %q: %v", sc.Text(), err)
			continue
		}
		if cmd.Cmd == "exit" {
			return
		}
		// Commands that wait (sends, lookups) run on their own goroutine so
		// that stdin keeps being read; their results are events.
		go h.run(cmd)
	}
	if err := sc.Err(); err != nil {
		h.out.errorf("stdin: %v", err)
	}
}

// waitTimeout bounds every command that waits on the network.
const waitTimeout = 20 * time.Second
