// Command ferretdb-launcher runs an embedded FerretDB (SQLite backend) for memdiag.
//
// It exists because `go install .../cmd/ferretdb` panics at start for v1.24, while
// embedding the `ferretdb` package in a module of our own works. The launcher prints
// the MongoDB URI as the first line on stdout once the listener accepts connections,
// and exits cleanly on SIGTERM/SIGINT or when its parent process goes away, so a
// crashed memdiag never leaves a database behind.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	os.Exit(run())
}

func run() int {
	listen := flag.String("listen", "127.0.0.1:0", "TCP address to listen on (port 0 picks a free port)")
	dataDir := flag.String("data-dir", "", "directory for the SQLite files (required)")
	logLevel := flag.String("log-level", "warn", "log level: debug, info, warn or error")
	watchParent := flag.Bool("watch-parent", true, "exit when the parent process exits")
	flag.Parse()

	if *dataDir == "" {
		fmt.Fprintln(os.Stderr, "ferretdb-launcher: -data-dir is required")
		return 2
	}
	abs, err := filepath.Abs(*dataDir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-launcher: bad -data-dir: %v\n", err)
		return 2
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-launcher: cannot create %s: %v\n", abs, err)
		return 2
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-launcher: bad -log-level %q\n", *logLevel)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))

	// The SQLite URL must name a directory and end with a slash.
	sqliteURL := (&url.URL{Scheme: "file", Opaque: abs + "/"}).String()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: sqliteURL,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-launcher: %v\n", err)
		return 1
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if *watchParent {
		parent := os.Getppid()
		go func() {
			for ctx.Err() == nil {
				if os.Getppid() != parent {
					logger.Warn("parent process exited; stopping")
					stop()
					return
				}
				time.Sleep(500 * time.Millisecond)
			}
		}()
	}

	done := make(chan error, 1)
	go func() { done <- f.Run(ctx) }()

	// MongoDBURI blocks until Run has opened the listener.
	uri := f.MongoDBURI()
	parsed, err := url.Parse(uri)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-launcher: unexpected URI %q: %v\n", uri, err)
		return 1
	}
	if err := waitAccepting(ctx, parsed.Host, 30*time.Second); err != nil {
		fmt.Fprintf(os.Stderr, "ferretdb-launcher: %v\n", err)
		return 1
	}
	fmt.Printf("mongodb://%s/\n", parsed.Host)
	_ = os.Stdout.Sync()

	if err := <-done; err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "ferretdb-launcher: %v\n", err)
		return 1
	}
	return 0
}

// waitAccepting dials addr until a TCP connection succeeds.
func waitAccepting(ctx context.Context, addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = conn.Close()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("listener %s never accepted connections: %w", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
