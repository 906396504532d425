// SPDX-License-Identifier: Apache-2.0

// Command kubelet-go is a fake kubelet built on grpc-go, the gRPC library the real kubelet
// uses. It checks that a device plugin talks to grpc-go the way the kubelet's device manager
// (pkg/kubelet/cm/devicemanager) expects.
//
// It serves Registration.Register on DIR/kubelet.sock. Inside Register it dials the plugin
// back (WithBlock, 10 s timeout, authority "localhost"), calls GetDevicePluginOptions and
// only then answers, as the kubelet does; it opens ListAndWatch (no deadline) and runs the
// scenario: the device list, Allocate (1, 2+1 containers, all devices), GetPreferredAllocation,
// PreStartContainer (30 s deadline), bad requests, 100 sequential and 16 concurrent
// Allocates, a second ListAndWatch cancelled by the client, -restarts kubelet restarts
// (server stopped, plugin connection closed, sockets deleted, kubelet.sock re-created: the
// plugin must register again) and, with -wait-stop, how ListAndWatch ends when the plugin is
// stopped from outside. One line per check is printed ("ok ..." or "FAIL ...", plus "info"
// lines); the exit status is 0 only when every check passed.
//
// No generated code: messages are plain bytes on the wire (a pass-through codec) and the
// few message types used are encoded and decoded by hand with protowire, with the field
// numbers of proto/deviceplugin_v1beta1.proto.
//
// Build (Debian's golang-go, golang-google-grpc-dev, golang-google-protobuf-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o kubelet-go ./tests/conformance/kubelet-go
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protowire"
)

const (
	apiVersion      = "v1beta1"
	registerPath    = "/v1beta1.Registration/Register"
	pluginService   = "/v1beta1.DevicePlugin/"
	healthy         = "Healthy"
	dialTimeout     = 10 * time.Second // the kubelet's dial timeout for a plugin socket
	preStartTimeout = 30 * time.Second // KubeletPreStartContainerRPCTimeoutInSecs
	visibleDevices  = "NVIDIA_VISIBLE_DEVICES"
)

// ---------------------------------------------------------------------------------------
// Pass-through codec: requests and responses are []byte holding protobuf wire bytes.

type rawCodec struct{}

func (rawCodec) Marshal(v interface{}) ([]byte, error) {
	switch m := v.(type) {
	case []byte:
		return m, nil
	case *[]byte:
		return *m, nil
	}
	return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
}

func (rawCodec) Unmarshal(data []byte, v interface{}) error {
	p, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	*p = append([]byte(nil), data...)
	return nil
}

func (rawCodec) Name() string   { return "proto" } // encoding.Codec
func (rawCodec) String() string { return "proto" } // grpc.Codec (server side, 1.33)

var codec rawCodec

// scale stretches the scenario's waits (for a plugin under valgrind).
var scale time.Duration = 1

// ---------------------------------------------------------------------------------------
// Hand-written protobuf encoding of the messages used.

func appendString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func appendMessage(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

func appendVarint(b []byte, num protowire.Number, v uint64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, v)
}

// AllocateRequest{container_requests(1): ContainerAllocateRequest{devices_ids(1)}}
func encodeAllocateRequest(containers ...[]string) []byte {
	var b []byte
	for _, ids := range containers {
		var c []byte
		for _, id := range ids {
			c = appendString(c, 1, id)
		}
		b = appendMessage(b, 1, c)
	}
	return b
}

// PreferredAllocationRequest{container_requests(1): {available(1), must_include(2), size(3)}}
func encodePreferredRequest(available, mustInclude []string, size int32) []byte {
	var c []byte
	for _, id := range available {
		c = appendString(c, 1, id)
	}
	for _, id := range mustInclude {
		c = appendString(c, 2, id)
	}
	c = appendVarint(c, 3, uint64(size))
	return appendMessage(nil, 1, c)
}

// PreStartContainerRequest{devices_ids(1)}
func encodePreStartRequest(ids []string) []byte {
	var b []byte
	for _, id := range ids {
		b = appendString(b, 1, id)
	}
	return b
}

// walk calls fn for each field of a message; fn gets the field's number, wire type and, for
// length-delimited fields, its bytes, for varints its value. Malformed input is an error.
func walk(b []byte, fn func(num protowire.Number, typ protowire.Type, v []byte, x uint64) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		var x uint64
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			x, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, typ, v, x); err != nil {
			return err
		}
	}
	return nil
}

