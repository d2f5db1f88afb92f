package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/manager"
)

// addDebugFlag registers --debug-bind-address, the opt-in profiling
// endpoint, into *addr.
func addDebugFlag(fs *flag.FlagSet, addr *string) {
	fs.StringVar(addr, "debug-bind-address", "",
		"address of Go's profiling endpoints (/debug/pprof/: goroutines, heap, CPU), unauthenticated: loopback only, "+
			"e.g. 127.0.0.1:9443 (make soak reads the goroutines and the heap after a GC there); empty or 0 disables it")
}

// checkDebugAddr refuses a --debug-bind-address that is not on loopback:
// the profiles tell a lot about the node and cost CPU to take.
func checkDebugAddr(addr string) error {
	if addr == "0" || addr == "" {
		return nil
	}
	loopback, err := onLoopback(addr)
	if err != nil {
		return usageError{fmt.Errorf("--debug-bind-address %q: want HOST:PORT on loopback, e.g. 127.0.0.1:9443: %w", addr, err)}
	}
	if !loopback {
		return usageError{fmt.Errorf("--debug-bind-address %q: the profiling endpoint is unauthenticated: use a loopback address, e.g. 127.0.0.1:9443", addr)}
	}
	return nil
}

// onLoopback reports whether the listen address addr (HOST:PORT) is on
// loopback: localhost or a loopback IP; ":PORT" listens everywhere.
func onLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, err
	}
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback()), nil
}

// debugHandler serves Go's profiles under /debug/pprof/.
func debugHandler() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// addDebugServer serves Go's profiling endpoints on addr for as long as
// mgr runs; addr "0" or empty adds nothing.
func addDebugServer(mgr manager.Manager, addr string, log *slog.Logger) error {
	if addr == "0" || addr == "" {
		return nil
	}
	mux := debugHandler()
	err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("debug server: %w", err)
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		log.Info("debug server listening", "address", l.Addr().String())
		errc := make(chan error, 1)
		go func() { errc <- srv.Serve(l) }()
		select {
		case err := <-errc:
			return fmt.Errorf("debug server on %s: %w", addr, err)
		case <-ctx.Done():
		}
		shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(shutCtx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("debug server shutdown: %w", err)
		}
		return nil
	}))
	if err != nil {
		return fmt.Errorf("debug server: %w", err)
	}
	return nil
}
