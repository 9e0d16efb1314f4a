package memdiag;

import de.bwaldvogel.mongo.MongoBackend;
import de.bwaldvogel.mongo.MongoServer;
import de.bwaldvogel.mongo.MongoVersion;
import de.bwaldvogel.mongo.backend.h2.H2Backend;
import de.bwaldvogel.mongo.backend.memory.MemoryBackend;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.CountDownLatch;

/**
 * memdiag's embedded mongo-java-server, with the same contract as ferretdb_launcher/main.go.
 *
 * <p>Flags: {@code -listen HOST:PORT} (port 0 picks a free one), {@code -data-dir DIR} (an
 * H2 file there, kept across restarts; without it the memory backend, a fresh empty database),
 * {@code -log-level debug|info|warn|error}, {@code -watch-parent=true|false}. It prints
 * {@code mongodb://HOST:PORT/} as the first stdout line once the listener accepts connections,
 * and stops cleanly (H2 committed and closed) on SIGTERM/SIGINT or when its parent process
 * goes away, so a crashed memdiag never leaves a database behind.
 */
public final class Launcher {

    /** PyMongo 4.x refuses the library's default (MongoDB 3.6, wire 6); 5.0 / wire 13 works. */
    static final MongoVersion REPORTED_VERSION = new MongoVersion() {
        @Override
        public List<Integer> getVersionArray() {
            return List.of(5, 0, 0);
        }

        @Override
        public String toVersionString() {
            return "5.0.0";
        }

        @Override
        public int getWireVersion() {
            return 13;
        }
    };

    private static final String NAME = "mongo-java-launcher";

    private Launcher() {}

    public static void main(String[] argv) {
        Options opts;
        try {
            opts = Options.parse(argv);
        } catch (IllegalArgumentException e) {
            System.err.println(NAME + ": " + e.getMessage());
            System.exit(2);
            return;
        }
        // slf4j-simple reads its level once, when the first logger is made: set it first.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", opts.logLevel);
        System.setProperty("org.slf4j.simpleLogger.logFile", "System.err");
        System.exit(run(opts));
    }

    private static int run(Options opts) {
        MongoBackend backend;
        try {
            backend = openBackend(opts.dataDir);
        } catch (IOException | RuntimeException e) {
            System.err.println(NAME + ": cannot open the database: " + e.getMessage());
            return 1;
        }
        backend.version(REPORTED_VERSION);
        MongoServer server = new MongoServer(backend);
        try {
            server.bind(opts.host, opts.port);
        } catch (Exception e) { // netty rethrows the checked BindException undeclared
            System.err.println(NAME + ": cannot listen on " + opts.host + ":" + opts.port + ": " + e.getMessage());
            backend.close();
            return 1;
        }
        InetSocketAddress bound = server.getLocalAddress();
        try {
            waitAccepting(bound);
        } catch (IOException e) {
            System.err.println(NAME + ": listener " + bound + " never accepted connections: " + e);
            return 1;
        }
        CountDownLatch stopped = new CountDownLatch(1);
        // The JVM runs shutdown hooks on SIGTERM and SIGINT: close the clients, then the
        // backend (H2 commits and closes its file). Registered only now, once we serve, so a
        // start-up failure keeps its own exit code.
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            server.shutdownNow();
            stopped.countDown();
            // SIGTERM is how memdiag stops us: report a clean stop (0), as the Go launcher
            // does, instead of the JVM's 143. halt, because exit() inside a hook deadlocks.
            Runtime.getRuntime().halt(0);
        }, "memdiag-shutdown"));
        if (opts.watchParent) {
            watchParent();
        }
        String host = bound.getAddress().getHostAddress();
        System.out.println("mongodb://" + host + ":" + bound.getPort() + "/");
        System.out.flush();
        try {
            stopped.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return 0;
    }

    private static MongoBackend openBackend(Path dataDir) throws IOException {
        if (dataDir == null) {
            return new MemoryBackend();
        }
        Files.createDirectories(dataDir);
        return new H2Backend(dataDir.resolve("memdiag.mv.db").toString());
    }

    /** Exit (running the shutdown hook) once we are re-parented: the original parent died. */
    private static void watchParent() {
        Optional<Long> parent = ProcessHandle.current().parent().map(ProcessHandle::pid);
        Thread watcher = new Thread(() -> {
            while (true) {
                Optional<Long> now = ProcessHandle.current().parent().map(ProcessHandle::pid);
                if (!now.equals(parent)) {
                    System.err.println(NAME + ": parent process exited; stopping");
                    System.exit(0);
                }
                try {
                    Thread.sleep(500);
                } catch (InterruptedException e) {
                    return;
                }
            }
        }, "memdiag-parent-watch");
        watcher.setDaemon(true);
        watcher.start();
    }

    private static void waitAccepting(InetSocketAddress addr) throws IOException {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (true) {
            try (Socket socket = new Socket()) {
                socket.connect(addr, 1000);
                return;
            } catch (IOException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
            }
            try {
                Thread.sleep(20);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted", e);
            }
        }
    }

    /** The Go flag package's syntax: -name value, -name=value, and --name for either. */
    static final class Options {
        String host = "127.0.0.1";
        int port = 0;
        Path dataDir;
        String logLevel = "warn";
        boolean watchParent = true;

        static Options parse(String[] argv) {
            Options o = new Options();
            for (int i = 0; i < argv.length; i++) {
                String arg = argv[i];
                String name = arg.replaceFirst("^--?", "");
                String value = null;
                int eq = name.indexOf('=');
                if (eq >= 0) {
                    value = name.substring(eq + 1);
                    name = name.substring(0, eq);
                }
                if (name.equals("watch-parent")) {
                    o.watchParent = value == null || Boolean.parseBoolean(value);
                    continue;
                }
                if (name.equals("h") || name.equals("help")) {
                    throw new IllegalArgumentException(
                        "usage: -listen HOST:PORT [-data-dir DIR] [-log-level LEVEL]"
                            + " [-watch-parent=true|false]");
                }
                if (value == null) {
                    if (i + 1 >= argv.length) {
                        throw new IllegalArgumentException("flag needs a value: " + arg);
                    }
                    value = argv[++i];
                }
                switch (name) {
                    case "listen" -> o.setListen(value);
                    case "data-dir" -> o.dataDir = value.isEmpty() ? null : Path.of(value).toAbsolutePath();
                    case "log-level" -> o.setLogLevel(value);
                    default -> throw new IllegalArgumentException("unknown flag: " + arg);
                }
            }
            return o;
        }

        private void setListen(String value) {
            int colon = value.lastIndexOf(':');
            if (colon < 0) {
                throw new IllegalArgumentException("bad -listen " + value + ": want HOST:PORT");
            }
            host = value.substring(0, colon);
            try {
                port = Integer.parseInt(value.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("bad -listen port in " + value);
            }
            if (port < 0 || port > 65535) {
                throw new IllegalArgumentException("bad -listen port in " + value);
            }
        }

        private void setLogLevel(String value) {
            if (!List.of("debug", "info", "warn", "error").contains(value)) {
                throw new IllegalArgumentException("bad -log-level " + value);
            }
            logLevel = value;
        }
    }
}