func wantType(num protowire.Number, got, want protowire.Type) error {
	if got != want {
		return fmt.Errorf("field %d has wire type %d, want %d", num, got, want)
	}
	return nil
}

type options struct {
	preStartRequired   bool
	preferredAvailable bool
}

// DevicePluginOptions{pre_start_required(1) bool, get_preferred_allocation_available(2) bool}
func decodeOptions(b []byte) (o options, err error) {
	err = walk(b, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
		switch num {
		case 1, 2:
			if err := wantType(num, typ, protowire.VarintType); err != nil {
				return err
			}
			if num == 1 {
				o.preStartRequired = x != 0
			} else {
				o.preferredAvailable = x != 0
			}
		}
		return nil
	})
	return
}

type registerRequest struct {
	version, endpoint, resourceName string
	options                         *options
}

// RegisterRequest{version(1), endpoint(2), resource_name(3), options(4)}
func decodeRegisterRequest(b []byte) (r registerRequest, err error) {
	err = walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num < 1 || num > 4 {
			return nil
		}
		if err := wantType(num, typ, protowire.BytesType); err != nil {
			return err
		}
		switch num {
		case 1:
			r.version = string(v)
		case 2:
			r.endpoint = string(v)
		case 3:
			r.resourceName = string(v)
		case 4:
			o, err := decodeOptions(v)
			if err != nil {
				return err
			}
			r.options = &o
		}
		return nil
	})
	return
}

type device struct {
	id, health string
	numa       []int64
}

// ListAndWatchResponse{devices(1): Device{ID(1), health(2), topology(3): {nodes(1): {ID(1)}}}}
func decodeListAndWatch(b []byte) (devs []device, err error) {
	err = walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 1 {
			return nil
		}
		if err := wantType(num, typ, protowire.BytesType); err != nil {
			return err
		}
		var d device
		err := walk(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
			if num < 1 || num > 3 {
				return nil
			}
			if err := wantType(num, typ, protowire.BytesType); err != nil {
				return err
			}
			switch num {
			case 1:
				d.id = string(v)
			case 2:
				d.health = string(v)
			case 3:
				return walk(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
					if num != 1 {
						return nil
					}
					if err := wantType(num, typ, protowire.BytesType); err != nil {
						return err
					}
					var id int64
					err := walk(v, func(num protowire.Number, typ protowire.Type, _ []byte, x uint64) error {
						if num == 1 {
							if err := wantType(num, typ, protowire.VarintType); err != nil {
								return err
							}
							id = int64(x)
						}
						return nil
					})
					d.numa = append(d.numa, id)
					return err
				})
			}
			return nil
		})
		devs = append(devs, d)
		return err
	})
	return
}

type containerResponse struct {
	envs, annotations map[string]string
	mounts, devices   int
	cdiDevices        []string
}

func decodeMapEntry(b []byte) (k, v string, err error) {
	err = walk(b, func(num protowire.Number, typ protowire.Type, val []byte, _ uint64) error {
		if num != 1 && num != 2 {
			return nil
		}
		if err := wantType(num, typ, protowire.BytesType); err != nil {
			return err
		}
		if num == 1 {
			k = string(val)
		} else {
			v = string(val)
		}
		return nil
	})
	return
}

// AllocateResponse{container_responses(1): {envs(1) map, mounts(2), devices(3),
// annotations(4) map, cdi_devices(5): {name(1)}}}
func decodeAllocateResponse(b []byte) (out []containerResponse, err error) {
	err = walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 1 {
			return nil
		}
		if err := wantType(num, typ, protowire.BytesType); err != nil {
			return err
		}
		c := containerResponse{envs: map[string]string{}, annotations: map[string]string{}}
		err := walk(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
			if num < 1 || num > 5 {
				return nil
			}
			if err := wantType(num, typ, protowire.BytesType); err != nil {
				return err
			}
			switch num {
			case 1, 4:
				k, val, err := decodeMapEntry(v)
				if err != nil {
					return err
				}
				if num == 1 {
					c.envs[k] = val
				} else {
					c.annotations[k] = val
				}
			case 2:
				c.mounts++
			case 3:
				c.devices++
			case 5:
				return walk(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
					if num == 1 {
						c.cdiDevices = append(c.cdiDevices, string(v))
					}
					return nil
				})
			}
			return nil
		})
		out = append(out, c)
		return err
	})
	return
}

