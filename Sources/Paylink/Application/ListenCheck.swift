import Foundation
import NIOCore
import NIOPosix

/// Opens and closes each listener `serve` is about to open, before anything else starts: a
/// port in use (or a host that is not this machine's) is then reported with the setting that
/// chose it, and before a first run prints its bootstrap key, instead of as NIO's bare
/// `bind(descriptor:ptr:bytes:): Address already in use` once the services are up. The
/// server's own bind still decides; this only gives the common failure a useful message.
public enum ListenCheck {
    public struct Listener: Sendable {
        let host: String
        let port: Int
        /// The setting that chose the port, as `--flag`/`PAYLINK_NAME` say it.
        let setting: String
        let name: String
    }

    /// Paylink's listener and the embedded sandbox PSP's, which runs unless `pspPort` is 0 or
    /// `pspUrl` names another PSP.
    public static func listeners(of configuration: PaylinkConfiguration) -> [Listener] {
        var listeners = [Listener(host: configuration.host, port: configuration.port, setting: "--port/PAYLINK_PORT", name: "Paylink")]
        if configuration.pspPort != 0 && configuration.pspURL == nil {
            listeners.append(
                Listener(host: configuration.host, port: configuration.pspPort, setting: "--psp-port/PAYLINK_PSP_PORT", name: "the sandbox PSP"))
        }
        return listeners
    }

    public static func check(_ listeners: [Listener]) async throws(ConfigurationError) {
        for listener in listeners {
            do {
                let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
                    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                    .bind(host: listener.host, port: listener.port).get()
                try? await channel.close()
            } catch {
                let reason = (error as? IOError).map { String(cString: strerror($0.errnoCode)) } ?? "\(error)"
                throw ConfigurationError.invalid(
                    "\(listener.name) cannot listen on \(listener.host):\(listener.port) (\(listener.setting)): \(reason)")
            }
        }
    }
}
