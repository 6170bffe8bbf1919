import CoSSigner
import CoSSignerPostgres

extension ServerCounters {
    /// The counters `configuration` asks for: a PostgreSQL database shared by replicas (`--counter-store
    /// postgresql://…`, its password from `--counter-store-password-file` or `PGPASSWORD`), the file store, or
    /// `time`. A database is not connected here: a database that cannot be reached at start leaves the server
    /// running, not ready (`/readyz` 503), and every request that needs a counter answered 503 until it returns; the
    /// store reconnects by itself. Its connection is closed at shutdown, after the last request.
    /// - Throws: ``ServerStartError``: a URL that is not acceptable (exit 1), a password file that is not private or
    ///   cannot be read (exit 3, as `cos-signer` gives).
    public init(configuration: ServerConfiguration) throws(ServerStartError) {
        guard let store = configuration.counterStorePath else {
            self = .time
            return
        }
        guard configuration.usesDatabaseCounterStore else {
            self = .file(store)
            return
        }
        let database: PostgresCounterStore
        do {
            database = try PostgresCounterStore.open(url: store, passwordFile: configuration.counterStorePasswordFile)
        } catch let error as CounterStoreError {
            throw ServerStartError("--counter-store: \(error.description)", exitCode: 1)
        } catch let error as any ClassifiedError {
            throw ServerStartError("--counter-store-password-file: \(error.description)", exitCode: error.failureClass.exitCode)
        } catch {
            throw ServerStartError("--counter-store: \(error)", exitCode: 1)
        }
        self.init(backend: database, onShutdown: { database.disconnect() })
    }
}