// PreferredAllocationResponse{container_responses(1): {deviceIDs(1)}}
func decodePreferredResponse(b []byte) (out [][]string, err error) {
	err = walk(b, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
		if num != 1 {
			return nil
		}
		if err := wantType(num, typ, protowire.BytesType); err != nil {
			return err
		}
		var ids []string
		err := walk(v, func(num protowire.Number, typ protowire.Type, v []byte, _ uint64) error {
			if num == 1 {
				if err := wantType(num, typ, protowire.BytesType); err != nil {
					return err
				}
				ids = append(ids, string(v))
			}
			return nil
		})
		out = append(out, ids)
		return err
	})
	return
}

// ---------------------------------------------------------------------------------------
// Results.

var (
	failures int32
	outMu    sync.Mutex
)

func report(ok bool, format string, args ...interface{}) bool {
	outMu.Lock()
	defer outMu.Unlock()
	word := "ok"
	if !ok {
		word = "FAIL"
		atomic.AddInt32(&failures, 1)
	}
	fmt.Printf("%s %s\n", word, fmt.Sprintf(format, args...))
	return ok
}

func info(format string, args ...interface{}) {
	outMu.Lock()
	defer outMu.Unlock()
	fmt.Printf("info %s\n", fmt.Sprintf(format, args...))
}

func describe(err error) string {
	if s, ok := status.FromError(err); ok {
		return fmt.Sprintf("status %s (%d) %q", s.Code(), int(s.Code()), s.Message())
	}
	return err.Error()
}

// ---------------------------------------------------------------------------------------
// The plugin side: one connection per registration, as the kubelet keeps.

type plugin struct {
	reg     registerRequest
	gen     int32 // the kubelet start it registered with
	conn    *grpc.ClientConn
	options options

	mu         sync.Mutex
	lists      [][]device // every ListAndWatch message received, in order
	listErr    error      // why the stream ended, once it has
	listCancel context.CancelFunc
	listDone   chan struct{}
	closing    int32 // set before the kubelet itself closes the stream
	firstList  chan struct{}
}

func dialPlugin(path string, keepaliveTime time.Duration) (*grpc.ClientConn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), dialTimeout)
	defer cancel()
	opts := []grpc.DialOption{
		grpc.WithAuthority("localhost"),
		grpc.WithInsecure(),
		grpc.WithBlock(),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", addr)
		}),
	}
	// The kubelet sets no keepalive on its plugin connections (grpc-go default: none).
	// -keepalive adds client pings to exercise the plugin's PING handling; grpc-go itself
	// refuses intervals under 10 s.
	if keepaliveTime > 0 {
		opts = append(opts, grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time: keepaliveTime, Timeout: 5 * time.Second, PermitWithoutStream: true,
		}))
	}
	return grpc.DialContext(ctx, path, opts...)
}

func (p *plugin) call(ctx context.Context, method string, req []byte) ([]byte, error) {
	var resp []byte
	err := p.conn.Invoke(ctx, pluginService+method, req, &resp, grpc.ForceCodec(codec))
	return resp, err
}

// listAndWatch runs like the kubelet's client.Run: no deadline, Recv until the stream ends.
func (p *plugin) listAndWatch() {
	defer close(p.listDone)
	ctx, cancel := context.WithCancel(context.TODO())
	p.mu.Lock()
	p.listCancel = cancel
	p.mu.Unlock()
	desc := &grpc.StreamDesc{StreamName: "ListAndWatch", ServerStreams: true}
	fail := func(err error) {
		p.mu.Lock()
		p.listErr = err
		p.mu.Unlock()
	}
	stream, err := p.conn.NewStream(ctx, desc, pluginService+"ListAndWatch", grpc.ForceCodec(codec))
	if err != nil {
		fail(err)
		return
	}
	if err := stream.SendMsg([]byte{}); err != nil {
		fail(err)
		return
	}
	if err := stream.CloseSend(); err != nil {
		fail(err)
		return
	}
	first := true
	for {
		var msg []byte
		if err := stream.RecvMsg(&msg); err != nil {
			fail(err)
			return
		}
		devs, err := decodeListAndWatch(msg)
		if err != nil {
			fail(fmt.Errorf("undecodable ListAndWatchResponse: %v", err))
			cancel()
			return
		}
		p.mu.Lock()
		p.lists = append(p.lists, devs)
		p.mu.Unlock()
		if first {
			close(p.firstList)
			first = false
		}
	}
}

