// Package goplugin serves a gadget plugin written in Go as a
// hashicorp/go-plugin subprocess speaking gRPC. A plugin is a small main
// package:
//
//	func main() { goplugin.Serve(myFormatter{}) }
//
// gadget starts the binary, performs the go-plugin handshake (magic cookie
// and protocol version abi.ContractVersion), asks for the manifest once and
// then calls the plugin once per batch of events. The batch is a JSON array
// of the gadget's events (for network-graph, the JSON form of
// gadgets/networkgraph/types.Event); see plugins/sdk/abi.
//
// Run by hand, outside gadget, the binary prints a short explanation and
// exits with status 1. This package imports nothing from gadget's
// framework.
package goplugin

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/gadgetkit/gadget/plugins/sdk/abi"
	"github.com/gadgetkit/gadget/plugins/sdk/goplugin/pluginpb"
)

// The go-plugin handshake: gadget sets the environment variable
// MagicCookieKey to MagicCookieValue when it starts a plugin, and the
// plugin answers with protocol version abi.ContractVersion.
const (
	MagicCookieKey   = "GADGET_PLUGIN_MAGIC_COOKIE"
	MagicCookieValue = "2c2a8d0e6a3c4b1f-gadget-plugin"
)

// MaxRequestSize is the largest request (mostly the encoded batch) a
// plugin served by this package accepts: 256 MiB.
const MaxRequestSize = 256 << 20

// Flow-control window and socket buffer sizes of the gRPC connection
// between gadget and a plugin, set on both ends: a batch is megabytes, and
// gRPC's defaults (64 KiB windows, 32 KiB buffers) make it wait for window
// updates many times over.
const (
	GRPCWindowSize = 8 << 20
	GRPCBufferSize = 1 << 20
)

// Formatter renders a batch of events; implement it and pass it to Serve.
type Formatter interface {
	// Manifest describes the plugin. Its Kind and ContractVersion are
	// filled in by Serve.
	Manifest() abi.Manifest
	// Format renders req.Batch, a JSON array of events. An empty mediaType
	// means the manifest's. A returned error fails this batch only; its
	// message is shown to the user together with the plugin and batch.
	Format(ctx context.Context, req abi.Request) (data []byte, mediaType string, err error)
}

// Enricher changes a batch of events; implement it and pass it to
// ServeEnricher.
type Enricher interface {
	// Manifest describes the plugin. Its Kind and ContractVersion are
	// filled in by ServeEnricher.
	Manifest() abi.Manifest
	// Enrich returns the enriched batch, a JSON array of events: req.Batch
	// with fields added or changed, or events dropped. A returned error
	// fails this batch only.
	Enrich(ctx context.Context, req abi.Request) (batch []byte, err error)
}

// Serve serves f until gadget stops the plugin. It never returns normally;
// run outside gadget (without the handshake cookie) it exits with status 1.
func Serve(f Formatter) {
	serve(&server{formatter: f, manifest: fill(f.Manifest(), abi.KindFormatter)})
}

// ServeEnricher serves e until gadget stops the plugin, like Serve.
func ServeEnricher(e Enricher) {
	serve(&server{enricher: e, manifest: fill(e.Manifest(), abi.KindEnricher)})
}

func fill(m abi.Manifest, k abi.Kind) abi.Manifest {
	m.Kind = k
	m.ContractVersion = abi.ContractVersion
	return m
}

func serve(s *server) {
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig: plugin.HandshakeConfig{
			ProtocolVersion:  abi.ContractVersion,
			MagicCookieKey:   MagicCookieKey,
			MagicCookieValue: MagicCookieValue,
		},
		Plugins: plugin.PluginSet{"plugin": &grpcPlugin{srv: s}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts,
				grpc.MaxRecvMsgSize(MaxRequestSize),
				grpc.InitialWindowSize(GRPCWindowSize),
				grpc.InitialConnWindowSize(GRPCWindowSize),
				grpc.ReadBufferSize(GRPCBufferSize),
				grpc.WriteBufferSize(GRPCBufferSize),
			)...)
		},
	})
}

// grpcPlugin registers the server with go-plugin's gRPC server.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv *server
}

func (p *grpcPlugin) GRPCServer(_ *plugin.GRPCBroker, s *grpc.Server) error {
	pluginpb.RegisterPluginServer(s, p.srv)
	return nil
}

func (p *grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, fmt.Errorf("the gadget plugin SDK serves plugins only")
}

// server implements the Plugin gRPC service on top of a Formatter or an
// Enricher.
type server struct {
	pluginpb.UnimplementedPluginServer
	manifest  abi.Manifest
	formatter Formatter
	enricher  Enricher
}

func (s *server) GetManifest(context.Context, *pluginpb.ManifestRequest) (*pluginpb.Manifest, error) {
	m := s.manifest
	return &pluginpb.Manifest{
		Name:            m.Name,
		Kind:            string(m.Kind),
		ContractVersion: int32(m.ContractVersion),
		MediaType:       m.MediaType,
		Description:     m.Description,
		Streaming:       m.Streaming,
	}, nil
}

func (s *server) Call(ctx context.Context, in *pluginpb.Request) (resp *pluginpb.Response, _ error) {
	req := abi.Request{
		ContractVersion: int(in.GetContractVersion()),
		Kind:            abi.Kind(in.GetKind()),
		Gadget:          in.GetGadget(),
		Sequence:        in.GetSequence(),
		Final:           in.GetFinal(),
		Batch:           abi.RawJSON(in.GetBatch()),
		Parameters:      in.GetParameters(),
	}
	if req.Kind != s.manifest.Kind {
		return &pluginpb.Response{Error: fmt.Sprintf("plugin %s is a %s; called for kind %q", s.manifest.Name, s.manifest.Kind, req.Kind)}, nil
	}
	// A panic fails this batch only; the plugin keeps serving.
	defer func() {
		if r := recover(); r != nil {
			// The stack goes to stderr, which gadget logs.
			fmt.Fprintf(os.Stderr, "panic in batch %d: %v\n%s", req.Sequence, r, debug.Stack())
			resp = &pluginpb.Response{Error: fmt.Sprintf("plugin panicked: %v", r)}
		}
	}()
	if s.formatter != nil {
		data, mediaType, err := s.formatter.Format(ctx, req)
		if err != nil {
			return &pluginpb.Response{Error: err.Error()}, nil
		}
		if mediaType == "" {
			mediaType = s.manifest.MediaType
		}
		return &pluginpb.Response{Data: data, MediaType: mediaType}, nil
	}
	batch, err := s.enricher.Enrich(ctx, req)
	if err != nil {
		return &pluginpb.Response{Error: err.Error()}, nil
	}
	return &pluginpb.Response{Batch: batch}, nil
}
