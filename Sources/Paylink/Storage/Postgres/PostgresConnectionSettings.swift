import Foundation
import Logging
import NIOCore
import NIOSSL
import PostgresNIO

/// `PAYLINK_DATABASE_URL` taken apart: `postgres://user:pass@host:port/db?sslmode=…`, with
/// libpq's meaning of `sslmode` (prefer and require encrypt without verifying the server;
/// verify-ca and verify-full verify it).
struct ConnectionSettings: Sendable {
    enum Encryption: Sendable { case disable, prefer, require }

    let host: String
    let port: Int
    let username: String
    let password: String?
    let database: String?
    let encryption: Encryption
    let tlsConfiguration: TLSConfiguration

    init(url: String) throws {
        guard let components = URLComponents(string: url), ["postgres", "postgresql"].contains(components.scheme ?? ""),
            let host = components.host, !host.isEmpty
        else { throw ConfigurationError.invalid("databaseUrl must look like postgres://user:password@host:5432/database") }
        var tlsConfiguration = TLSConfiguration.makeClientConfiguration()
        switch components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "prefer" {
        case "disable": encryption = .disable
        case "prefer", "allow":
            tlsConfiguration.certificateVerification = .none
            encryption = .prefer
        case "require":
            tlsConfiguration.certificateVerification = .none
            encryption = .require
        case "verify-ca", "verify-full": encryption = .require
        default: throw ConfigurationError.invalid("sslmode must be disable, prefer, require, verify-ca or verify-full")
        }
        let path = components.path
        let database = path.hasPrefix("/") ? String(path.dropFirst()) : path
        self.host = host
        self.port = components.port ?? 5432
        self.username = components.user ?? "postgres"
        self.password = components.password  // already percent-decoded; decoding again would spoil a literal "%41"
        self.database = database.isEmpty ? nil : database
        self.tlsConfiguration = tlsConfiguration
    }

    var clientTLS: PostgresClient.Configuration.TLS {
        switch encryption {
        case .disable: .disable
        case .prefer: .prefer(tlsConfiguration)
        case .require: .require(tlsConfiguration)
        }
    }

    /// The same server and credentials for one connection of its own.
    func connectionConfiguration(connectTimeout: Duration) throws -> PostgresConnection.Configuration {
        let tls: PostgresConnection.Configuration.TLS
        switch encryption {
        case .disable: tls = .disable
        case .prefer: tls = .prefer(try NIOSSLContext(configuration: tlsConfiguration))
        case .require: tls = .require(try NIOSSLContext(configuration: tlsConfiguration))
        }
        var configuration = PostgresConnection.Configuration(
            host: host, port: port, username: username, password: password, database: database, tls: tls)
        configuration.options.connectTimeout = TimeAmount(connectTimeout)
        return configuration
    }
}

extension PostgresStore {
    /// Why a connection cannot be made right now, in PostgreSQL's words (a refused password, an
    /// unknown database, `sslmode`) or the network's; nil if one can. The pool only logs this,
    /// so an operator running `paylink migrate` against a wrong URL would otherwise see a bare
    /// timeout. Never includes the password: PostgreSQL's messages name the user, not the secret.
    func connectionProblem() async -> String? {
        do {
            let connection = try await PostgresConnection.connect(
                configuration: try settings.connectionConfiguration(connectTimeout: timeout), id: 0, logger: logger)
            try? await connection.close()
            return nil
        } catch let error as PSQLError {
            if let message = error.serverInfo?[.message] {
                let state = error.serverInfo?[.sqlState].map { " (SQLSTATE \($0))" } ?? ""
                return "PostgreSQL said: \(message)\(state)"
            }
            if error.code == .sslUnsupported { return "the server does not offer TLS, which this sslmode requires" }
            if let underlying = error.underlying { return "\(error.code): \(underlying)" }
            return "\(error.code)"
        } catch {
            return String(describing: error)
        }
    }
}