// streamAlive reports whether ListAndWatch is still open; an end the kubelet did not ask for
// is a disconnection of the plugin.
func (p *plugin) streamAlive() (bool, error) {
	select {
	case <-p.listDone:
		p.mu.Lock()
		defer p.mu.Unlock()
		return false, p.listErr
	default:
		return true, nil
	}
}

// close is what the kubelet's death looks like to the plugin: the connection goes away.
func (p *plugin) close() {
	atomic.StoreInt32(&p.closing, 1)
	p.mu.Lock()
	cancel := p.listCancel
	p.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	p.conn.Close()
	<-p.listDone
}

// ---------------------------------------------------------------------------------------
// The kubelet side: the registration server.

type kubelet struct {
	dir, wantResource, wantEndpoint string
	keepalive                       time.Duration
	server                          *grpc.Server
	registrations                   chan *plugin
	registerCount                   int32
	gen                             int32 // one per kubelet start: registrations are per kubelet
}

func (k *kubelet) register(ctx context.Context, gen int32, raw []byte) error {
	n := atomic.AddInt32(&k.registerCount, 1)
	start := time.Now()
	r, err := decodeRegisterRequest(raw)
	if !report(err == nil, "Register #%d: request decodes", n) {
		return status.Errorf(codes.InvalidArgument, "undecodable RegisterRequest: %v", err)
	}
	ok := report(r.version == apiVersion, "Register #%d: version %q", n, r.version)
	ok = report(r.resourceName == k.wantResource, "Register #%d: resource name %q (want %q)", n,
		r.resourceName, k.wantResource) && ok
	ok = report(r.endpoint == k.wantEndpoint && !strings.Contains(r.endpoint, "/"),
		"Register #%d: endpoint %q (want %q, relative to the plugins directory)", n,
		r.endpoint, k.wantEndpoint) && ok
	if !ok {
		// The kubelet answers an error; the plugin is expected to retry.
		return status.Errorf(codes.InvalidArgument, "bad registration %+v", r)
	}
	if _, ok := ctx.Deadline(); ok {
		info("Register #%d carried a deadline (grpc-timeout)", n)
	}

	// Dial back while the plugin's Register call is still in flight.
	conn, err := dialPlugin(filepath.Join(k.dir, r.endpoint), k.keepalive)
	if !report(err == nil, "Register #%d: dial back %s within %v (%v)", n, r.endpoint,
		dialTimeout, time.Since(start).Round(time.Millisecond)) {
		return status.Errorf(codes.Unavailable, "dial %s: %v", r.endpoint, err)
	}
	p := &plugin{reg: r, conn: conn, gen: gen, listDone: make(chan struct{}),
		firstList: make(chan struct{})}
	raw, err = p.call(context.Background(), "GetDevicePluginOptions", []byte{})
	if err == nil {
		p.options, err = decodeOptions(raw)
	}
	if !report(err == nil, "Register #%d: GetDevicePluginOptions before answering Register "+
		"(%v since Register arrived)", n, time.Since(start).Round(time.Millisecond)) {
		info("GetDevicePluginOptions: %s", describe(err))
		conn.Close()
		return status.Errorf(codes.Unavailable, "GetDevicePluginOptions: %v", err)
	}
	if r.options != nil {
		report(*r.options == p.options, "Register #%d: options in RegisterRequest %+v match "+
			"GetDevicePluginOptions %+v", n, *r.options, p.options)
	} else {
		report(false, "Register #%d: RegisterRequest carries options", n)
	}
	report(time.Since(start) < 2*time.Second*scale, "Register #%d: handled in %v (no dial-back "+
		"deadlock)", n, time.Since(start).Round(time.Millisecond))
	// The kubelet starts its ListAndWatch goroutine as the plugin connects; it may race the
	// Register answer.
	go p.listAndWatch()
	k.registrations <- p
	return nil
}

