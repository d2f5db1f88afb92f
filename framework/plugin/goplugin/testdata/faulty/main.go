// Command faulty is a go-plugin plugin for the host's tests: the
// parameter mode makes a call misbehave, and environment variables set
// before the start change what it is.
//
//	FAULTY_KIND=enricher     serve as an enricher (default: formatter)
//	FAULTY_PROTOCOL=N        handshake with protocol version N, bypassing the SDK
//
// Modes: ok (default: formatter echoes the batch, enricher returns it),
// error, panic, panic-goroutine (kills the process), exit, hang (ignores
// the context), garbage, big (16 MiB), whoami (returns the process's
// identity as JSON: uid, gid, groups, the Cap* and NoNewPrivs lines of
// /proc/self/status and its environment).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"strconv"
	"strings"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/gadgetkit/gadget/plugins/sdk/abi"
	"github.com/gadgetkit/gadget/plugins/sdk/goplugin"
	"github.com/gadgetkit/gadget/plugins/sdk/goplugin/pluginpb"
)

type faulty struct{}

func (faulty) Manifest() abi.Manifest {
	return abi.Manifest{Name: "faulty", MediaType: "text/plain", Description: "misbehaves on demand"}
}

func (faulty) Format(ctx context.Context, req abi.Request) ([]byte, string, error) {
	out, err := misbehave(req)
	return out, "", err
}

func (faulty) Enrich(ctx context.Context, req abi.Request) ([]byte, error) {
	return misbehave(req)
}

func misbehave(req abi.Request) ([]byte, error) {
	switch req.Parameters["mode"] {
	case "error":
		return nil, errors.New("asked to fail")
	case "panic":
		panic("asked to panic")
	case "panic-goroutine":
		done := make(chan struct{})
		go func() { panic("asked to panic in a goroutine") }()
		<-done
	case "exit":
		os.Exit(3)
	case "hang":
		select {}
	case "garbage":
		return []byte("{not json"), nil
	case "big":
		return bytes.Repeat([]byte("x"), 16<<20), nil
	case "alloc":
		var keep [][]byte
		for {
			b := make([]byte, 32<<20)
			for i := range b {
				b[i] = 1
			}
			keep = append(keep, b)
		}
	case "whoami":
		return whoami()
	case "spin":
		for n := 0; ; n++ {
			_ = n
		}
	}
	return req.Batch, nil
}

func main() {
	if v := os.Getenv("FAULTY_PROTOCOL"); v != "" {
		n, _ := strconv.Atoi(v)
		plugin.Serve(&plugin.ServeConfig{
			HandshakeConfig: plugin.HandshakeConfig{
				ProtocolVersion:  uint(n),
				MagicCookieKey:   goplugin.MagicCookieKey,
				MagicCookieValue: goplugin.MagicCookieValue,
			},
			Plugins:    plugin.PluginSet{"plugin": rawPlugin{}},
			GRPCServer: plugin.DefaultGRPCServer,
		})
		return
	}
	if os.Getenv("FAULTY_KIND") == "enricher" {
		goplugin.ServeEnricher(faulty{})
		return
	}
	goplugin.Serve(faulty{})
}

// identity is what mode whoami returns.
type identity struct {
	UID    int               `json:"uid"`
	GID    int               `json:"gid"`
	Groups []int             `json:"groups"`
	Status map[string]string `json:"status"`
	Env    []string          `json:"env"`
}

func whoami() ([]byte, error) {
	groups, err := os.Getgroups()
	if err != nil {
		return nil, err
	}
	id := identity{UID: os.Getuid(), GID: os.Getgid(), Groups: groups, Status: map[string]string{}, Env: os.Environ()}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && (strings.HasPrefix(k, "Cap") || k == "NoNewPrivs") {
			id.Status[k] = strings.TrimSpace(v)
		}
	}
	return json.Marshal(id)
}

// rawPlugin serves the Plugin service without the SDK.
type rawPlugin struct {
	plugin.NetRPCUnsupportedPlugin
}

func (rawPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginpb.RegisterPluginServer(s, &pluginpb.UnimplementedPluginServer{})
	return nil
}

func (rawPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("server only")
}