func (k *kubelet) start() error {
	sock := filepath.Join(k.dir, "kubelet.sock")
	_ = os.Remove(sock)
	gen := atomic.AddInt32(&k.gen, 1)
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	// The kubelet's registration server is a default grpc.NewServer(); its keepalive
	// enforcement (5 min, no pings without streams) is spelled out here so that a plugin
	// that pings its registration connection too often gets GOAWAY "too_many_pings".
	k.server = grpc.NewServer(
		grpc.CustomCodec(codec),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime: 5 * time.Minute, PermitWithoutStream: false,
		}),
	)
	k.server.RegisterService(&grpc.ServiceDesc{
		ServiceName: "v1beta1.Registration",
		HandlerType: (*interface{})(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Register",
			Handler: func(_ interface{}, ctx context.Context, dec func(interface{}) error,
				_ grpc.UnaryServerInterceptor) (interface{}, error) {
				var raw []byte
				if err := dec(&raw); err != nil {
					return nil, err
				}
				if err := k.register(ctx, gen, raw); err != nil {
					return nil, err
				}
				return []byte{}, nil // Empty
			},
		}},
		Metadata: "deviceplugin_v1beta1.proto",
	}, struct{}{})
	go k.server.Serve(l)
	return nil
}

// stop is the kubelet going away: its server stops and, on start, the new kubelet deletes
// every socket in the device-plugins directory.
func (k *kubelet) stop() {
	k.server.Stop()
	entries, _ := os.ReadDir(k.dir)
	for _, e := range entries {
		if e.Type()&os.ModeSocket != 0 {
			_ = os.Remove(filepath.Join(k.dir, e.Name()))
		}
	}
}

func (k *kubelet) waitRegistration(what string, timeout time.Duration) *plugin {
	expire := time.After(timeout)
	for {
		select {
		case p := <-k.registrations:
			if p.gen == atomic.LoadInt32(&k.gen) {
				return p
			}
			p.close() // it registered with a kubelet that has gone since
		case <-expire:
			report(false, "%s: no registration within %v", what, timeout)
			return nil
		}
	}
}

// ---------------------------------------------------------------------------------------
// The scenario.

func waitFirstList(p *plugin, timeout time.Duration) ([]device, bool) {
	select {
	case <-p.firstList:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.lists[0], true
	case <-p.listDone:
		_, err := p.streamAlive()
		report(false, "ListAndWatch ended before its first message: %s", describe(err))
		return nil, false
	case <-time.After(timeout):
		report(false, "ListAndWatch: no message within %v", timeout)
		return nil, false
	}
}

func checkDevices(what string, devs []device, want int) []string {
	var ids []string
	allHealthy := true
	seen := map[string]bool{}
	unique := true
	for _, d := range devs {
		ids = append(ids, d.id)
		allHealthy = allHealthy && d.health == healthy
		unique = unique && !seen[d.id] && d.id != ""
		seen[d.id] = true
	}
	report(len(devs) == want, "%s: %d devices (want %d)", what, len(devs), want)
	report(allHealthy && len(devs) > 0, "%s: every device %q", what, healthy)
	report(unique, "%s: device IDs unique and non-empty", what)
	return ids
}

func allocate(ctx context.Context, p *plugin, containers ...[]string) ([]containerResponse, error) {
	raw, err := p.call(ctx, "Allocate", encodeAllocateRequest(containers...))
	if err != nil {
		return nil, err
	}
	return decodeAllocateResponse(raw)
}

func checkAllocate(p *plugin, ids []string) {
	// One device.
	resp, err := allocate(context.Background(), p, ids[:1])
	if report(err == nil && len(resp) == 1, "Allocate 1 device: one container response (%v)", errText(err)) {
		report(resp[0].envs[visibleDevices] == ids[0], "Allocate 1 device: %s=%q (want %q)",
			visibleDevices, resp[0].envs[visibleDevices], ids[0])
	}
	// Two devices in one container, and a second container, as one request.
	if len(ids) >= 3 {
		resp, err = allocate(context.Background(), p, ids[1:3], ids[len(ids)-1:])
		if report(err == nil && len(resp) == 2, "Allocate 2+1 devices in 2 containers: two "+
			"container responses (%v)", errText(err)) {
			want0 := ids[1] + "," + ids[2]
			report(resp[0].envs[visibleDevices] == want0, "Allocate 2 devices: %s=%q (want %q)",
				visibleDevices, resp[0].envs[visibleDevices], want0)
			report(resp[1].envs[visibleDevices] == ids[len(ids)-1], "Allocate, second container: "+
				"%s=%q (want %q)", visibleDevices, resp[1].envs[visibleDevices], ids[len(ids)-1])
		}
	}
	// All devices.
	resp, err = allocate(context.Background(), p, ids)
	if report(err == nil && len(resp) == 1, "Allocate all %d devices (%v)", len(ids), errText(err)) {
		got := strings.Split(resp[0].envs[visibleDevices], ",")
		report(strings.Join(got, ",") == strings.Join(ids, ","), "Allocate all: %s lists every "+
			"device in order", visibleDevices)
	}
}

func errText(err error) string {
	if err == nil {
		return "OK"
	}
	return describe(err)
}

func checkUnknownDevice(p *plugin, ids []string) {
	bogus := "GPU-00000000-0000-0000-0000-000000000000"
	_, err := allocate(context.Background(), p, []string{bogus})
	code := status.Code(err)
	report(err != nil && (code == codes.InvalidArgument || code == codes.NotFound),
		"Allocate unknown device: error status INVALID_ARGUMENT or NOT_FOUND (got %s)", errText(err))
	if err != nil {
		report(strings.Contains(status.Convert(err).Message(), bogus),
			"Allocate unknown device: message names the device (%q)", status.Convert(err).Message())
	}
	_, err = allocate(context.Background(), p)
	report(err != nil && status.Code(err) == codes.InvalidArgument,
		"Allocate with no containers: INVALID_ARGUMENT (got %s)", errText(err))
	// Still serving on the same connection afterwards.
	_, err = allocate(context.Background(), p, ids[:1])
	report(err == nil, "Allocate after errors, same connection (%s)", errText(err))
	// An unknown method on the plugin's service.
	var resp []byte
	err = p.conn.Invoke(context.Background(), pluginService+"NoSuchMethod", []byte{}, &resp,
		grpc.ForceCodec(codec))
	report(status.Code(err) == codes.Unimplemented, "unknown method: UNIMPLEMENTED (got %s)", errText(err))
}

func checkPreferred(p *plugin, ids []string) {
	if !p.options.preferredAvailable {
		info("GetPreferredAllocation not offered by the plugin; skipped")
		return
	}
	if len(ids) < 4 {
		return
	}
	must := ids[len(ids)-2]
	raw, err := p.call(context.Background(), "GetPreferredAllocation",
		encodePreferredRequest(ids, []string{must}, 3))
	var resp [][]string
	if err == nil {
		resp, err = decodePreferredResponse(raw)
	}
	if !report(err == nil && len(resp) == 1, "GetPreferredAllocation: one container response (%s)", errText(err)) {
		return
	}
	got := resp[0]
	avail := map[string]bool{}
	for _, id := range ids {
		avail[id] = true
	}
	inAvail, hasMust, dup := true, false, false
	seen := map[string]bool{}
	for _, id := range got {
		inAvail = inAvail && avail[id]
		hasMust = hasMust || id == must
		dup = dup || seen[id]
		seen[id] = true
	}
	report(len(got) == 3 && inAvail && hasMust && !dup, "GetPreferredAllocation size 3: %v "+
		"(from available, includes %s, no duplicates)", got, must)
	// must_include not in available: an error status, not a crash or a hang.
	_, err = p.call(context.Background(), "GetPreferredAllocation",
		encodePreferredRequest(ids[:2], []string{ids[3]}, 2))
	report(err != nil && status.Code(err) != codes.Unavailable && status.Code(err) != codes.Internal,
		"GetPreferredAllocation with must_include outside available: error status (got %s)", errText(err))
}

func checkPreStart(p *plugin, ids []string) {
	ctx, cancel := context.WithTimeout(context.Background(), preStartTimeout)
	defer cancel()
	raw, err := p.call(ctx, "PreStartContainer", encodePreStartRequest(ids[:1]))
	report(err == nil && len(raw) == 0, "PreStartContainer with a %v deadline: empty "+
		"response (%s, %d bytes)", preStartTimeout, errText(err), len(raw))
}

func checkSequential(p *plugin, ids []string, n int) {
	start := time.Now()
	var firstErr error
	failed := 0
	for i := 0; i < n; i++ {
		id := ids[i%len(ids)]
		resp, err := allocate(context.Background(), p, []string{id})
		if err == nil && (len(resp) != 1 || resp[0].envs[visibleDevices] != id) {
			err = fmt.Errorf("wrong answer for %s: %+v", id, resp)
		}
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	report(failed == 0, "%d sequential Allocates: %d failed (%s), %v", n, failed, errText(firstErr),
		time.Since(start).Round(time.Millisecond))
}

func checkConcurrent(p *plugin, ids []string, n int) {
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, n)
	gate := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-gate
			want := []string{ids[i%len(ids)], ids[(i+1)%len(ids)]}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second*scale)
			defer cancel()
			resp, err := allocate(ctx, p, want)
			if err == nil && (len(resp) != 1 || resp[0].envs[visibleDevices] != strings.Join(want, ",")) {
				err = fmt.Errorf("call %d: wrong answer %+v", i, resp)
			}
			errs[i] = err
		}(i)
	}
	close(gate)
	wg.Wait()
	failed := 0
	var firstErr error
	for _, err := range errs {
		if err != nil {
			failed++
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	report(failed == 0, "%d concurrent Allocates on one connection: %d failed (%s), %v", n, failed,
		errText(firstErr), time.Since(start).Round(time.Millisecond))
}

// checkCancelledStream opens a second ListAndWatch on the same connection, reads its first
// message and cancels it (RST_STREAM CANCEL on the wire). The plugin must drop that stream
// only: the connection and the first stream stay usable.
func checkCancelledStream(p *plugin, ids []string) {
	ctx, cancel := context.WithCancel(context.Background())
	desc := &grpc.StreamDesc{StreamName: "ListAndWatch", ServerStreams: true}
	stream, err := p.conn.NewStream(ctx, desc, pluginService+"ListAndWatch", grpc.ForceCodec(codec))
	var msg []byte
	if err == nil {
		err = stream.SendMsg([]byte{})
	}
	if err == nil {
		err = stream.CloseSend()
	}
	if err == nil {
		err = stream.RecvMsg(&msg)
	}
	var devs []device
	if err == nil {
		devs, err = decodeListAndWatch(msg)
	}
	report(err == nil && len(devs) == len(ids), "second ListAndWatch on the same connection: "+
		"%d devices (%s)", len(devs), errText(err))
	cancel()
	err = stream.RecvMsg(&msg)
	report(status.Code(err) == codes.Canceled, "second ListAndWatch cancelled by the client "+
		"(%s)", errText(err))
	time.Sleep(50 * time.Millisecond) // let the RST_STREAM reach the plugin
	_, err = allocate(context.Background(), p, ids[:1])
	report(err == nil, "Allocate after a cancelled stream, same connection (%s)", errText(err))
	// A call whose deadline has already expired never reaches the plugin; one with a short
	// deadline must be answered or fail cleanly with DEADLINE_EXCEEDED.
	dctx, dcancel := context.WithTimeout(context.Background(), 2*time.Second*scale)
	_, err = allocate(dctx, p, ids[:1])
	dcancel()
	report(err == nil, "Allocate with a %v deadline (grpc-timeout header) (%s)", 2*time.Second*scale, errText(err))
}

// checkPluginStop waits for the plugin to be stopped from outside (SIGTERM): its ListAndWatch
// must end with a status sent by the plugin (trailers, UNAVAILABLE), not a broken transport.
func checkPluginStop(p *plugin, timeout time.Duration) {
	info("waiting for the plugin to stop")
	select {
	case <-p.listDone:
	case <-time.After(timeout):
		report(false, "plugin stop: ListAndWatch still open after %v", timeout)
		return
	}
	_, err := p.streamAlive()
	msg := status.Convert(err).Message()
	transport := strings.Contains(msg, "transport") || strings.Contains(msg, "EOF") ||
		strings.Contains(msg, "without sending trailers") || strings.Contains(msg, "connection")
	report(status.Code(err) == codes.Unavailable && !transport, "plugin stop: ListAndWatch "+
		"ended with the plugin's UNAVAILABLE status, not a transport error (%s)", errText(err))
}

func checkStreamAlive(p *plugin, when string) {
	alive, err := p.streamAlive()
	report(alive, "ListAndWatch still open %s (%s)", when, errText(err))
	report(p.conn.GetState() == connectivity.Ready, "plugin connection READY %s (%s)", when,
		p.conn.GetState())
}

func run(k *kubelet, devices int, restarts int, hold time.Duration, waitStop bool) {
	p := k.waitRegistration("first registration", 15*time.Second*scale)
	if p == nil {
		return
	}
	devs, ok := waitFirstList(p, 5*time.Second*scale)
	if !ok {
		return
	}
	ids := checkDevices("ListAndWatch", devs, devices)
	info("devices %s", strings.Join(ids, ","))
	var numa []string
	for _, d := range devs {
		numa = append(numa, fmt.Sprint(d.numa))
	}
	info("numa %s", strings.Join(numa, " "))
	if len(ids) == 0 {
		return
	}

	checkAllocate(p, ids)
	checkPreferred(p, ids)
	checkPreStart(p, ids)
	checkUnknownDevice(p, ids)
	checkSequential(p, ids, 100)
	checkConcurrent(p, ids, 16)
	checkCancelledStream(p, ids)
	if hold > 0 {
		// Idle on an open stream for a while (with -keepalive: pings must be answered).
		time.Sleep(hold)
		_, err := allocate(context.Background(), p, ids[:1])
		report(err == nil, "Allocate after %v idle (%s)", hold, errText(err))
	}
	checkStreamAlive(p, "after the calls")
	p.mu.Lock()
	extra := len(p.lists) - 1
	p.mu.Unlock()
	info("ListAndWatch messages after the first: %d", extra)

	for i := 1; i <= restarts; i++ {
		what := fmt.Sprintf("kubelet restart %d", i)
		start := time.Now()
		p.close()
		k.stop()
		if err := k.start(); !report(err == nil, "%s: kubelet.sock re-created (%v)", what, errText(err)) {
			return
		}
		p = k.waitRegistration(what, 10*time.Second*scale)
		if p == nil {
			return
		}
		report(true, "%s: plugin registered again after %v", what, time.Since(start).Round(time.Millisecond))
		_, err := os.Stat(filepath.Join(k.dir, p.reg.endpoint))
		report(err == nil, "%s: plugin socket %s re-created", what, p.reg.endpoint)
		devs, ok = waitFirstList(p, 5*time.Second*scale)
		if !ok {
			return
		}
		again := checkDevices(what+": ListAndWatch", devs, devices)
		report(strings.Join(again, ",") == strings.Join(ids, ","), "%s: same device IDs", what)
		_, err = allocate(context.Background(), p, ids[:2])
		report(err == nil, "%s: Allocate on the new connection (%s)", what, errText(err))
		checkStreamAlive(p, "after "+what)
	}
	if waitStop {
		checkPluginStop(p, 10*time.Second*scale)
	}
	p.close()
}

func main() {
	dir := flag.String("dir", "", "device-plugins directory (kubelet.sock is served there)")
	resource := flag.String("resource", "nvidia.com/gpu", "expected resource name")
	endpoint := flag.String("endpoint", "nvidia-gpu.sock", "expected endpoint")
	devices := flag.Int("devices", 8, "expected number of devices")
	restarts := flag.Int("restarts", 1, "kubelet restarts to simulate")
	ka := flag.Duration("keepalive", 0, "client keepalive time on plugin connections (0: none, like the kubelet; at least 10s)")
	hold := flag.Duration("hold", 0, "idle time with the stream open before the restarts")
	waitStop := flag.Bool("wait-stop", false, "at the end, wait for the plugin to be stopped (SIGTERM) and check how its stream ends")
	scaleFlag := flag.Int("scale", 1, "multiply the scenario's waits by this (slow plugins: valgrind)")
	timeout := flag.Duration("timeout", 60*time.Second, "give up after this long")
	flag.Parse()
	scale = time.Duration(*scaleFlag)
	if *dir == "" || *scaleFlag < 1 {
		fmt.Fprintln(os.Stderr, "usage: kubelet-go -dir DIR [flags]")
		os.Exit(2)
	}
	k := &kubelet{dir: *dir, wantResource: *resource, wantEndpoint: *endpoint, keepalive: *ka,
		registrations: make(chan *plugin, 16)}
	if err := k.start(); err != nil {
		fmt.Fprintf(os.Stderr, "kubelet-go: %v\n", err)
		os.Exit(2)
	}
	fmt.Printf("info serving %s (grpc-go %s)\n", filepath.Join(*dir, "kubelet.sock"), grpc.Version)

	done := make(chan struct{})
	go func() {
		run(k, *devices, *restarts, *hold, *waitStop)
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(*timeout):
		report(false, "scenario finished within %v", *timeout)
	}
	k.server.Stop()
	n := atomic.LoadInt32(&failures)
	total := atomic.LoadInt32(&k.registerCount)
	info("registrations received: %d", total)
	if n != 0 {
		fmt.Printf("FAILED %d check(s)\n", n)
		os.Exit(1)
	}
	fmt.Println("PASSED")
}
